//! Several workers on a state that takes one writer at a time (a SQLite file): the
//! workers run steps side by side, each on a connection of its own, and hand what they
//! found to one committer, the calling thread, which claims every batch and commits
//! every result on its own connection, a batch of results with the next claim. No
//! worker waits for the file's lock, and the committer's cache of the file stays warm
//! from one write to the next. Steps that act on nothing outside the state (secret
//! addons') the committer runs itself: there is no wait for workers to overlap, and
//! handing such a step over costs more than running it.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

use super::base::Engine;
use super::CLAIM_BATCH;
use crate::addon::Addon;
use crate::store::{Apply, Outcome, Store};

/// What a worker found for one claimed addon: the result to commit, none (its claim
/// was released), or the error that stops the tick.
type Stepped = (Addon, anyhow::Result<Option<Apply>>);

/// The claimed addons waiting for a worker, fed by the committer.
#[derive(Default)]
struct Feed {
    state: Mutex<FeedState>,
    /// Rung when an addon is added or the feed closes.
    bell: Condvar,
}

#[derive(Default)]
struct FeedState {
    waiting: VecDeque<Addon>,
    /// No more addons come: the workers end once it is empty.
    closed: bool,
}

impl Feed {
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next addon for a worker, waiting for one; `None` once the feed is closed
    /// and empty.
    fn next(&self) -> Option<Addon> {
        let mut state = self.lock();
        loop {
            if let Some(addon) = state.waiting.pop_front() {
                return Some(addon);
            }
            if state.closed {
                return None;
            }
            state = self.bell.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn add(&self, batch: Vec<Addon>) {
        if batch.is_empty() {
            return;
        }
        self.lock().waiting.extend(batch);
        self.bell.notify_all();
    }

    fn len(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Closes the feed: the workers take what is waiting (`keep_waiting`), or it is
    /// handed back.
    fn close(&self, keep_waiting: bool) -> Vec<Addon> {
        let mut state = self.lock();
        state.closed = true;
        let left = if keep_waiting { Vec::new() } else { state.waiting.drain(..).collect() };
        drop(state);
        self.bell.notify_all();
        left
    }
}

impl Engine {
    /// Runs every due step with a worker on each of `connections`, claiming and
    /// committing on `store` (see the module's note). Claims are made a batch ahead of
    /// the workers, results committed in batches of [`CLAIM_BATCH`]; a worker's error or
    /// a stop ends the claiming, and the claims no worker took are released.
    pub(super) fn run_with_committer(
        &self,
        store: &mut Store,
        connections: Vec<Store>,
        due_by: i64,
        only: Option<&[String]>,
        record: &(dyn Fn(Outcome) + Sync),
    ) -> anyhow::Result<()> {
        let feed = Feed::default();
        let (hand_in, handed) = mpsc::channel::<Stepped>();
        std::thread::scope(|scope| {
            let feed = &feed;
            let workers: Vec<_> = connections
                .into_iter()
                .map(|mut own| {
                    let hand_in = hand_in.clone();
                    scope.spawn(move || {
                        while let Some(addon) = feed.next() {
                            let stepped = self.task(&mut own, &addon);
                            if hand_in.send((addon, stepped)).is_err() {
                                break;
                            }
                        }
                        own
                    })
                })
                .collect();
            drop(hand_in);
            let committed = self.commit_for_workers(store, feed, &handed, due_by, only, record);
            // The workers end once the feed is closed and empty.
            self.release_claims(store, feed.close(false));
            for worker in workers {
                match worker.join() {
                    Ok(own) => self.lock_spare().push(own),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            committed
        })
    }

    /// The committer's side of [`Engine::run_with_committer`]: keeps the feed a batch
    /// ahead, takes the workers' results and commits them, until nothing is due or left
    /// in flight.
    fn commit_for_workers(
        &self,
        store: &mut Store,
        feed: &Feed,
        handed: &mpsc::Receiver<Stepped>,
        due_by: i64,
        only: Option<&[String]>,
        record: &(dyn Fn(Outcome) + Sync),
    ) -> anyhow::Result<()> {
        let ask = self.claim_ask(due_by, only);
        let mut in_flight = 0usize;
        let mut exhausted = false;
        let mut failure: Option<anyhow::Error> = None;
        let mut results = Vec::with_capacity(CLAIM_BATCH);
        // Whether more is to be claimed: something may be left, and nothing stops the tick.
        let may_claim =
            |exhausted: bool, failure: &Option<anyhow::Error>| !exhausted && failure.is_none() && !self.stopping();
        loop {
            let claiming = may_claim(exhausted, &failure);
            let full = results.len() >= CLAIM_BATCH;
            // A full batch of results is committed with the next claim, which may then
            // come while the feed still holds a batch: one commit for both.
            if claiming && (feed.len() < CLAIM_BATCH || full && feed.len() < 2 * CLAIM_BATCH) {
                let ready = match full {
                    true => std::mem::take(&mut results),
                    false => Vec::new(),
                };
                match self.commit_and_claim(store, ready, &ask, record) {
                    Ok(batch) => {
                        exhausted = batch.is_empty();
                        // A step that acts only on its row is run here: handing it to a
                        // worker costs more than it does.
                        let (here, there): (Vec<Addon>, Vec<Addon>) =
                            batch.into_iter().partition(|addon| !(ask.acts_outside)(&addon.provider));
                        in_flight += there.len();
                        feed.add(there);
                        let mut left = Vec::new();
                        for addon in here {
                            if failure.is_some() || self.stopping() {
                                left.push(addon);
                                continue;
                            }
                            match self.task(store, &addon) {
                                Ok(Some(apply)) => results.push((addon, apply)),
                                Ok(None) => {}
                                Err(err) => failure = Some(err),
                            }
                        }
                        self.release_claims(store, left);
                    }
                    Err(err) => failure = Some(err),
                }
            }
            if failure.is_some() || self.stopping() {
                // What no worker took yet is not run.
                let left = feed.close(false);
                in_flight -= left.len();
                self.release_claims(store, left);
            } else if exhausted {
                // The workers take what is waiting, then end.
                feed.close(true);
            }
            if in_flight == 0 {
                match may_claim(exhausted, &failure) {
                    // Every step claimed so far was run here: claim again.
                    true => continue,
                    false => break,
                }
            }
            // Every worker gone with steps in flight: one panicked (the scope says so).
            let Ok(first) = handed.recv() else { break };
            for (addon, stepped) in std::iter::once(first).chain(handed.try_iter()) {
                in_flight -= 1;
                match stepped {
                    Ok(Some(apply)) => results.push((addon, apply)),
                    Ok(None) => {}
                    Err(err) => {
                        // Its claim lapses with the lease, as a worker's failure leaves it.
                        failure.get_or_insert(err);
                    }
                }
            }
            // A result is committed with a full batch, or at the end: until then its addon
            // stays claimed, so no later claim of this tick takes it again (a step whose
            // next one is due at once runs in the next tick, as with one worker), with the
            // next claim when one comes next.
            let claims_next = may_claim(exhausted, &failure) && feed.len() < 2 * CLAIM_BATCH;
            if results.len() >= CLAIM_BATCH && !claims_next {
                if let Err(err) = self.commit(store, std::mem::take(&mut results), record) {
                    failure.get_or_insert(err);
                }
            }
        }
        let committed = self.commit(store, results, record);
        match failure {
            Some(err) => Err(err),
            None => committed,
        }
    }
}
