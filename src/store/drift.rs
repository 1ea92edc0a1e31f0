//! The store's side of drift checks: a ready addon's check holds the addon's claim, as a
//! tick's step does, so no rotation, detach or cleanup runs while it repairs; what it
//! found and repaired is recorded as events and as a mark left for a person.

use std::time::Duration;

use super::attachments::live;
use super::backend::{NewEvent, StoreError, Txn};
use super::base::Store;
use super::entry::ready_due;
use crate::addon::Addon;
use crate::machine::State;

/// The event name of a difference a check found.
pub const DRIFT: &str = "drift";
/// The event name of what a check repaired.
pub const REPAIRED: &str = "repaired";

/// What asking to check an addon gave.
#[derive(Debug, Clone)]
pub enum Taken {
    /// The check holds the addon's claim: the addon as it is now, its attachments filled.
    Claimed(Box<Addon>),
    /// The addon is not ready: there is nothing to check.
    NotReady(State),
    /// Another process holds the addon's claim (a tick's step, another check): a check
    /// now could repair what that process is taking away.
    Busy,
    /// Another process took this round of checks meanwhile (`verified_at` moved on).
    Elsewhere,
}

/// What a check found and did, to record.
#[derive(Debug, Clone, Copy)]
pub struct Findings<'a> {
    /// What differed from what was made.
    pub found: &'a [String],
    /// What was put back.
    pub repaired: &'a [String],
    /// What still needs a person, as the addon's mark; `None` clears the mark.
    pub left: Option<&'a str>,
}

impl Store {
    /// The ready addons due for a drift check at `now` every `interval` (their last
    /// check began, or never checked, their last change was, that long ago), with when
    /// that check began, read without reading the addons themselves.
    pub fn due_checks(&self, now: i64, interval: Duration) -> anyhow::Result<Vec<(String, Option<i64>)>> {
        let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        self.read(|tx| tx.due_checks(now.saturating_sub(interval)))
    }

    /// Takes the check of a ready addon for `token`: claims the addon for `lease` (on the
    /// state's clock) and records that the check begins now, unless the addon is not
    /// ready, another live claim holds it, or (`seen` given) another process took this
    /// round meanwhile (its `verified_at` moved on from `seen`).
    pub fn take_check(
        &mut self,
        addon_id: &str,
        token: &str,
        lease: Duration,
        seen: Option<Option<i64>>,
    ) -> anyhow::Result<Taken> {
        self.write_retrying(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(addon_id)? else { return Ok(Taken::Elsewhere) };
            if addon.state != State::Ready {
                return Ok(Taken::NotReady(addon.state));
            }
            if seen.is_some_and(|seen| seen != addon.verified_at) {
                return Ok(Taken::Elsewhere);
            }
            if addon.claim.is_some() && addon.claim_until.is_some_and(|until| until >= now) {
                return Ok(Taken::Busy);
            }
            let until = now.saturating_add(lease.as_millis() as i64);
            addon.claim = Some(token.to_string());
            addon.claim_until = Some(until);
            // A claimed addon has a due time: that is how a dead holder's claims are
            // found. It is put back when the check lets go.
            addon.due_at.get_or_insert(until);
            addon.verified_at = Some(now);
            tx.update_addon(&addon)?;
            addon.attachments = live(tx.attachments(&addon.id)?);
            Ok(Taken::Claimed(Box::new(addon)))
        })
    }

    /// Renews the claim of a check before it repairs, for another `lease`: the addon as
    /// it is now, or `None` when it is no longer ready or the claim is no longer
    /// `token`'s (it ran out and another process took it).
    pub fn renew_check(&mut self, addon_id: &str, token: &str, lease: Duration) -> anyhow::Result<Option<Addon>> {
        self.write_retrying(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(addon_id)? else { return Ok(None) };
            if addon.state != State::Ready || addon.claim.as_deref() != Some(token) {
                return Ok(None);
            }
            addon.claim_until = Some(now.saturating_add(lease.as_millis() as i64));
            tx.update_addon(&addon)?;
            addon.attachments = live(tx.attachments(&addon.id)?);
            Ok(Some(addon))
        })
    }

    /// Ends the check that took `taken`: records `findings` when given and the addon is
    /// still ready (a `drift` event for what was found, a `repaired` event for what was
    /// done, what is left as its mark), and gives up `token`'s claim, the addon due
    /// again as it was before the check.
    pub fn finish_check(&mut self, taken: &Addon, token: &str, findings: Option<Findings<'_>>) -> anyhow::Result<()> {
        self.write_retrying(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(&taken.id)? else { return Ok(()) };
            let mut changed = false;
            if let Some(findings) = findings.filter(|_| addon.state == State::Ready) {
                changed |= record(tx, &mut addon, findings, now)?;
            }
            if addon.claim.as_deref() == Some(token) {
                addon.claim = None;
                addon.claim_until = None;
                // The due time the claim set (see `take_check`) goes; one written meanwhile stays.
                if addon.state == State::Ready && addon.due_at == taken.claim_until {
                    addon.due_at = ready_due(tx, &addon, now)?;
                }
                changed = true;
            }
            if changed {
                tx.update_addon(&addon)?;
            }
            Ok(())
        })
    }
}

/// Records what a check of a ready addon found; whether the addon's mark changed.
fn record(tx: &mut dyn Txn, addon: &mut Addon, findings: Findings<'_>, now: i64) -> Result<bool, StoreError> {
    let Findings { found, repaired, left } = findings;
    // A loss already marked is not logged again at every check.
    let known = repaired.is_empty() && left.is_some() && addon.drift.as_deref() == left;
    for (event, lines) in [(DRIFT, found), (REPAIRED, repaired)] {
        if !lines.is_empty() && !known {
            tx.record_event(&NewEvent {
                addon_id: &addon.id,
                at: now,
                from: Some(addon.state),
                to: addon.state,
                event,
                message: &lines.join("; "),
            })?;
        }
    }
    if addon.drift.as_deref() == left {
        return Ok(false);
    }
    addon.drift = left.map(str::to_string);
    addon.updated_at = now;
    Ok(true)
}
