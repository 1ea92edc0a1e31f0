//! The engine's side of the store: claiming due addons, and committing the results
//! of steps under their claims, through the state machine.

use std::collections::BTreeMap;
use std::time::Duration;

use super::attachments::{ATTACHED, DETACHED};
use super::backend::{NewEvent, StoreError, Txn};
use super::base::{Durability, Store};
use super::entry::{due, enter, ready_due, with_expiry, Move, Row};
use super::refused::{StepError, StepRefusal};
use crate::addon::{Addon, Cleanup};
use crate::attachment::{Attachment, AttachmentEvent, AttachmentState};
use crate::machine::{self, on_cleanup, Event, State};

/// What a step found, to be committed if the step's claim still holds.
#[derive(Debug, Clone)]
pub enum Apply {
    /// Ask again at `due_at`: the resource is not ready yet (`error` none) or the
    /// provider failed (`error` holds why; counted for the backoff).
    Retry { due_at: i64, message: String, error: Option<AttemptError> },
    /// Move by the transition table. `config` holds the fetched config vars for
    /// `ProvisionComplete`.
    Transition { event: Event, message: String, config: Option<BTreeMap<String, String>> },
    /// The provider accepted the deprovision of a terminal addon.
    CleanupDone { message: String },
    /// A ready addon's login in `slot` (0: its own app's; another: an attached app's) of
    /// `generation` works, and `config` (the app's prefix applied) uses it: that app's
    /// vars switch to it, if it is still the one wanted. `shared`: the provider hands
    /// every app the own app's value (`generation` is then that login's), so the
    /// attached apps switch with it, and an attached app's step is stale once a rotation
    /// of it was committed meanwhile.
    Made { slot: u32, generation: u32, shared: bool, config: BTreeMap<String, String>, message: String },
    /// The generations below `to` of the login in `slot` are revoked.
    Revoked { slot: u32, to: u32, message: String },
    /// The attachment in `slot` is detaching, and every login of its slot is revoked.
    Detached { slot: u32, message: String },
}

/// Why one attempt at a task failed, as the provider said it.
#[derive(Debug, Clone)]
pub struct AttemptError {
    pub message: String,
    /// The provider called it permanent: retrying will not help until someone fixes it.
    pub permanent: bool,
}

/// The event name of a failed attempt, in `log` and in what `tick -v` reports.
pub const FAILED_ATTEMPT: &str = "retry";

/// A recorded transition, as `tick` reports it; or, with the event
/// [`FAILED_ATTEMPT`] and `from == to`, a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The addon's id and display name.
    pub id: String,
    pub name: String,
    /// When it was recorded (ms since the epoch), as `log` shows it.
    pub at: i64,
    pub from: State,
    pub to: State,
    pub event: String,
    pub message: String,
}

/// What committing a step's result gave: its outcome, or the store's refusal.
pub type StepOutcome = Result<Option<Outcome>, StepRefusal>;

/// Each step's addon with what committing its result gave.
pub type StepResults = Vec<(Addon, StepOutcome)>;

impl Store {
    /// Claims up to `limit` addons whose task was due at `due_by`, and whose claim is
    /// free or expired, for the tick holding `token` for `lease` (on the backend's
    /// clock). With `only`, just those addon ids.
    pub fn claim_due(
        &mut self,
        token: &str,
        due_by: i64,
        lease: Duration,
        limit: usize,
        only: Option<&[String]>,
    ) -> anyhow::Result<Vec<Addon>> {
        self.write_retrying(|tx| tx.claim_due(token, due_by, lease, limit, only))
    }

