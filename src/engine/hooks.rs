//! The apps' `on_change` hooks in a tick (and after a command that changed vars):
//! each due hook claimed, run with the app's vars, and its result recorded, a failed
//! one retried with backoff. Hooks run side by side, after the addons' steps, and hold
//! no transaction: one app's slow or failing hook is that app's alone.

use std::time::Duration;

use super::base::Engine;
use super::step::backoff;
use crate::clock::Clock;
use crate::envfile::Apps;
use crate::hook::{self, Ending};
use crate::masking::Secrets;
use crate::store::{ClaimedHook, HookRun, Store};

/// What one hook run did, for the command that ran it to report.
#[derive(Debug, Clone)]
pub struct HookReport {
    pub app: String,
    /// The vars version it ran with.
    pub vars_version: i64,
    pub ending: Ending,
    /// Failed runs for this change before this one.
    pub attempts_before: u32,
    /// The recorded summary: "on_change hook ran for vars version 3: exit 0".
    pub summary: String,
}

impl HookReport {
    pub fn succeeded(&self) -> bool {
        self.ending.succeeded()
    }
}

impl Engine {
    /// Runs the due hooks of the chosen apps that have `on_change` set. An app whose
    /// env file is configured but behind its vars waits (its hook would read the old
    /// file); the next tick runs it once the file is written.
    pub fn run_hooks(&self, store: &mut Store, apps: Apps<'_>) -> anyhow::Result<Vec<HookReport>> {
        let mut claimed = Vec::new();
        for (app, settings) in &self.settings.apps {
            let Some(command) = &settings.on_change else { continue };
            if matches!(apps, Apps::These(chosen) if !chosen.contains(app)) || self.stopping() {
                continue;
            }
            if settings.env_file.is_some() && store.env_file_behind(app)?.is_some() {
                continue;
            }
            if let Some(hook) = store.claim_hook(app, &self.token, self.hook_lease())? {
                claimed.push((hook, command.as_str()));
            }
        }
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        crate::failpoint!("before-hook-run");
        let timeout = self.settings.engine.hook_timeout;
        // A run's times and a failed run's next try are written on the state's clock.
        let clock = store.clock()?;
        let runs: Vec<(HookRun, Ending)> = std::thread::scope(|scope| {
            let running: Vec<_> = claimed
                .iter()
                .map(|(hook, command)| scope.spawn(move || run_one(hook, command, timeout, &clock)))
                .collect();
            running.into_iter().map(|run| run.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
        });
        crate::failpoint!("after-hook-run");
        let mut reports = Vec::new();
        for ((hook, _), (run, ending)) in claimed.iter().zip(runs) {
            let summary =
                format!("on_change hook ran for vars version {}: {}", run.vars_version, ending.describe(timeout));
            let retry_at = clock.after(backoff(hook.attempts));
            store.finish_hook(&run, &self.token, retry_at, &summary)?;
            reports.push(HookReport {
                app: hook.app.clone(),
                vars_version: run.vars_version,
                ending,
                attempts_before: hook.attempts,
                summary,
            });
        }
        Ok(reports)
    }

    /// How long a hook's claim lasts: past its timeout, so a hook still running is
    /// never taken over by another tick.
    fn hook_lease(&self) -> Duration {
        self.lease().max(self.settings.engine.hook_timeout + Duration::from_secs(60))
    }
}

/// Runs one claimed hook and makes its record, its times on `clock`.
fn run_one(hook: &ClaimedHook, command: &str, timeout: Duration, clock: &Clock) -> (HookRun, Ending) {
    let started_at = clock.now_ms();
    let vars: Vec<(String, String)> = hook.vars.iter().map(|var| (var.key.clone(), var.value.clone())).collect();
    let secrets = Secrets::new(hook.vars.iter().map(|var| var.value.as_str()));
    let finished = hook::run(command, &vars, timeout, &secrets);
    let run = HookRun {
        app: hook.app.clone(),
        vars_version: hook.vars_version,
        started_at,
        finished_at: clock.now_ms(),
        result: finished.ending.result().to_string(),
        exit_status: finished.ending.exit_status(),
        output: finished.output,
    };
    (run, finished.ending)
}
