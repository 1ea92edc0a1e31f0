//! An app's `on_change` hook in the state: due while the vars version it last
//! succeeded for is below the app's (both bumped in the transaction that changes the
//! vars, so a crash leaves it due), claimed by one tick at a time, and its runs kept.

use std::time::Duration;

use super::backend::{HookRun, HookStatus, NewEvent};
use super::base::Store;
use crate::addon::ConfigVar;

/// The event name of a hook run, recorded on each live addon of the app (`addons log`).
pub const HOOK: &str = "hook";

/// How many runs of each app's hook the state keeps.
pub const HOOK_RUNS_KEPT: usize = 20;

/// A hook this process holds the claim on, with the vars it runs with.
#[derive(Debug, Clone)]
pub struct ClaimedHook {
    pub app: String,
    /// The version of `vars`, which the run is recorded for.
    pub vars_version: i64,
    pub vars: Vec<ConfigVar>,
    /// Failed runs before this one (since the last success or change).
    pub attempts: u32,
}

impl Store {
    /// Claims the app's hook when it is due and free, and reads the vars it runs
    /// with, in one transaction: `None` when it is not due or another tick holds it.
    pub fn claim_hook(&mut self, app: &str, token: &str, lease: Duration) -> anyhow::Result<Option<ClaimedHook>> {
        self.write(|tx| {
            if !tx.claim_hook(app, token, lease)? {
                return Ok(None);
            }
            let status = tx.hook_status(app)?;
            let (vars_version, attempts) = status.map_or((0, 0), |s| (s.vars_version, s.attempts));
            Ok(Some(ClaimedHook { app: app.to_string(), vars_version, vars: tx.vars(app)?, attempts }))
        })
    }

    /// Gives up a claimed hook without running it (a stop was asked).
    pub fn release_hook_claim(&mut self, app: &str, token: &str) -> anyhow::Result<()> {
        self.write(|tx| Ok(tx.release_hook_claim(app, token)?))
    }

    /// Records a run of a claimed hook (see [`super::backend::Txn::record_hook_run`]),
    /// and a [`HOOK`] event on each live addon of the app, in one transaction.
    pub fn finish_hook(&mut self, run: &HookRun, token: &str, retry_at: i64, summary: &str) -> anyhow::Result<()> {
        self.write(|tx| {
            tx.record_hook_run(run, token, retry_at, HOOK_RUNS_KEPT)?;
            for addon in tx.list_addons(Some(&run.app), false)? {
                tx.record_event(&NewEvent {
                    addon_id: &addon.id,
                    at: run.finished_at,
                    from: Some(addon.state),
                    to: addon.state,
                    event: HOOK,
                    message: summary,
                })?;
            }
            Ok(())
        })
    }

    /// The app's hook counters; `None` for an app the state does not know.
    pub fn hook_status(&self, app: &str) -> anyhow::Result<Option<HookStatus>> {
        self.read(|tx| tx.hook_status(app))
    }

    /// The app's recorded hook runs, newest first.
    pub fn hook_runs(&self, app: &str) -> anyhow::Result<Vec<HookRun>> {
        self.read(|tx| tx.hook_runs(app))
    }
}