    /// Holds `token`'s claim on a just-created addon's behalf of `begin_provision`:
    /// records that it succeeded, keeping the claim. A deprovision that overtook the
    /// call keeps its own message.
    pub fn mark_begun(&mut self, addon_id: &str, token: &str, message: &str) -> anyhow::Result<bool> {
        self.write_retrying(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(addon_id)?.filter(|addon| addon.claim.as_deref() == Some(token)) else {
                return Ok(false);
            };
            addon.begun = true;
            if addon.state == State::WaitingForProvision {
                addon.message = message.to_string();
                addon.updated_at = now;
            }
            tx.update_addon(&addon)?;
            Ok(true)
        })
    }

    /// Records the server of an addon made before servers were recorded, where its
    /// step (under this claim) is about to go; an addon with one keeps it.
    pub fn record_server(&mut self, addon_id: &str, token: &str, server: &str) -> anyhow::Result<()> {
        self.write_retrying(|tx| {
            let Some(mut addon) = tx.addon(addon_id)?.filter(|addon| addon.claim.as_deref() == Some(token)) else {
                return Ok(());
            };
            if addon.server.is_none() {
                addon.server = Some(server.to_string());
                tx.update_addon(&addon)?;
            }
            Ok(())
        })
    }

    /// Gives up a claim without changing anything else; the task is due at once.
    pub fn release_claim(&mut self, addon_id: &str, token: &str) -> anyhow::Result<()> {
        self.write_retrying(|tx| tx.release_claim(addon_id, token).map(drop))
    }

    /// Gives up the claim on a ready addon whose step found nothing to do (a check that
    /// died holding it left it due): it is next due at its next upkeep or its expiry.
    pub fn release_idle(&mut self, addon_id: &str, token: &str) -> anyhow::Result<()> {
        self.write_retrying(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(addon_id)?.filter(|addon| addon.claim.as_deref() == Some(token)) else {
                return Ok(());
            };
            addon.claim = None;
            addon.claim_until = None;
            if addon.state == State::Ready {
                addon.due_at = ready_due(tx, &addon, now)?;
            }
            tx.update_addon(&addon)
        })
    }

    /// Commits a step's result if `token` still holds the claim and the addon is
    /// still in the state the step started from; otherwise drops the result (a
    /// deprovision overtook it; its cleanup runs next). Releases the claim either way.
    pub fn finish_step(&mut self, seen: &Addon, token: &str, apply: Apply) -> anyhow::Result<Option<Outcome>> {
        self.write(|tx| Ok(commit_step(tx, seen, token, apply)?))
    }

    /// Commits the results of several steps in one transaction, each as
    /// [`Store::finish_step`] would and under a savepoint of its own, so one the store
    /// refuses leaves the others in. A failure of the state itself stops it all.
    /// Returns each step's addon with its outcome.
    ///
    /// The store seldom refuses a step, and a savepoint costs two round trips a step on
    /// PostgreSQL: the batch is first written without savepoints, and only when a step
    /// is refused is that transaction rolled back and the batch written again with them.
    ///
    /// A write a power loss may undo ([`Durability::Redoable`]): what acts on its results
    /// outside the state is redone with them (env files, hooks) or comes after a later
    /// claim of a step that acts outside the state, which is synced and so makes this
    /// commit durable too, before that step's provider call ([`Store::claim`]).
    pub fn finish_steps(&mut self, token: &str, steps: Vec<(Addon, Apply)>) -> anyhow::Result<StepResults> {
        let ids = sorted_ids(&steps);
        let all_in = self.write_or_undo(Durability::Redoable, |tx| commit_all(tx, &ids, token, &steps))?;
        match all_in {
            Some(outcomes) => Ok(steps.into_iter().map(|(seen, _)| seen).zip(outcomes).collect()),
            None => self.finish_one_by_one(token, &ids, steps),
        }
    }

    /// Claims a batch as `ask` says, as [`Store::claim_due`] does, but durable only when
    /// it must be: when a step of an addon claimed acts outside the state
    /// ([`ClaimAsk::acts_outside`]), the claim is synced before it is returned, so that
    /// no power loss forgets a claim whose step acted; a batch whose steps only work from
    /// their rows (secret addons) is not, and a power loss that undid its claim means
    /// only that its steps run again, to the same results.
    pub fn claim(&mut self, token: &str, ask: &ClaimAsk<'_>) -> anyhow::Result<Vec<Addon>> {
        let claimed = self.write_retrying_as(Durability::Redoable, |tx| {
            tx.claim_due(token, ask.due_by, ask.lease, ask.limit, ask.only)
        })?;
        self.sync_for(&claimed, ask)?;
        Ok(claimed)
    }

    /// Commits the results of `steps` as [`Store::finish_steps`] does, then claims the
    /// next batch as [`Store::claim`] does, both in one transaction. For a state that
    /// takes one writer at a time, where a commit is what costs: one batch's results and
    /// the next batch's claims go in one. When the store refuses a step, the results are
    /// committed one by one and the claim made after them.
    pub fn finish_and_claim(
        &mut self,
        token: &str,
        steps: Vec<(Addon, Apply)>,
        ask: &ClaimAsk<'_>,
    ) -> anyhow::Result<(StepResults, Vec<Addon>)> {
        let ids = sorted_ids(&steps);
        let both = self.write_or_undo(Durability::Redoable, |tx| {
            let Some(outcomes) = commit_all(tx, &ids, token, &steps)? else { return Ok(None) };
            let claimed = tx.claim_due(token, ask.due_by, ask.lease, ask.limit, ask.only)?;
            Ok(Some((outcomes, claimed)))
        })?;
        let Some((outcomes, claimed)) = both else {
            let results = self.finish_one_by_one(token, &ids, steps)?;
            return Ok((results, self.claim(token, ask)?));
        };
        self.sync_for(&claimed, ask)?;
        Ok((steps.into_iter().map(|(seen, _)| seen).zip(outcomes).collect(), claimed))
    }

    /// Syncs what was committed when a step of an addon of `claimed` acts outside the state.
    fn sync_for(&mut self, claimed: &[Addon], ask: &ClaimAsk<'_>) -> anyhow::Result<()> {
        if claimed.iter().any(|addon| (ask.acts_outside)(&addon.provider)) {
            self.backend.get_mut().sync()?;
        }
        Ok(())
    }

    /// Commits the results of `steps` (their addons' `ids`, sorted) in one
    /// transaction, each under a savepoint of its own, so one the store refuses leaves
    /// the others in.
    fn finish_one_by_one(
        &mut self,
        token: &str,
        ids: &[String],
        steps: Vec<(Addon, Apply)>,
    ) -> anyhow::Result<StepResults> {
        self.write_retrying_as(Durability::Redoable, |tx| {
            tx.lock_addons(ids)?;
            let mut results = Vec::with_capacity(steps.len());
            for (seen, apply) in &steps {
                tx.savepoint()?;
                match commit_step(tx, seen, token, apply.clone()) {
                    Ok(outcome) => {
                        tx.release_savepoint()?;
                        results.push((seen.clone(), Ok(outcome)));
                    }
                    Err(StepError::Refused(refusal)) => {
                        tx.rollback_savepoint()?;
                        results.push((seen.clone(), Err(refusal)));
                    }
                    Err(StepError::Store(err)) => return Err(err),
                }
            }
            Ok(results)
        })
    }

    /// Expires at once the claims of ticks whose process is gone (`is_dead` decides
    /// from the token), so a crashed tick's step is picked up by the next tick without
    /// waiting for the lease.
    pub fn expire_dead_claims(&mut self, is_dead: impl Fn(&str) -> bool) -> anyhow::Result<usize> {
        let dead: Vec<String> =
            self.read(|tx| tx.claim_holders())?.into_iter().filter(|token| is_dead(token)).collect();
        if dead.is_empty() {
            return Ok(0);
        }
        self.write_retrying(|tx| {
            let mut expired = 0;
            for token in &dead {
                expired += tx.expire_claims_of(token)?;
            }
            Ok(expired)
        })
    }

    /// How many addons have a task still to run.
    pub fn pending_count(&self, only: Option<&[String]>) -> anyhow::Result<usize> {
        self.read(|tx| tx.pending_count(only))
    }

    /// When the next task comes due (ms since the epoch), counting a claimed addon as
    /// due when its claim runs out; `None` when no addon has work left.
    pub fn next_due(&self, only: Option<&[String]>) -> anyhow::Result<Option<i64>> {
        self.read(|tx| tx.next_due(only))
    }
}

