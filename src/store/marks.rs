//! What a user (or an apply file) marks on an addon after it was made: its labels and
//! when it expires. Neither is a transition: the row is rewritten, no event recorded.

use super::base::Store;
use super::entry::with_expiry;
use super::refused::no_addon;
use super::refused::Refused;
use crate::addon::Addon;
use crate::labels::Labels;

impl Store {
    /// Sets the labels of an addon to what `edit` makes of its current ones, in one
    /// transaction, so two `addons label` at once don't lose each other's edits.
    pub fn relabel(
        &mut self,
        addon_id: &str,
        edit: impl FnOnce(&Labels) -> anyhow::Result<Labels>,
    ) -> anyhow::Result<Addon> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            let labels = edit(&addon.labels)?;
            if labels != addon.labels {
                addon.labels = labels;
                addon.updated_at = now;
                tx.update_addon(&addon)?;
            }
            Ok(addon)
        })
    }

    /// Sets when a live addon expires (`None`: never); `at` is worked out from the
    /// state's clock, which `at` receives. A terminal addon has nothing left to expire.
    pub fn set_expiry(
        &mut self,
        addon_id: &str,
        at: impl FnOnce(i64) -> anyhow::Result<Option<i64>>,
    ) -> anyhow::Result<Addon> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            if addon.state.is_terminal() {
                return Err(Refused::ExpireNotLive { addon: addon.name, state: addon.state }.into());
            }
            expire_at(&mut addon, at(now)?);
            addon.updated_at = now;
            tx.update_addon(&addon)?;
            Ok(addon)
        })
    }
}

/// Sets when a live addon expires, and when it is next due after that.
pub(super) fn expire_at(addon: &mut Addon, at: Option<i64>) {
    addon.expires_at = at;
    // A ready addon is due only at its expiry; a provisioning one keeps its task's
    // time unless the expiry comes first.
    let task_due = if addon.state.task().is_some() { addon.due_at } else { None };
    addon.due_at = with_expiry(task_due, addon);
}
