//! What entering a state does to an addon, applied from the data `machine::on_entry`
//! gives: written once, used by the creation, the user's deprovision and every step.

use crate::addon::{Addon, Cleanup};
use crate::machine::{on_entry, CleanupOnEntry, DueOnEntry, Event, State, VarsOnEntry};

use super::backend::{NewEvent, StoreError, Txn};
use super::refused::{StepError, StepRefusal};

/// Whether the addon's row is new or already stored.
#[derive(Debug, Clone, Copy)]
pub(super) enum Row<'a> {
    Insert,
    Update,
    /// Stored as this (read in the transaction, or claimed at the version it still has):
    /// only what changed is written.
    Changed(&'a Addon),
}

/// A move of an addon into a state, as the creation, the deprovision or a step asks.
pub(super) struct Move<'a> {
    pub to: State,
    pub event: Event,
    /// The addon's message once there.
    pub message: &'a str,
    /// The recorded event's message.
    pub logged: &'a str,
}

/// Makes `change`: sets what every entry sets (message, time, attempts and last
/// failure cleared) and what [`on_entry`] says for the state entered (vars, cleanup,
/// due time, failure kept), writes the row, and records the event. The claim is the
/// caller's business.
pub(super) fn enter(
    tx: &mut dyn Txn,
    addon: &mut Addon,
    change: Move<'_>,
    now: i64,
    row: Row<'_>,
) -> Result<(), StepError> {
    let Move { to, event, message, logged } = change;
    let stored = !matches!(row, Row::Insert);
    let from = stored.then_some(addon.state);
    let entry = on_entry(to);
    addon.state = to;
    addon.message = message.to_string();
    addon.updated_at = now;
    addon.attempts = 0;
    addon.last_error = None;
    addon.last_error_permanent = false;
    addon.cleanup = match entry.cleanup {
        CleanupOnEntry::None => Cleanup::None,
        CleanupOnEntry::Pending => Cleanup::Pending,
    };
    addon.due_at = with_expiry(due(entry.due, now), addon);
    // A ready addon with an attachment's step left has that step due.
    if to == State::Ready && stored {
        if let Some(at) = super::attachments::next_due(tx, &addon.id, now)? {
            addon.due_at = with_expiry(Some(at), addon);
        }
    }
    if entry.keeps_failure {
        addon.failure = Some(message.to_string());
    }
    match row {
        Row::Insert => tx.insert_addon(addon)?,
        Row::Update => tx.update_addon(addon)?,
        Row::Changed(stored) => tx.update_addon_from(stored, addon)?,
    }
    match entry.vars {
        VarsOnEntry::Reserve => {
            tx.ensure_app(&addon.app)?;
            for key in &addon.vars {
                tx.reserve_var(&addon.app, key, &addon.id)?;
            }
        }
        VarsOnEntry::Keep => {}
        VarsOnEntry::Fill => {
            let config = addon.config.as_ref().ok_or_else(|| StepRefusal("no config vars were stored".into()))?;
            for (key, value) in config {
                if !tx.fill_var(&addon.app, key, &addon.id, value)? {
                    return Err(StepRefusal(format!(
                        "{key} is no longer reserved for this addon on app {}",
                        addon.app
                    ))
                    .into());
                }
            }
            tx.bump_version(&addon.app)?;
        }
        VarsOnEntry::Release => release_vars(tx, addon)?,
    }
    tx.record_event(&NewEvent { addon_id: &addon.id, at: now, from, to, event: event.as_str(), message: logged })?;
    if entry.vars == VarsOnEntry::Release {
        super::attachments::addon_gone(tx, addon, now)?;
    }
    Ok(())
}

/// When a task is due, from the machine's word for it.
pub(super) fn due(due: DueOnEntry, now: i64) -> Option<i64> {
    match due {
        DueOnEntry::Now => Some(now),
        DueOnEntry::Never => None,
    }
}

/// When a live addon is next due: its task's time, or its expiry when that comes first
/// (a tick then deprovisions it). A terminal addon's expiry no longer matters.
pub(super) fn with_expiry(task_due: Option<i64>, addon: &Addon) -> Option<i64> {
    match (task_due, addon.expires_at.filter(|_| addon.state.is_live())) {
        (Some(task), Some(expiry)) => Some(task.min(expiry)),
        (task, expiry) => task.or(expiry),
    }
}

/// When a ready addon is next due: its rotation's next step, an attachment's, or its
/// expiry, whichever comes first; `None` when nothing is left to do.
pub(super) fn ready_due(tx: &mut dyn Txn, addon: &Addon, now: i64) -> Result<Option<i64>, StoreError> {
    let upkeep = match (addon.login.due_at(now), super::attachments::next_due(tx, &addon.id, now)?) {
        (Some(rotation), Some(attachment)) => Some(rotation.min(attachment)),
        (rotation, attachment) => rotation.or(attachment),
    };
    Ok(with_expiry(upkeep, addon))
}

/// Removes an addon's config vars from its app; its env file is then stale.
fn release_vars(tx: &mut dyn Txn, addon: &Addon) -> Result<(), StoreError> {
    if tx.release_vars(&addon.id)? > 0 {
        tx.bump_version(&addon.app)?;
    }
    Ok(())
}