/// What a claim asks for: see [`Store::claim_due`].
#[derive(Debug, Clone, Copy)]
pub struct ClaimAsk<'a> {
    pub due_by: i64,
    pub lease: Duration,
    pub limit: usize,
    pub only: Option<&'a [String]>,
    /// Whether the steps of the provider named act outside the state: then a claim of
    /// its addons is synced before it is handed out.
    pub acts_outside: fn(&str) -> bool,
}

/// The ids of the steps' addons, sorted: the order their rows are locked in.
fn sorted_ids(steps: &[(Addon, Apply)]) -> Vec<String> {
    let mut ids: Vec<String> = steps.iter().map(|(addon, _)| addon.id.clone()).collect();
    ids.sort();
    ids
}

/// Commits every step's result through `tx` without savepoints: their outcomes, or
/// `None` when the store refuses one (the transaction is then to be rolled back).
fn commit_all(
    tx: &mut dyn Txn,
    ids: &[String],
    token: &str,
    steps: &[(Addon, Apply)],
) -> Result<Option<Vec<StepOutcome>>, StoreError> {
    tx.lock_addons(ids)?;
    let mut outcomes = Vec::with_capacity(steps.len());
    for (seen, apply) in steps {
        match commit_step(tx, seen, token, apply.clone()) {
            Ok(outcome) => outcomes.push(Ok(outcome)),
            Err(StepError::Refused(_)) => return Ok(None),
            Err(StepError::Store(err)) => return Err(err),
        }
    }
    Ok(Some(outcomes))
}

