//! tick, watch and wait: claims due addons, runs one step of each through its
//! provider, and commits the result through the state machine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::addon::Addon;
use crate::config::Settings;
use crate::error::Failure;
use crate::machine::{Event, Task};
use crate::providers::{self, Environment, Provider, ProviderError, Readiness};
use crate::store::{now_ms, Apply, Outcome, Store};

/// How many addons one claim takes at a time.
const CLAIM_BATCH: usize = 16;
/// The first retry after a transient failure waits about this long; each failure doubles it.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// How often a sleeping `watch` or `wait` looks for work added by other processes.
const RECHECK: Duration = Duration::from_secs(5);
/// No retry waits longer than this.
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub transitions: Vec<Outcome>,
    /// Addons (of those asked about) with a task still to run.
    pub pending: usize,
}

/// Runs steps. One per process: it holds the claim token and the built providers.
pub struct Engine {
    settings: Settings,
    env: Environment,
    token: String,
    providers: Mutex<HashMap<String, Arc<dyn Provider>>>,
    /// Set by SIGINT/SIGTERM: no new step starts once it is.
    stop: Arc<AtomicBool>,
}

impl Engine {
    pub fn new(settings: Settings, env: Environment, stop: Arc<AtomicBool>) -> Engine {
        Engine { settings, env, token: claim_token(), providers: Mutex::new(HashMap::new()), stop }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// This process's claim token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The settings the engine runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A built provider, made once per process.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, String> {
        let mut built = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(provider) = built.get(name) {
            return Ok(provider.clone());
        }
        let provider: Arc<dyn Provider> = providers::build(name, &self.settings, &self.env)?.into();
        built.insert(name.to_string(), provider.clone());
        Ok(provider)
    }

