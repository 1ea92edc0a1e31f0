//! What a user (or an apply file) marks on an addon after it was made: its labels and
//! when it expires. Neither is a transition: the row is rewritten, no event recorded.

use super::base::Store;
use super::entry::with_expiry;
use super::refused::no_addon;
use super::refused::Refused;
use crate::addon::Addon;
use crate::labels::{LabelEdit, Labels};

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

/// What [`Store::remark`] changed on an addon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remarked {
    /// The labels set (new, or with another value).
    pub labels: Vec<LabelEdit>,
    /// The new expiry (`None` inside: never), when it changed.
    pub expiry: Option<Option<i64>>,
}

impl Store {
    /// Brings a live addon's marks to what a re-run asked (`provision --ensure`), in one
    /// transaction: `labels` set (the others kept), and the expiry `expiry` gives from
    /// the state's clock and the addon's expiry (`None`: keep it).
    pub fn remark(
        &mut self,
        addon_id: &str,
        labels: &Labels,
        expiry: impl FnOnce(i64, Option<i64>) -> anyhow::Result<Option<Option<i64>>>,
    ) -> anyhow::Result<(Addon, Remarked)> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            let edits: Vec<LabelEdit> = labels
                .iter()
                .filter(|(key, value)| addon.labels.get(key) != Some(*value))
                .map(|(key, value)| LabelEdit::Set { key: key.to_string(), value: value.to_string() })
                .collect();
            let changed = Remarked { expiry: expiry(now, addon.expires_at)?, labels: edits };
            if changed == Remarked::default() {
                return Ok((addon, changed));
            }
            if addon.state.is_terminal() {
                return Err(Refused::ExpireNotLive { addon: addon.name, state: addon.state }.into());
            }
            addon.labels = addon.labels.edited(&changed.labels)?;
            if let Some(at) = changed.expiry {
                expire_at(&mut addon, at);
            }
            addon.updated_at = now;
            tx.update_addon(&addon)?;
            Ok((addon, changed))
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
