//! tick, watch and wait: claims due addons, runs one step of each through its
//! provider, and commits the result through the state machine.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::addon::Addon;
use crate::envfile::{self, Apps, EnvFileFailure};
use crate::machine::State;
use crate::providers::CopyProgress;
use crate::store::{now_ms, ClaimAsk, Outcome, Store, Woken, FAILED_ATTEMPT};

mod backup;
mod base;
mod check;
mod claim;
mod committer;
mod copy;
mod hooks;
mod provision;
mod server;
mod step;

pub use base::Engine;
pub use check::Check;
pub use copy::{COPYING, PERMANENT};
pub use hooks::HookReport;
pub use provision::{BadSource, OtherAddon};
pub use server::{same_server, server_name, DEFAULT_SERVER};

use claim::is_dead_holder;
pub use step::backoff;

/// How many addons one claim takes at a time.
const CLAIM_BATCH: usize = 16;
/// How often a sleeping `watch` or `wait` looks for work added by other processes
/// even when no wake-up came (one missed, or a backend that can't tell).
const RECHECK: Duration = Duration::from_secs(60);

/// What one tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    pub transitions: Vec<Outcome>,
    /// Attempts that failed and will be retried (event [`FAILED_ATTEMPT`]).
    pub failed_attempts: Vec<Outcome>,
    /// Addons (of those asked about) with a task still to run.
    pub pending: usize,
    /// Apps whose env file could not be written in this tick; every other app's was.
    pub env_file_failures: Vec<EnvFileFailure>,
    /// The drift checks this tick ran (`engine.verify_interval`).
    pub checks: Vec<Check>,
    /// The apps' `on_change` hooks this tick ran.
    pub hooks: Vec<HookReport>,
    /// How far the running copies this tick looked at have come, by addon id.
    pub copies: Vec<(String, CopyProgress)>,
    /// The state file a `watch`/`wait` moved to before this tick, because it was
    /// renamed over the one it had open.
    pub followed: Option<String>,
}

impl TickReport {
    /// The transitions of this tick that ended an addon in `error`.
    pub fn errors(&self) -> impl Iterator<Item = &Outcome> {
        self.transitions.iter().filter(|outcome| outcome.to == State::Error && outcome.from != State::Error)
    }
}

impl Engine {
    /// One pass: every due addon (of `only`, when given) advances at most one step.
    /// `on_transition` sees each recorded transition as it happens.
    pub fn tick(
        &self,
        store: &mut Store,
        jobs: usize,
        only: Option<&[String]>,
        on_transition: &(dyn Fn(&Outcome) + Sync),
    ) -> anyhow::Result<TickReport> {
        // A `state copy` may have moved the state since the last pass (`watch`).
        store.look_if_retired()?;
        store.acting()?;
        store.expire_dead_claims(is_dead_holder)?;
        store.pull_back_times()?;
        // Backups and restores are a worker's each, started here, never run here.
        self.start_due_backups(store)?;
        if only.is_none() {
            self.run_schedules(store)?;
        }
        // A tick for some addons writes the env files of their apps alone.
        let apps = only.map(|only| store.apps_of(only)).transpose()?;
        let scope = apps.as_deref().map_or(Apps::All, Apps::These);
        let mut env_file_failures = envfile::sync(store, &self.settings, scope, &self.stop)?;
        // Anything a step reschedules is due after this, so no addon moves twice in one pass.
        let due_by = self.read_clock(store)?.now_ms() - 1;
        let transitions = Mutex::new(Vec::new());
        let failed_attempts = Mutex::new(Vec::new());
        let record = |outcome: Outcome| {
            if outcome.event == FAILED_ATTEMPT {
                failed_attempts.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
            } else {
                on_transition(&outcome);
                transitions.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
            }
        };
        // No more workers than addons asked about.
        let jobs = only.map_or(jobs, |only| jobs.min(only.len())).max(1);
        self.run_workers(store, jobs, due_by, only, &record)?;
        let checks = match self.settings.engine.verify_interval {
            Some(interval) if !self.stopping() => self.check_due(store, only, interval)?,
            _ => Vec::new(),
        };
        // Apps whose file just failed are not tried twice in one tick.
        let others: Vec<String> = match apps {
            Some(apps) => apps,
            None => self.settings.apps.keys().cloned().collect(),
        }
        .into_iter()
        .filter(|app| !env_file_failures.iter().any(|failure| &failure.app == app))
        .collect();
        env_file_failures.extend(envfile::sync(store, &self.settings, Apps::These(&others), &self.stop)?);
        let hooks = self.run_hooks(store, Apps::These(&others))?;
        store.settle()?;
        let pending = store.pending_count(only)?;
        Ok(TickReport {
            transitions: transitions.into_inner().unwrap_or_default(),
            failed_attempts: failed_attempts.into_inner().unwrap_or_default(),
            pending,
            env_file_failures,
            checks,
            hooks,
            copies: std::mem::take(&mut *self.copies.lock().unwrap_or_else(|e| e.into_inner())),
            followed: None,
        })
    }