    /// Puts a provider in place of the one the settings would build: for embedding
    /// `addons`, and for tests that wrap a real provider to inject a failure.
    pub fn use_provider(&self, name: &str, provider: Arc<dyn Provider>) {
        self.providers.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), provider);
    }

    /// When a claim taken now runs out.
    pub fn claim_until(&self) -> i64 {
        now_ms() + self.settings.engine.claim_timeout.as_millis() as i64
    }

    /// One pass: every due addon (of `only`, when given) advances at most one step.
    /// `on_transition` sees each recorded transition as it happens.
    pub fn tick(
        &self,
        store: &mut Store,
        jobs: usize,
        only: Option<&[String]>,
        on_transition: &(dyn Fn(&Outcome) + Sync),
    ) -> anyhow::Result<TickReport> {
        store.expire_dead_claims(is_dead_holder)?;
        crate::envfile::sync(store, &self.settings)?;
        // Anything a step reschedules is due after this, so no addon moves twice in one pass.
        let due_by = now_ms() - 1;
        let transitions = Mutex::new(Vec::new());
        let record = |outcome: Outcome| {
            on_transition(&outcome);
            transitions.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
        };
        // No more workers than addons asked about.
        let jobs = only.map_or(jobs, |only| jobs.min(only.len()));
        if jobs <= 1 {
            while !self.stopping() {
                let batch = store.claim_due(&self.token, due_by, self.claim_until(), CLAIM_BATCH, only)?;
                if batch.is_empty() {
                    break;
                }
                self.run_batch(store, batch, &record)?;
            }
        } else {
            self.run_parallel(store, jobs, due_by, only, &record)?;
        }
        crate::envfile::sync(store, &self.settings)?;
        let pending = store.pending_count(only)?;
        Ok(TickReport { transitions: transitions.into_inner().unwrap_or_default(), pending })
    }

    fn run_batch(&self, store: &mut Store, batch: Vec<Addon>, record: &dyn Fn(Outcome)) -> anyhow::Result<()> {
        let mut batch = batch.into_iter();
        while let Some(addon) = batch.next() {
            if self.stopping() {
                store.release_claim(&addon.id, &self.token)?;
                continue;
            }
            match self.step(store, addon) {
                Ok(Some(outcome)) => record(outcome),
                Ok(None) => {}
                Err(err) => {
                    for rest in batch {
                        let _ = store.release_claim(&rest.id, &self.token);
                    }
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    fn run_parallel(
        &self,
        store: &mut Store,
        jobs: usize,
        due_by: i64,
        only: Option<&[String]>,
        record: &(dyn Fn(Outcome) + Sync),
    ) -> anyhow::Result<()> {
        // Opened here with `reopen`, not `Store::open`: see `Store::reopen` for why.
        let connections = (0..jobs).map(|_| store.reopen()).collect::<anyhow::Result<Vec<Store>>>()?;
        let queue: &Mutex<(VecDeque<Addon>, bool)> = &Mutex::new((VecDeque::new(), false));
        let failed = &AtomicBool::new(false);
        let result = std::thread::scope(|scope| {
            let workers: Vec<_> = connections
                .into_iter()
                .map(|mut own| {
                    scope.spawn(move || -> anyhow::Result<()> {
                        loop {
                            if failed.load(Ordering::Relaxed) || self.stopping() {
                                return Ok(());
                            }
                            let next = {
                                let mut guard = queue.lock().unwrap_or_else(|e| e.into_inner());
                                let (pending, exhausted) = &mut *guard;
                                if pending.is_empty() && !*exhausted {
                                    let batch =
                                        own.claim_due(&self.token, due_by, self.claim_until(), CLAIM_BATCH, only)?;
                                    *exhausted = batch.is_empty();
                                    pending.extend(batch);
                                }
                                pending.pop_front()
                            };
                            let Some(addon) = next else { return Ok(()) };
                            match self.step(&mut own, addon) {
                                Ok(Some(outcome)) => record(outcome),
                                Ok(None) => {}
                                Err(err) => {
                                    failed.store(true, Ordering::Relaxed);
                                    return Err(err);
                                }
                            }
                        }
                    })
                })
                .collect();
            let mut first_error = None;
            for worker in workers {
                match worker.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => first_error = first_error.or(Some(err)),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            first_error.map_or(Ok(()), Err)
        });
        let leftover = std::mem::take(&mut queue.lock().unwrap_or_else(|e| e.into_inner()).0);
        for addon in leftover {
            let _ = store.release_claim(&addon.id, &self.token);
        }
        result
    }

    /// Runs the task of one claimed addon and commits what it found.
    fn step(&self, store: &mut Store, addon: Addon) -> anyhow::Result<Option<Outcome>> {
        let apply = match addon.state.task() {
            None => {
                store.release_claim(&addon.id, &self.token)?;
                return Ok(None);
            }
            Some(Task::CheckProvision) => self.check_provision(store, &addon)?,
            Some(Task::SetConfigVars) => Apply::Transition {
                event: Event::ConfigVarsSet,
                message: format!("config vars set on app {}: {}", addon.app, addon.vars.join(", ")),
                config: None,
            },
            Some(Task::Cleanup) => self.cleanup(&addon),
        };
        crate::failpoint!("before-step-commit");
        match store.finish_step(&addon, &self.token, apply) {
            Ok(outcome) => Ok(outcome),
            Err(err) if err.downcast_ref::<Failure>().is_some_and(|f| matches!(f, Failure::Store(_))) => Err(err),
            Err(err) => {
                let message = format!("{err:#}");
                store.finish_step(&addon, &self.token, fail(message))
            }
        }
    }

    /// Called by `provision` right after creating the addon under this engine's claim:
    /// starts provisioning, then hands the addon over to ticks. A transient failure
    /// is left for a tick to retry; a permanent one ends the addon in error.
    pub fn begin(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<Option<Outcome>> {
        crate::failpoint!("after-addon-insert");
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => return store.finish_step(addon, &self.token, fail(message)),
        };
        crate::provider_call!("begin_provision", &addon.id);
        match provider.begin_provision(addon.resource()) {
            Ok(message) => {
                crate::failpoint!("after-begin-provision");
                store.mark_begun(&addon.id, &self.token, &message)?;
                store.release_claim(&addon.id, &self.token)?;
                Ok(None)
            }
            Err(err) => store.finish_step(addon, &self.token, self.on_error(addon, err, true)),
        }
    }

    /// The `waiting_for_provision` task: begin (again, after a crash), ask whether
    /// provisioning is complete, and fetch the config when it is.
    fn check_provision(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<Apply> {
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            // The config may be back by the next tick; the deadline still applies.
            Err(message) => return Ok(self.on_error(addon, ProviderError::Transient(message), true)),
        };
        let resource = addon.resource();
        if !addon.begun {
            crate::provider_call!("begin_provision", &addon.id);
            match provider.begin_provision(resource) {
                Ok(message) => {
                    crate::failpoint!("after-begin-provision");
                    store.mark_begun(&addon.id, &self.token, &message)?;
                }
                Err(err) => return Ok(self.on_error(addon, err, true)),
            }
        }
        crate::provider_call!("provision_complete", &addon.id);
        let apply = match provider.provision_complete(resource) {
            Ok(Readiness::Ready) => self.fetch_config(&*provider, addon),
            Ok(Readiness::NotReady { retry_after }) => {
                let due_at = now_ms() + retry_after.as_millis() as i64;
                if due_at > addon.deadline_at {
                    fail(format!(
                        "not ready within the provision timeout ({}); raise engine.provision_timeout if the server is slow",
                        humantime::format_duration(self.settings.engine.provision_timeout)
                    ))
                } else {
                    Apply::Retry { due_at, message: "waiting for the provider".into(), failed: false }
                }
            }
            Err(err) => self.on_error(addon, err, true),
        };
        Ok(apply)
    }

    /// Fetches and checks the config of a resource that is ready.
    fn fetch_config(&self, provider: &dyn Provider, addon: &Addon) -> Apply {
        crate::provider_call!("get_config", &addon.id);
        match provider.get_config(addon.resource()) {
            Ok(config) => match check_config(addon, config) {
                Ok(config) => Apply::Transition {
                    event: Event::ProvisionComplete,
                    message: "provisioned".into(),
                    config: Some(config),
                },
                Err(message) => fail(message),
            },
            Err(err) => self.on_error(addon, err, true),
        }
    }

    /// The terminal states' task: tell the provider to remove the resource.
    fn cleanup(&self, addon: &Addon) -> Apply {
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => return self.on_error(addon, ProviderError::Transient(message), false),
        };
        crate::provider_call!("deprovision", &addon.id);
        match provider.deprovision(addon.resource()) {
            Ok(message) => {
                crate::failpoint!("after-deprovision");
                let message = match addon.state {
                    crate::machine::State::Error => format!("orphan cleanup: {message}"),
                    _ => message,
                };
                Apply::CleanupDone { message }
            }
            Err(err) => self.on_error(addon, err, false),
        }
    }

    /// Sorts a provider error: a transient one is retried with backoff (until the
    /// provision deadline while provisioning); a permanent one ends provisioning in
    /// error. Cleanup is retried with backoff whatever the error.
    fn on_error(&self, addon: &Addon, err: ProviderError, provisioning: bool) -> Apply {
        let due_at = now_ms() + backoff(addon.attempts).as_millis() as i64;
        match err {
            ProviderError::Permanent(message) if provisioning => fail(message),
            ProviderError::Transient(message) if provisioning && due_at > addon.deadline_at => {
                fail(format!("gave up after {} attempts within the provision timeout: {message}", addon.attempts + 1))
            }
            ProviderError::Transient(message) | ProviderError::Permanent(message) => Apply::Retry {
                due_at,
                message: format!("retrying (attempt {}): {message}", addon.attempts + 1),
                failed: true,
            },
        }
    }

    /// Ticks until each of `only` (or every addon) has settled, or until `deadline`
    /// (ms since the epoch), or until `stop` is set. Sleeps until the next task is
    /// due, not polling. Returns whether everything settled.
    pub fn run_until_settled(
        &self,
        store: &mut Store,
        jobs: usize,
        only: Option<&[String]>,
        deadline: Option<i64>,
        on_tick: &mut dyn FnMut(&Store, &TickReport) -> anyhow::Result<bool>,
        on_transition: &(dyn Fn(&Outcome) + Sync),
    ) -> anyhow::Result<bool> {
        loop {
            let report = self.tick(store, jobs, only, on_transition)?;
            if on_tick(store, &report)? {
                return Ok(true);
            }
            if self.stopping() {
                return Ok(false);
            }
            // Sleep until the next task is due. Another process may add work meanwhile,
            // so look again every few seconds (a cheap indexed query), without ticking.
            loop {
                let now = now_ms();
                if deadline.is_some_and(|deadline| now >= deadline) {
                    return Ok(false);
                }
                store.expire_dead_claims(is_dead_holder)?;
                let next = store.next_due(only)?.unwrap_or(i64::MAX);
                if next <= now {
                    break;
                }
                let wake = next.min(now + RECHECK.as_millis() as i64).min(deadline.unwrap_or(i64::MAX));
                sleep_until(wake, &self.stop);
                if self.stopping() {
                    return Ok(false);
                }
            }
        }
    }
}

/// A failure that ends provisioning in `error`.
fn fail(message: String) -> Apply {
    Apply::Transition { event: Event::Fail, message, config: None }
}

/// Checks that a provider handed back exactly the vars it declared, and applies the prefix.
fn check_config(addon: &Addon, config: Vec<(String, String)>) -> Result<BTreeMap<String, String>, String> {
    let declared = providers::info(&addon.provider).map_or(&[][..], |info| info.vars);
    let mut out = BTreeMap::new();
    for (key, value) in config {
        if !declared.contains(&key.as_str()) {
            return Err(format!("the {} provider handed back an undeclared var {key}", addon.provider));
        }
        out.insert(Addon::prefixed(addon.prefix.as_deref(), &key), value);
    }
    if out.len() != declared.len() {
        return Err(format!("the {} provider did not hand back every var it declares", addon.provider));
    }
    Ok(out)
}

/// Exponential backoff with jitter: about 1s, 2s, 4s ... capped at 5 minutes, each
/// drawn from the upper half of its range so retries of many addons spread out.
pub fn backoff(attempts: u32) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1u32 << attempts.min(16)).min(BACKOFF_CAP);
    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
}

/// Sleeps until `wake` (ms since the epoch), waking early when `stop` is set.
pub fn sleep_until(wake: i64, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let left = wake - now_ms();
        if left <= 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(left.min(250) as u64));
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// `host:pid:random`: who holds a claim, so a tick on the same host can tell when
/// the holder died.
fn claim_token() -> String {
    format!("{}:{}:{:08x}", hostname(), std::process::id(), rand::rng().random::<u32>())
}

/// Whether a claim's holder is a process on this host that no longer exists.
fn is_dead_holder(token: &str) -> bool {
    let mut parts = token.rsplitn(3, ':');
    let (_random, pid, host) = (parts.next(), parts.next(), parts.next());
    let Some(pid) = pid.and_then(|pid| pid.parse::<i32>().ok()) else {
        return false;
    };
    if host != Some(hostname().as_str()) || pid == std::process::id() as i32 || pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks whether the process exists.
    let alive =
        unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    !alive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempts in 0..30 {
            let ceiling = BACKOFF_BASE.saturating_mul(1u32 << attempts.min(16)).min(BACKOFF_CAP);
            let wait = backoff(attempts);
            assert!(wait <= ceiling && wait >= ceiling / 2, "{attempts}: {wait:?}");
        }
        assert!(backoff(40) <= BACKOFF_CAP);
    }

    #[test]
    fn dead_holders_are_recognised() {
        assert!(!is_dead_holder(&claim_token()), "this process is alive");
        let child = std::process::Command::new("true").spawn().unwrap().wait_with_output();
        assert!(child.is_ok());
        assert!(is_dead_holder(&format!("{}:{}:0", hostname(), i32::MAX - 1)));
        assert!(!is_dead_holder(&format!("other-host:{}:0", i32::MAX - 1)));
        assert!(!is_dead_holder("garbage"));
    }
}
