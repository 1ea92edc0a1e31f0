//! The engine's side of the store: claiming due addons, and committing the results
//! of steps under their claims, through the state machine.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::addons::{from_row, record, release_vars, COLUMNS};
use super::{now_ms, sql_error, vars::bump_version, Store};
use crate::addon::Addon;
use crate::error::{failed, Failure};
use crate::machine::{self, Event, State};

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

impl Store {
    /// Claims up to `limit` addons whose task was due at `due_by`, and whose claim is
    /// free or expired, for the tick holding `token` until `claim_until`. With `only`,
    /// just those addon ids.
    pub fn claim_due(
        &mut self,
        token: &str,
        due_by: i64,
        claim_until: i64,
        limit: usize,
        only: Option<&[String]>,
    ) -> anyhow::Result<Vec<Addon>> {
        let path = self.path.clone();
        let now = now_ms();
        let only = only.map(serde_json::to_string).transpose()?;
        let tx = self.write()?;
        let claimed = {
            let mut stmt = tx.prepare_cached(&format!(
                "UPDATE addons SET claim = ?1, claim_until = ?2 WHERE id IN (\
                   SELECT id FROM addons WHERE due_at <= ?3 AND (claim IS NULL OR claim_until < ?4) \
                   AND (?5 IS NULL OR id IN (SELECT value FROM json_each(?5))) ORDER BY due_at LIMIT {limit}) \
                 RETURNING {COLUMNS}"
            ))?;
            // The limit is in the text, not bound: a bound LIMIT makes SQLite re-plan the
            // statement on every call.
            let rows =
                stmt.query_map(params![token, claim_until, due_by, now, only], from_row).map_err(sql_error(&path))?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql_error(&path))?
        };
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(claimed)
    }

    /// Holds `token`'s claim on a just-created addon's behalf of `begin_provision`:
    /// records that it succeeded, keeping the claim. A deprovision that overtook the
    /// call keeps its own message.
    pub fn mark_begun(&mut self, addon_id: &str, token: &str, message: &str) -> anyhow::Result<bool> {
        let path = self.path.clone();
        let tx = self.write()?;
        let changed = tx
            .execute(
                "UPDATE addons SET begun = 1, \
                 message = CASE WHEN state = 'waiting_for_provision' THEN ?3 ELSE message END, \
                 updated_at = CASE WHEN state = 'waiting_for_provision' THEN ?4 ELSE updated_at END \
                 WHERE id = ?1 AND claim = ?2",
                params![addon_id, token, message, now_ms()],
            )
            .map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(changed == 1)
    }

    /// Gives up a claim without changing anything else; the task is due at once.
    pub fn release_claim(&mut self, addon_id: &str, token: &str) -> anyhow::Result<()> {
        let path = self.path.clone();
        let tx = self.write()?;
        tx.execute(
            "UPDATE addons SET claim = NULL, claim_until = NULL WHERE id = ?1 AND claim = ?2",
            params![addon_id, token],
        )
        .map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(())
    }

    /// Commits a step's result if `token` still holds the claim and the addon is
    /// still in the state the step started from; otherwise drops the result (a
    /// deprovision overtook it; its cleanup runs next). Releases the claim either way.
    pub fn finish_step(&mut self, seen: &Addon, token: &str, apply: Apply) -> anyhow::Result<Option<Outcome>> {
        let path = self.path.clone();
        let tx = self.write()?;
        let outcome = commit_step(&tx, &path, seen, token, apply)?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(outcome)
    }

    /// Commits the results of several steps in one transaction, each as
    /// [`Store::finish_step`] would and under a savepoint of its own, so one that
    /// fails (other than by the state file failing) leaves the others in. Returns each
    /// step's addon with its outcome.
    pub fn finish_steps(
        &mut self,
        token: &str,
        steps: Vec<(Addon, Apply)>,
    ) -> anyhow::Result<Vec<(Addon, anyhow::Result<Option<Outcome>>)>> {
        let path = self.path.clone();
        let mut tx = self.write()?;
        let mut results = Vec::with_capacity(steps.len());
        for (seen, apply) in steps {
            let savepoint = tx.savepoint().map_err(sql_error(&path))?;
            match commit_step(&savepoint, &path, &seen, token, apply) {
                Ok(outcome) => {
                    savepoint.commit().map_err(sql_error(&path))?;
                    results.push((seen, Ok(outcome)));
                }
                Err(err) if is_store_failure(&err) => return Err(err),
                // Dropping the savepoint rolls this step back.
                Err(err) => results.push((seen, Err(err))),
            }
        }
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(results)
    }

    /// Expires at once the claims of ticks on this host whose process is gone, so a
    /// crashed tick's step is picked up by the next tick without waiting for the lease.
    pub fn expire_dead_claims(&mut self, is_dead: impl Fn(&str) -> bool) -> anyhow::Result<usize> {
        let now = now_ms();
        let holders: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    // Every claimed addon has a task due, so the due index finds the claims.
                    "SELECT DISTINCT claim FROM addons WHERE due_at IS NOT NULL AND claim IS NOT NULL AND claim_until >= ?1",
                )?;
            let rows = stmt.query_map([now], |row| row.get(0)).map_err(sql_error(&self.path))?;
            rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))?
        };
        let dead: Vec<String> = holders.into_iter().filter(|token| is_dead(token)).collect();
        if dead.is_empty() {
            return Ok(0);
        }
        let path = self.path.clone();
        let tx = self.write()?;
        let mut expired = 0;
        for token in &dead {
            expired += tx
                .execute("UPDATE addons SET claim_until = 0 WHERE due_at IS NOT NULL AND claim = ?1", [token])
                .map_err(sql_error(&path))?;
        }
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(expired)
    }

    /// How many addons have a task still to run.
    pub fn pending_count(&self, only: Option<&[String]>) -> anyhow::Result<usize> {
        let only = only.map(serde_json::to_string).transpose()?;
        let count: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM addons WHERE due_at IS NOT NULL \
                 AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1)))",
            )?
            .query_row([only], |row| row.get(0))
            .map_err(sql_error(&self.path))?;
        Ok(count as usize)
    }

    /// When the next task comes due (ms since the epoch), counting a claimed addon as
    /// due when its claim runs out; `None` when no addon has work left.
    pub fn next_due(&self, only: Option<&[String]>) -> anyhow::Result<Option<i64>> {
        let only = only.map(serde_json::to_string).transpose()?;
        self.conn
            .prepare_cached(
                "SELECT min(CASE WHEN claim IS NOT NULL THEN max(due_at, claim_until) ELSE due_at END) \
                 FROM addons WHERE due_at IS NOT NULL AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1)))",
            )?
            .query_row([only], |row| row.get(0))
            .map_err(sql_error(&self.path))
    }
}