    /// Runs every due step with `jobs` workers: one worker on `store` itself, or
    /// `jobs` threads each on a connection of its own. Workers take claimed batches
    /// from one shared queue and commit their results in batches of [`CLAIM_BATCH`];
    /// on a state with one writer at a time, they hand their results to this thread,
    /// which claims and commits for them all ([`Engine::run_with_committer`]).
    /// Claims still queued when a worker fails or a stop is asked are released.
    fn run_workers(
        &self,
        store: &mut Store,
        jobs: usize,
        due_by: i64,
        only: Option<&[String]>,
        record: &(dyn Fn(Outcome) + Sync),
    ) -> anyhow::Result<()> {
        if jobs == 1 {
            let queue = Queue::default();
            let result = self.worker(store, &queue, due_by, only, record);
            self.release_claims(store, queue.leftover());
            return result;
        }
        let connections = self.connections(store, jobs)?;
        if store.one_writer() {
            return self.run_with_committer(store, connections, due_by, only, record);
        }
        let queue = Queue { shared: true, ..Queue::default() };
        let result = std::thread::scope(|scope| {
            let queue = &queue;
            let workers: Vec<_> = connections
                .into_iter()
                .map(|mut own| {
                    scope.spawn(move || {
                        let result = self.worker(&mut own, queue, due_by, only, record);
                        (own, result)
                    })
                })
                .collect();
            let mut first_error = None;
            for worker in workers {
                match worker.join() {
                    // A connection that failed is not kept.
                    Ok((own, Ok(()))) => self.lock_spare().push(own),
                    Ok((_, Err(err))) => first_error = first_error.or(Some(err)),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            first_error.map_or(Ok(()), Err)
        });
        self.release_claims(store, queue.leftover());
        result
    }

    /// What a tick's claims ask for: a batch of [`CLAIM_BATCH`] addons due by `due_by`
    /// (of `only`), under this engine's lease.
    fn claim_ask<'a>(&self, due_by: i64, only: Option<&'a [String]>) -> ClaimAsk<'a> {
        let acts_outside = crate::providers::acts_outside;
        ClaimAsk { due_by, lease: self.lease(), limit: CLAIM_BATCH, only, acts_outside }
    }

    /// Releases the claims no worker took (one failed, or a stop was asked).
    fn release_claims(&self, store: &mut Store, leftover: Vec<Addon>) {
        for addon in leftover {
            let _ = store.release_claim(&addon.id, &self.token);
        }
    }

    /// `jobs` worker connections: the spare ones of earlier ticks, and new ones.
    fn connections(&self, store: &Store, jobs: usize) -> anyhow::Result<Vec<Store>> {
        let mut connections: Vec<Store> = {
            let mut spare = self.lock_spare();
            let keep = spare.len().saturating_sub(jobs);
            spare.split_off(keep)
        };
        while connections.len() < jobs {
            // Opened with `reopen`, not `Store::open`: see `SqliteBackend::reopen` for why.
            connections.push(store.reopen()?);
        }
        Ok(connections)
    }