/// One step's result, written through `tx` (a transaction, or a savepoint in one):
/// see [`Store::finish_step`].
fn commit_step(tx: &mut dyn Txn, seen: &Addon, token: &str, apply: Apply) -> Result<Option<Outcome>, StepError> {
    let now = tx.now()?;
    let Some((claim, version)) = tx.claim_of(&seen.id)? else {
        return Ok(None);
    };
    if claim.as_deref() != Some(token) {
        return Ok(None);
    }
    // Unless something wrote the row since it was claimed, it is what was claimed.
    let read;
    let stored = if version == seen.version {
        seen
    } else {
        let Some(addon) = tx.addon(&seen.id)? else { return Ok(None) };
        read = addon;
        &read
    };
    let mut addon = stored.clone();
    addon.claim = None;
    addon.claim_until = None;
    let from = addon.state;
    if from != seen.state {
        tx.update_addon_from(stored, &addon)?;
        return Ok(None);
    }
    let outcome = |to: State, event: &str, message: String| Outcome {
        id: seen.id.clone(),
        name: seen.name.clone(),
        at: now,
        from,
        to,
        event: event.into(),
        message,
    };
    Ok(match apply {
        Apply::Retry { due_at, message, error } => {
            addon.due_at = with_expiry(Some(due_at), &addon);
            addon.message = message;
            addon.updated_at = now;
            addon.attempts += u32::from(error.is_some());
            addon.last_error = error.as_ref().map(|e| e.message.clone());
            addon.last_error_permanent = error.as_ref().is_some_and(|e| e.permanent);
            tx.update_addon_from(stored, &addon)?;
            match error {
                Some(error) => Some(failed_attempt(tx, seen, &error.message, due_at, now)?),
                None => None,
            }
        }
        Apply::CleanupDone { message } => {
            addon.cleanup = Cleanup::Done;
            addon.due_at = due(on_cleanup(), now);
            addon.attempts = 0;
            addon.last_error = None;
            addon.last_error_permanent = false;
            addon.message = message.clone();
            addon.updated_at = now;
            tx.update_addon_from(stored, &addon)?;
            let event = Event::Cleanup.as_str();
            tx.record_event(&NewEvent {
                addon_id: &addon.id,
                at: now,
                from: Some(from),
                to: from,
                event,
                message: &message,
            })?;
            Some(outcome(from, event, message))
        }
        Apply::Made { slot, generation, shared, config, message } => {
            let app = match slot {
                0 => addon.login.wants(generation).then(|| addon.app.clone()),
                // The addon's own value was rotated since: the step is done again.
                _ if shared && Some(generation) != addon.login.vars_generation => None,
                _ => attachment_step(tx, &addon, slot, AttachmentEvent::CredentialMade, generation, now)?
                    .map(|attachment| attachment.app),
            };
            if let Some(app) = &app {
                fill_vars(tx, app, &addon.id, &config)?;
                if slot == 0 {
                    addon.login.made(generation);
                    if shared {
                        switch_attached(tx, &addon, &config, now)?;
                    }
                    addon.config = Some(config);
                }
            }
            upkeep_done(tx, stored, &mut addon, now)?;
            let event = if slot == 0 { ROTATED } else { ATTACHED };
            app.map(|_| upkeep(tx, &addon, event, message, now)).transpose()?
        }
        Apply::Revoked { slot, to, message } => {
            let revoked = match slot {
                0 => {
                    addon.login.revoked(to);
                    true
                }
                _ => match tx.attachments(&addon.id)?.into_iter().find(|t| t.slot == slot) {
                    Some(mut attachment) if attachment.state == AttachmentState::Attached => {
                        attachment.login.revoked(to);
                        attachment.updated_at = now;
                        tx.put_attachment(&attachment)?;
                        true
                    }
                    // Detached meanwhile: its detach revokes every generation.
                    _ => false,
                },
            };
            upkeep_done(tx, stored, &mut addon, now)?;
            revoked.then(|| upkeep(tx, &addon, REVOKED, message, now)).transpose()?
        }
        Apply::Detached { slot, message } => {
            let generation = addon.login.generation;
            let revoked = attachment_step(tx, &addon, slot, AttachmentEvent::CredentialRevoked, generation, now)?;
            upkeep_done(tx, stored, &mut addon, now)?;
            revoked.map(|_| upkeep(tx, &addon, DETACHED, message, now)).transpose()?
        }
        Apply::Transition { event, message, config } => {
            let to = machine::transition(from, event).map_err(|err| StepRefusal(err.to_string()))?;
            if event == Event::ProvisionComplete {
                addon.config =
                    Some(config.ok_or_else(|| StepRefusal("provision completed without config vars".into()))?);
            }
            enter(tx, &mut addon, Move { to, event, message: &message, logged: &message }, now, Row::Changed(stored))?;
            Some(outcome(to, event.as_str(), message))
        }
    })
}