/// One step's result, written through `tx` (a transaction or a savepoint): see
/// [`Store::finish_step`].
fn commit_step(
    tx: &Connection,
    path: &Path,
    seen: &Addon,
    token: &str,
    apply: Apply,
) -> anyhow::Result<Option<Outcome>> {
    let now = now_ms();
    let current: Option<(Option<String>, String)> = tx
        .prepare_cached("SELECT claim, state FROM addons WHERE id = ?1")?
        .query_row([&seen.id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()
        .map_err(sql_error(path))?;
    let Some((claim, state)) = current else {
        return Ok(None);
    };
    if claim.as_deref() != Some(token) {
        return Ok(None);
    }
    let release = "UPDATE addons SET claim = NULL, claim_until = NULL WHERE id = ?1";
    if state != seen.state.as_str() {
        tx.prepare_cached(release)?.execute([&seen.id]).map_err(sql_error(path))?;
        return Ok(None);
    }
    let outcome = match apply {
        Apply::Retry { due_at, message, error } => {
            let (last_error, permanent) = error.as_ref().map_or((None, false), |e| (Some(&e.message), e.permanent));
            tx.prepare_cached(
                "UPDATE addons SET due_at = ?2, message = ?3, attempts = attempts + ?4, updated_at = ?5, \
                 last_error = ?6, last_error_permanent = ?7 WHERE id = ?1",
            )?
            .execute(params![seen.id, due_at, message, i64::from(error.is_some()), now, last_error, permanent])
            .map_err(sql_error(path))?;
            match error {
                Some(error) => Some(failed_attempt(tx, seen, &error.message, due_at, now).map_err(sql_error(path))?),
                None => None,
            }
        }
        Apply::CleanupDone { message } => {
            tx.prepare_cached(
                "UPDATE addons SET cleanup = 'done', due_at = NULL, attempts = 0, last_error = NULL, message = ?2, updated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![seen.id, message, now])
            .map_err(sql_error(path))?;
            record(tx, &seen.id, Some(seen.state), seen.state, "cleanup", &message, now).map_err(sql_error(path))?;
            Some(Outcome {
                id: seen.id.clone(),
                name: seen.name.clone(),
                at: now,
                from: seen.state,
                to: seen.state,
                event: "cleanup".into(),
                message,
            })
        }
        Apply::Transition { event, message, config } => {
            let to = machine::transition(seen.state, event)?;
            match event {
                Event::ProvisionComplete => {
                    let config = config.ok_or_else(|| failed("provision completed without config vars"))?;
                    tx.prepare_cached(
                        "UPDATE addons SET state = ?2, config = ?3, due_at = ?4, attempts = 0, last_error = NULL, message = ?5, updated_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![seen.id, to.as_str(), serde_json::to_string(&config)?, now, message])
                    .map_err(sql_error(path))?;
                }
                Event::ConfigVarsSet => {
                    let config = seen.config.as_ref().ok_or_else(|| failed("no config vars were stored"))?;
                    for (key, value) in config {
                        let set = tx
                            .prepare_cached(
                                "UPDATE config_vars SET value = ?4 WHERE app = ?1 AND key = ?2 AND addon_id = ?3",
                            )?
                            .execute(params![seen.app, key, seen.id, value])
                            .map_err(sql_error(path))?;
                        if set != 1 {
                            return Err(failed(format!(
                                "{key} is no longer reserved for this addon on app {}",
                                seen.app
                            )));
                        }
                    }
                    bump_version(tx, &seen.app).map_err(sql_error(path))?;
                    tx.prepare_cached(
                        "UPDATE addons SET state = ?2, due_at = NULL, attempts = 0, last_error = NULL, message = ?3, updated_at = ?4 WHERE id = ?1",
                    )?
                    .execute(params![seen.id, to.as_str(), message, now])
                    .map_err(sql_error(path))?;
                }
                Event::Fail | Event::Deprovision => {
                    release_vars(tx, seen).map_err(sql_error(path))?;
                    let failure = (event == Event::Fail).then_some(&message);
                    tx.prepare_cached(
                        "UPDATE addons SET state = ?2, cleanup = 'pending', due_at = ?3, attempts = 0, last_error = NULL, \
                         message = ?4, failure = ?5, updated_at = ?3 WHERE id = ?1",
                    )?
                    .execute(params![seen.id, to.as_str(), now, message, failure])
                    .map_err(sql_error(path))?;
                }
            }
            record(tx, &seen.id, Some(seen.state), to, event.as_str(), &message, now).map_err(sql_error(path))?;
            Some(Outcome {
                id: seen.id.clone(),
                name: seen.name.clone(),
                at: now,
                from: seen.state,
                to,
                event: event.as_str().into(),
                message,
            })
        }
    };
    tx.prepare_cached(release)?.execute([&seen.id]).map_err(sql_error(path))?;
    Ok(outcome)
}

/// A failed attempt, as `tick -v` reports it. It goes into the addon's log when it
/// is the first of its run, when its message differs from the one before, or when
/// the attempt count is a power of two: a long outage adds a handful of events, not
/// one per retry.
fn failed_attempt(tx: &Connection, seen: &Addon, why: &str, due_at: i64, now: i64) -> rusqlite::Result<Outcome> {
    let attempt = seen.attempts + 1;
    let message = format!(
        "attempt {attempt} failed: {why}; next try in {}",
        humantime::format_duration(std::time::Duration::from_secs(((due_at - now).max(0) as u64).div_ceil(1000)))
    );
    if attempt.is_power_of_two() || seen.last_error.as_deref() != Some(why) {
        record(
            tx,
            &seen.id,
            Some(seen.state),
            seen.state,
            FAILED_ATTEMPT,
            &format!("attempt {attempt} failed: {why}"),
            now,
        )?;
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

/// Whether an error is the state file failing (exit 4), not the step.
fn is_store_failure(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Failure>().is_some_and(|failure| matches!(failure, Failure::Store(_)))
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
            claim_until: i64::MAX,
        };
        let mut addon = store.insert_addon(&new).unwrap();
        for attempt in 1..=20 {
            let why = if attempt == 6 { "refused" } else { "timed out" };
            let error = Some(AttemptError { message: why.into(), permanent: false });
            let apply = Apply::Retry { due_at: 0, message: format!("retrying: {why}"), error };
            let outcome = store.finish_step(&addon, "test", apply).unwrap().unwrap();
            assert!(outcome.message.starts_with(&format!("attempt {attempt} failed: {why}; next try in ")));
            addon = store.claim_due("test", 1, i64::MAX, 1, None).unwrap().pop().unwrap();
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
