//! An app's `on_change` hook in the state: due while the vars version it last
//! succeeded for is below the app's (bumped in the transaction that changes the vars, so
//! a crash leaves it due), claimed by one tick at a time, and its runs kept. The rules
//! are here, once for both backends, which only read and write the columns
//! ([`HookRow`]) under the app row's lock.

use std::time::Duration;

use super::backend::{HookRow, HookRun, NewEvent};
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

/// What the state says of an app's hook, for `addons hooks` and `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookStatus {
    /// Bumped by every change of the app's vars.
    pub vars_version: i64,
    /// The vars version the hook last succeeded for.
    pub hook_version: i64,
    /// Failed runs for the current vars (a change of them starts the count again).
    pub attempts: u32,
    /// When a failed hook is tried next; `None`: as soon as it is due.
    pub due_at: Option<i64>,
}

impl HookRow {
    /// Failed runs that count: those for the current vars.
    pub fn attempts(&self) -> u32 {
        if self.failed_version == Some(self.vars_version) {
            self.attempts
        } else {
            0
        }
    }

    /// When a failed hook is tried next, if its failures still count.
    pub fn next_try(&self) -> Option<i64> {
        if self.attempts() > 0 {
            self.due_at
        } else {
            None
        }
    }

    /// Whether a tick may claim the hook now: the vars moved past its last success, the
    /// backoff of failures for these vars has run out, and no live claim holds it.
    pub fn claimable(&self) -> bool {
        self.hook_version < self.vars_version
            && self.next_try().is_none_or(|at| at <= self.now)
            && self.claim_until.is_none_or(|until| until < self.now)
    }

    /// The row once `token` holds the hook for `lease`.
    pub fn claimed(&self, token: &str, lease: Duration) -> HookRow {
        HookRow {
            claim: Some(token.to_string()),
            claim_until: Some(self.now + lease.as_millis() as i64),
            ..self.clone()
        }
    }

    /// The row with `token`'s claim (if it holds one) given up.
    pub fn released(&self, token: &str) -> HookRow {
        if self.claim.as_deref() == Some(token) {
            HookRow { claim: None, claim_until: None, ..self.clone() }
        } else {
            self.clone()
        }
    }

    /// The row after `run` ended: a success raises `hook_version` to the vars it ran
    /// with; a failure counts an attempt for those vars and tries again at `retry_at`
    /// (unless the vars changed meanwhile: they are due at once, counted afresh).
    /// `token`'s claim is given up either way.
    pub fn after_run(&self, run: &HookRun, token: &str, retry_at: i64) -> HookRow {
        let mut row = self.released(token);
        if run.result == "ok" {
            row.hook_version = row.hook_version.max(run.vars_version);
            row.attempts = 0;
            row.failed_version = None;
            row.due_at = None;
        } else if run.vars_version >= row.vars_version {
            row.attempts = self.attempts() + 1;
            row.failed_version = Some(row.vars_version);
            row.due_at = Some(retry_at);
        }
        row
    }

    pub fn status(&self) -> HookStatus {
        HookStatus {
            vars_version: self.vars_version,
            hook_version: self.hook_version,
            attempts: self.attempts(),
            due_at: self.next_try(),
        }
    }
}

impl Store {
    /// Claims the app's hook when it is due and free, and reads the vars it runs
    /// with, in one transaction: `None` when it is not due or another tick holds it.
    pub fn claim_hook(&mut self, app: &str, token: &str, lease: Duration) -> anyhow::Result<Option<ClaimedHook>> {
        self.write(|tx| {
            let Some(row) = tx.hook_row(app)?.filter(HookRow::claimable) else { return Ok(None) };
            tx.put_hook_row(app, &row.claimed(token, lease))?;
            let (vars_version, attempts) = (row.vars_version, row.attempts());
            Ok(Some(ClaimedHook { app: app.to_string(), vars_version, vars: tx.vars(app)?, attempts }))
        })
    }

    /// Gives up a claimed hook without running it (a stop was asked).
    pub fn release_hook_claim(&mut self, app: &str, token: &str) -> anyhow::Result<()> {
        self.write(|tx| {
            if let Some(row) = tx.hook_row(app)? {
                tx.put_hook_row(app, &row.released(token))?;
            }
            Ok(())
        })
    }

    /// Records a run of a claimed hook and what it did to the hook ([`HookRow::after_run`]),
    /// and a [`HOOK`] event on each live addon of the app, in one transaction.
    pub fn finish_hook(&mut self, run: &HookRun, token: &str, retry_at: i64, summary: &str) -> anyhow::Result<()> {
        self.write(|tx| {
            if let Some(row) = tx.hook_row(&run.app)? {
                tx.put_hook_row(&run.app, &row.after_run(run, token, retry_at))?;
            }
            tx.add_hook_run(run, HOOK_RUNS_KEPT)?;
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
        self.read(|tx| Ok(tx.hook_row(app)?.map(|row| row.status())))
    }

    /// The app's recorded hook runs, newest first.
    pub fn hook_runs(&self, app: &str) -> anyhow::Result<Vec<HookRun>> {
        self.read(|tx| tx.hook_runs(app))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(vars_version: i64) -> HookRow {
        HookRow {
            vars_version,
            hook_version: 0,
            attempts: 0,
            failed_version: None,
            due_at: None,
            claim: None,
            claim_until: None,
            now: 1_000,
        }
    }

    fn run(vars_version: i64, result: &str) -> HookRun {
        HookRun {
            app: "web".into(),
            vars_version,
            started_at: 0,
            finished_at: 0,
            result: result.into(),
            exit_status: None,
            output: String::new(),
        }
    }

    #[test]
    fn failures_back_off_for_their_vars_and_a_change_starts_afresh() {
        let claimed = row(1).claimed("tick", Duration::from_secs(60));
        assert!(!claimed.claimable(), "held by a live claim");
        let failed = claimed.after_run(&run(1, "failed"), "tick", 5_000);
        assert_eq!((failed.attempts(), failed.next_try(), failed.claim.as_deref()), (1, Some(5_000), None));
        assert!(!failed.claimable(), "tried again before its backoff");
        let failed = HookRow { now: 5_000, ..failed }.after_run(&run(1, "failed"), "other", 9_000);
        assert_eq!(failed.attempts(), 2);
        // The vars change (only `vars_version` moves): due at once, nothing counted.
        let changed = HookRow { vars_version: 2, ..failed.clone() };
        assert!(changed.claimable());
        assert_eq!(changed.status(), HookStatus { vars_version: 2, hook_version: 0, attempts: 0, due_at: None });
        // A run of the old vars that fails after the change counts nothing either.
        let late = changed.after_run(&run(1, "failed"), "tick", 20_000);
        assert_eq!((late.attempts(), late.next_try()), (0, None));
        // A success covers the vars it ran with, not later ones.
        let ok = late.after_run(&run(1, "ok"), "tick", 0);
        assert_eq!(ok.hook_version, 1);
        assert!(ok.claimable(), "vars version 2 is still to run");
    }

    #[test]
    fn a_claim_is_given_up_only_by_its_holder() {
        let held = row(1).claimed("tick", Duration::from_secs(60));
        assert_eq!(held.released("other"), held);
        assert_eq!(held.released("tick").claim, None);
        let expired = HookRow { now: held.claim_until.unwrap() + 1, ..held };
        assert!(expired.claimable(), "a claim that ran out holds nothing");
    }
}