/// The event name of a rotation's switch of the app's vars to a new login.
pub const ROTATED: &str = "rotated";
/// The event name of the revocation of a rotation's old logins.
pub const REVOKED: &str = "revoked";

/// Gives the attached apps of a same-value addon the value its own app was just switched
/// to (`config`, the addon's prefix applied), each under its own prefix; a read-only one is
/// made again by a tick, as its provider turns the new value read-only.
fn switch_attached(tx: &mut dyn Txn, addon: &Addon, config: &BTreeMap<String, String>, now: i64) -> StepResult {
    for mut attachment in tx.attachments(&addon.id)? {
        if attachment.state != AttachmentState::Attached {
            continue;
        }
        if attachment.access.is_read_only() {
            // Its value is the addon's as the provider turns it read-only: a tick makes
            // it again from the new one (the app keeps the old meanwhile).
            let Ok(to) = attachment.state.after(AttachmentEvent::Rotate) else { continue };
            (attachment.state, attachment.login.generation, attachment.updated_at) = (to, addon.login.generation, now);
            tx.put_attachment(&attachment)?;
            continue;
        }
        let mut vars = BTreeMap::new();
        for (key, value) in config {
            let var = match &addon.prefix {
                Some(prefix) => key.strip_prefix(&format!("{prefix}_")).unwrap_or(key),
                None => key,
            };
            vars.insert(crate::names::prefixed(attachment.prefix.as_deref(), var), value.clone());
        }
        fill_vars(tx, &attachment.app, &addon.id, &vars)?;
        attachment.login.made(addon.login.generation);
        attachment.updated_at = now;
        tx.put_attachment(&attachment)?;
    }
    Ok(())
}

/// Puts `config` into the vars `app` holds for the addon, and counts the app's vars
/// version up (its env file and hook are then due). Refused when a var is no longer the
/// addon's: removed by hand, or its app deprovisioned meanwhile.
fn fill_vars(tx: &mut dyn Txn, app: &str, addon_id: &str, config: &BTreeMap<String, String>) -> StepResult {
    for (key, value) in config {
        if !tx.fill_var(app, key, addon_id, value)? {
            return Err(StepRefusal(format!("{key} is no longer held by this addon on app {app}")).into());
        }
    }
    tx.bump_version(app)?;
    Ok(())
}

/// What a part of committing a step gives.
type StepResult = Result<(), StepError>;

/// Moves the attachment in `slot` by `event`, if the table allows it from where it is
/// now (a `detach` may have overtaken the step), recording the `generation` of its
/// credential: the attachment as moved, or `None`.
fn attachment_step(
    tx: &mut dyn Txn,
    addon: &Addon,
    slot: u32,
    event: AttachmentEvent,
    generation: u32,
    now: i64,
) -> Result<Option<Attachment>, StoreError> {
    let Some(mut attachment) = tx.attachments(&addon.id)?.into_iter().find(|t| t.slot == slot) else {
        return Ok(None);
    };
    let Ok(to) = attachment.state.after(event) else { return Ok(None) };
    match event {
        AttachmentEvent::CredentialMade => attachment.login.made(generation),
        // Every generation of the slot is gone with the detach.
        AttachmentEvent::CredentialRevoked => attachment.login.gone(),
        _ => {}
    }
    attachment.state = to;
    attachment.updated_at = now;
    tx.put_attachment(&attachment)?;
    Ok(Some(attachment))
}