    fn lock_spare(&self) -> std::sync::MutexGuard<'_, Vec<Store>> {
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves a `watch`/`wait` to a state file renamed over the one it has open (a
    /// restored backup, a copy moved into place), so that the work in it is done: the
    /// workers' connections to the old file are closed first (see
    /// [`Store::follow_replaced_file`]). The new file's path when it moved.
    fn follow_replaced_file(&self, store: &mut Store) -> anyhow::Result<Option<String>> {
        if store.file_change().is_none() {
            return Ok(None);
        }
        self.lock_spare().clear();
        Ok(store.follow_replaced_file()?.then(|| store.describe()))
    }

    /// One worker: takes the next claimed addon from the queue (claiming a batch when
    /// it is empty), runs its task, and commits what it found in batches, and what is
    /// left when it stops.
    fn worker(
        &self,
        store: &mut Store,
        queue: &Queue,
        due_by: i64,
        only: Option<&[String]>,
        record: &dyn Fn(Outcome),
    ) -> anyhow::Result<()> {
        let ask = self.claim_ask(due_by, only);
        // The only worker: the results so far are committed with the next claim, in one
        // transaction.
        let with_claim = !queue.shared;
        let mut results = Vec::with_capacity(CLAIM_BATCH);
        let worked = (|| loop {
            if queue.failed.load(Ordering::Relaxed) || self.stopping() {
                return Ok(());
            }
            let next = {
                let mut guard = queue.lock();
                if guard.pending.is_empty() && !guard.exhausted {
                    let batch = match with_claim {
                        true => self.commit_and_claim(store, std::mem::take(&mut results), &ask, record)?,
                        false => store.claim(&self.token, &ask)?,
                    };
                    guard.exhausted = batch.is_empty();
                    guard.pending.extend(batch);
                }
                guard.pending.pop_front()
            };
            let Some(addon) = next else { return Ok(()) };
            if let Some(apply) = self.task(store, &addon)? {
                results.push((addon, apply));
            }
            // With the claim, when one comes next.
            if results.len() >= CLAIM_BATCH && !(with_claim && queue.lock().pending.is_empty()) {
                self.commit(store, std::mem::take(&mut results), record)?;
            }
        })();
        let committed = self.commit(store, results, record);
        let result = worked.and(committed);
        if result.is_err() {
            queue.failed.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Ticks until each of `only` (or every addon) has settled, or until `deadline`
    /// (ms since the epoch), or until `stop` is set. Sleeps until the next task is
    /// due or another process writes the state, not polling. Returns whether
    /// everything settled.
    pub fn run_until_settled(
        &self,
        store: &mut Store,
        jobs: usize,
        only: Option<&[String]>,
        deadline: Option<i64>,
        on_tick: &mut dyn FnMut(&Store, &TickReport) -> anyhow::Result<bool>,
        on_transition: &(dyn Fn(&Outcome) + Sync),
    ) -> anyhow::Result<bool> {
        // Watching from before the first look, so no write after it goes unseen.
        let mut wakeups = store.wakeups()?;
        let mut followed = None;
        loop {
            followed = self.follow_replaced_file(store)?.or(followed);
            wakeups.pause();
            let ticked = self.tick(store, jobs, only, on_transition);
            wakeups.resume();
            let mut report = ticked?;
            report.followed = followed.take();
            if on_tick(store, &report)? {
                return Ok(true);
            }
            if self.stopping() {
                return Ok(false);
            }
            // Sleep until the next task is due. Another process may add work, or finish
            // the work waited for, meanwhile: its write wakes the sleep, and then a cheap
            // indexed query says whether to tick.
            loop {
                let now = now_ms();
                if deadline.is_some_and(|deadline| now >= deadline) {
                    return Ok(false);
                }
                // New work may be in a file renamed over the state's path.
                if let Some(path) = self.follow_replaced_file(store)? {
                    followed = Some(path);
                    break;
                }
                store.expire_dead_claims(is_dead_holder)?;
                // Times a clock ahead of this host's wrote would keep it asleep for that lead.
                store.pull_back_times()?;
                let next = match store.next_due(only)? {
                    Some(next) => next,
                    // Another process finished the work the last tick saw (or what was
                    // waited for): tick once more so `on_tick` sees it settled.
                    None if only.is_some() || report.pending > 0 => break,
                    None => i64::MAX,
                };
                // Due times are on the state's clock, the deadline on this host's.
                let until_due = next.saturating_sub(store.now()?);
                if until_due <= 0 {
                    break;
                }
                let wake =
                    now.saturating_add(until_due.min(RECHECK.as_millis() as i64)).min(deadline.unwrap_or(i64::MAX));
                if wakeups.wait(wake, &self.stop)? == Woken::Stopped {
                    return Ok(false);
                }
            }
        }
    }
}

/// The claimed addons the workers of one tick share.
#[derive(Default)]
struct Queue {
    inner: Mutex<QueueState>,
    /// Set when a worker failed: the others stop taking new steps.
    failed: AtomicBool,
    /// Several workers take from it: one commits its results on its own, not with a
    /// claim the others wait for.
    shared: bool,
}

#[derive(Default)]
struct QueueState {
    pending: VecDeque<Addon>,
    /// The last claim found nothing due.
    exhausted: bool,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The claimed addons no worker took.
    fn leftover(self) -> Vec<Addon> {
        self.inner.into_inner().unwrap_or_else(|e| e.into_inner()).pending.into()
    }
}
