//! The store's side of drift checks: which ready addon a check takes, and what it
//! found and repaired, recorded as events and as a mark left for a person.

use super::backend::{NewEvent, StoreError, Txn};
use super::Store;
use crate::addon::Addon;
use crate::machine::State;

/// The event name of a difference a check found.
pub const DRIFT: &str = "drift";
/// The event name of what a check repaired.
pub const REPAIRED: &str = "repaired";

impl Store {
    /// Takes the check of a ready addon: records that it begins now and returns the
    /// addon, unless it is no longer ready or (`seen` given) another process took this
    /// round meanwhile (its `verified_at` moved on from `seen`).
    pub fn take_check(&mut self, addon_id: &str, seen: Option<Option<i64>>) -> anyhow::Result<Option<Addon>> {
        self.write(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(addon_id)? else { return Ok(None) };
            if addon.state != State::Ready || seen.is_some_and(|seen| seen != addon.verified_at) {
                return Ok(None);
            }
            addon.verified_at = Some(now);
            tx.update_addon(&addon)?;
            Ok(Some(addon))
        })
    }

    /// Records a check's result on a ready addon: a `drift` event for what was found, a
    /// `repaired` event for what was done, and `left` (what still needs a person) as its
    /// mark, cleared when nothing is left.
    pub fn record_check(
        &mut self,
        addon_id: &str,
        found: &[String],
        repaired: &[String],
        left: Option<String>,
    ) -> anyhow::Result<()> {
        self.write(|tx| {
            let now = tx.now()?;
            let Some(mut addon) = tx.addon(addon_id)?.filter(|addon| addon.state == State::Ready) else {
                return Ok(());
            };
            // A loss already marked is not logged again at every check.
            let known = repaired.is_empty() && left.is_some() && addon.drift == left;
            for (event, lines) in [(DRIFT, found), (REPAIRED, repaired)] {
                if !lines.is_empty() && !known {
                    record(tx, &addon, event, &lines.join("; "), now)?;
                }
            }
            if addon.drift != left {
                addon.drift = left;
                addon.updated_at = now;
                tx.update_addon(&addon)?;
            }
            Ok(())
        })
    }
}

/// Records an upkeep event of a ready addon (`from == to`).
fn record(tx: &mut dyn Txn, addon: &Addon, event: &str, message: &str, at: i64) -> Result<(), StoreError> {
    let state = Some(addon.state);
    tx.record_event(&NewEvent { addon_id: &addon.id, at, from: state, to: addon.state, event, message })
}