/// Writes a ready addon after an upkeep step: attempts cleared, next upkeep due (an
/// attachment's step, when one is left, at once).
fn upkeep_done(tx: &mut dyn Txn, stored: &Addon, addon: &mut Addon, now: i64) -> Result<(), StoreError> {
    addon.attempts = 0;
    addon.last_error = None;
    addon.last_error_permanent = false;
    addon.due_at = ready_due(tx, addon, now)?;
    addon.updated_at = now;
    tx.update_addon_from(stored, addon)
}

/// Records an upkeep step of a ready addon (no transition: `from == to`).
fn upkeep(tx: &mut dyn Txn, addon: &Addon, event: &str, message: String, now: i64) -> Result<Outcome, StoreError> {
    let state = addon.state;
    tx.record_event(&NewEvent {
        addon_id: &addon.id,
        at: now,
        from: Some(state),
        to: state,
        event,
        message: &message,
    })?;
    Ok(Outcome {
        id: addon.id.clone(),
        name: addon.name.clone(),
        at: now,
        from: state,
        to: state,
        event: event.into(),
        message,
    })
}

/// A failed attempt, as `tick -v` reports it. It goes into the addon's log when it
/// is the first of its run, when its message differs from the one before, or when
/// the attempt count is a power of two: a long outage adds a handful of events, not
/// one per retry.
fn failed_attempt(tx: &mut dyn Txn, seen: &Addon, why: &str, due_at: i64, now: i64) -> Result<Outcome, StoreError> {
    let attempt = seen.attempts + 1;
    let message = format!(
        "attempt {attempt} failed: {why}; next try in {}",
        humantime::format_duration(std::time::Duration::from_secs(((due_at - now).max(0) as u64).div_ceil(1000)))
    );
    if attempt.is_power_of_two() || seen.last_error.as_deref() != Some(why) {
        tx.record_event(&NewEvent {
            addon_id: &seen.id,
            at: now,
            from: Some(seen.state),
            to: seen.state,
            event: FAILED_ATTEMPT,
            message: &format!("attempt {attempt} failed: {why}"),
        })?;
    }
    Ok(Outcome {
        id: seen.id.clone(),
        name: seen.name.clone(),
        at: now,
        from: seen.state,
        to: seen.state,
        event: FAILED_ATTEMPT.into(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{new_seed, Params};
    use crate::store::NewAddon;

    /// A long run of failed attempts leaves a handful of events: the first, each
    /// whose message changed, and those at powers of two.
    #[test]
    fn failed_attempts_reach_the_log_without_flooding_it() {
        let mut store = Store::open_in_memory().unwrap();
        let new = NewAddon {
            id: "00000000000000aa".into(),
            name: "flaky".into(),
            provider: "secret".into(),
            app: "myapp".into(),
            prefix: None,
            params: Params::new(),
            seed: new_seed(),
            vars: vec!["SECRET_KEY".into()],
            deadline_at: i64::MAX,
            claim: "test".into(),
            lease: Duration::from_secs(3600),
            labels: Default::default(),
            expires_at: None,
            source_id: None,
            backup_schedule: None,
            server: None,
        };
        let mut addon = store.insert_addon(&new).unwrap();
        for attempt in 1..=20 {
            let why = if attempt == 6 { "refused" } else { "timed out" };
            let error = Some(AttemptError { message: why.into(), permanent: false });
            let apply = Apply::Retry { due_at: 0, message: format!("retrying: {why}"), error };
            let outcome = store.finish_step(&addon, "test", apply).unwrap().unwrap();
            assert!(outcome.message.starts_with(&format!("attempt {attempt} failed: {why}; next try in ")));
            addon = store.claim_due("test", 1, Duration::from_secs(3600), 1, None).unwrap().pop().unwrap();
        }
        let logged: Vec<String> = store
            .events(&addon.id)
            .unwrap()
            .into_iter()
            .filter(|event| event.event == FAILED_ATTEMPT)
            .map(|event| event.message)
            .collect();
        let failed = |n: u32, why: &str| format!("attempt {n} failed: {why}");
        let expected = [
            failed(1, "timed out"),
            failed(2, "timed out"),
            failed(4, "timed out"),
            failed(6, "refused"),
            failed(7, "timed out"),
            failed(8, "timed out"),
            failed(16, "timed out"),
        ];
        assert_eq!(logged, expected);
    }
}
