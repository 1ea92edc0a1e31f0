//! The user's side of attachments (`addons attach`, `addons detach`) and what the rest
//! of the store does with them: the vars of the attached app reserved and released at
//! once, the work left for ticks marked on the addon, every step recorded in its log.

use super::backend::{NewEvent, StoreError, Txn};
use super::base::Store;
use super::refused::no_addon;
use super::refused::{Refused, VarsOf};
use crate::addon::Addon;
use crate::attachment::{Attachment, AttachmentEvent, AttachmentState};
use crate::credential::{Access, Login};
use crate::error::failed;
use crate::machine::State;

/// The event names of an attachment's steps, as `log` shows them.
pub const ATTACH: &str = "attach";
pub const ATTACHED: &str = "attached";
pub const DETACH: &str = "detach";
pub const DETACHED: &str = "detached";

impl Store {
    /// Attaches `app` to a live addon: reserves the addon's vars (with `prefix`) on the
    /// app and leaves the making of its credential (with `access`) to a tick. The same
    /// attachment asked again (same app, prefix and access) is the one in place, so a
    /// script may run it twice: the bool says whether this call made it. Refused, with
    /// nothing written, when the app owns the addon or is attached already with another
    /// prefix or access (usage), or when a var is taken (as `provision` refuses it).
    /// `declared` are the var names the addon's provider hands out.
    pub fn attach(
        &mut self,
        addon_id: &str,
        (app, prefix, access): (&str, Option<&str>, Access),
        declared: &[&str],
    ) -> anyhow::Result<(Addon, Attachment, bool)> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            let (name, app_) = (addon.name.clone(), app.to_string());
            if !addon.state.is_live() {
                return Err(Refused::AttachNotLive { addon: name, state: addon.state }.into());
            }
            if addon.app == app {
                return Err(Refused::AttachOwnApp { addon: name, app: app_ }.into());
            }
            let attachments = tx.attachments(&addon.id)?;
            if let Some(held) = attachments.iter().find(|t| t.app == app && t.state.is_live()) {
                // The attachment asked for is in place: nothing to do.
                if held.prefix.as_deref() == prefix && held.access == access {
                    let held = held.clone();
                    addon.attachments = live(attachments);
                    return Ok((addon, held, false));
                }
                if held.prefix.as_deref() == prefix {
                    return Err(Refused::AttachedOtherAccess { addon: name, app: app_, access: held.access }.into());
                }
                return Err(Refused::AttachedAlready { addon: name, app: app_, prefix: held.prefix.clone() }.into());
            }
            let vars: Vec<String> = declared.iter().map(|var| crate::names::prefixed(prefix, var)).collect();
            for key in &vars {
                if let Some(owner) = tx.var_owner(app, key)? {
                    let (app, key, holder) = (app_, key.clone(), owner.into());
                    return Err(Refused::VarTaken { app, key, holder, vars: VarsOf::Attachment }.into());
                }
            }
            let slot = attachments.iter().map(|t| t.slot).max().unwrap_or(0).checked_add(1);
            let slot = slot.ok_or(Refused::NoSlotLeft { addon: name })?;
            tx.ensure_app(app)?;
            for key in &vars {
                tx.reserve_var(app, key, &addon.id)?;
            }
            let attachment = Attachment {
                addon_id: addon.id.clone(),
                app: app.to_string(),
                prefix: prefix.map(str::to_string),
                slot,
                state: AttachmentState::Attaching,
                login: Login::TO_MAKE,
                access,
                created_at: now,
                updated_at: now,
            };
            tx.put_attachment(&attachment)?;
            let message = match access {
                Access::ReadWrite => format!("attaching app {app} ({}; credential slot {slot})", vars.join(", ")),
                Access::ReadOnly => {
                    format!("attaching app {app} read-only ({}; credential slot {slot})", vars.join(", "))
                }
            };
            wake(tx, &mut addon, now)?;
            record(tx, &addon, ATTACH, &message, now)?;
            addon.attachments = live(tx.attachments(&addon.id)?);
            Ok((addon, attachment, true))
        })
    }

    /// Detaches `app` from an addon: its vars go at once, its credential is revoked by a
    /// tick. Refused, with nothing written, for the addon's own app (deprovision it
    /// instead) and for an app not attached.
    pub fn detach(&mut self, addon_id: &str, app: &str) -> anyhow::Result<(Addon, Attachment)> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            if addon.app == app {
                return Err(Refused::DetachOwnApp { addon: addon.name, app: app.to_string() }.into());
            }
            let found = tx.attachments(&addon.id)?.into_iter().find(|t| t.app == app && t.state.is_live());
            let Some(mut attachment) = found else {
                return Err(Refused::NotAttached { addon: addon.name, app: app.to_string() }.into());
            };
            attachment.state = attachment.state.after(AttachmentEvent::Detach).map_err(failed)?;
            attachment.updated_at = now;
            tx.put_attachment(&attachment)?;
            if tx.release_app_vars(&addon.id, app)? > 0 {
                tx.bump_version(app)?;
            }
            let message = format!("app {app} detached: its vars removed; its credential is revoked on the next tick");
            wake(tx, &mut addon, now)?;
            record(tx, &addon, DETACH, &message, now)?;
            addon.attachments = live(tx.attachments(&addon.id)?);
            Ok((addon, attachment))
        })
    }

    /// The live addons attached to an app (not those it owns), for `list APP`.
    pub fn attached_addons(&self, app: &str) -> anyhow::Result<Vec<Addon>> {
        self.read(|tx| {
            let mut addons = Vec::new();
            for attachment in tx.live_attachments(Some(app))? {
                if addons.iter().any(|a: &Addon| a.id == attachment.addon_id) {
                    continue;
                }
                if let Some(mut addon) = tx.addon(&attachment.addon_id)?.filter(|a| a.state.is_live()) {
                    addon.attachments = live(tx.attachments(&addon.id)?);
                    addons.push(addon);
                }
            }
            addons.sort_by_key(|a| a.created_at);
            Ok(addons)
        })
    }

    /// The first attachment of an addon that has a step due, by slot.
    pub fn attachment_task(&self, addon_id: &str) -> anyhow::Result<Option<Attachment>> {
        self.read(|tx| {
            let now = tx.now()?;
            Ok(tx.attachments(addon_id)?.into_iter().find(|t| t.is_due(now)))
        })
    }

    /// Asks for the next generation of an attached app's own login (`rotate --app`): a
    /// tick makes it and switches the app's vars; the generations the app used so far
    /// are revoked `grace` after the ask. Refused, with nothing written, when the app is
    /// not attached and settled.
    pub fn rotate_attachment(
        &mut self,
        addon_id: &str,
        app: &str,
        grace: std::time::Duration,
    ) -> anyhow::Result<(Addon, Attachment)> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            let (name, app_) = (addon.name.clone(), app.to_string());
            let found = tx.attachments(&addon.id)?.into_iter().find(|t| t.app == app && t.state.is_live());
            let Some(mut attachment) = found else {
                return Err(Refused::NotAttached { addon: name, app: app_ }.into());
            };
            let to = attachment
                .state
                .after(AttachmentEvent::Rotate)
                .map_err(|_| Refused::LoginNotMade { addon: name.clone(), app: app_.clone() })?;
            let revoke_at = now.saturating_add(grace.as_millis() as i64);
            attachment
                .login
                .rotate(Some(revoke_at))
                .ok_or(Refused::GenerationsSpent { addon: name, app: Some(app_) })?;
            attachment.state = to;
            attachment.updated_at = now;
            tx.put_attachment(&attachment)?;
            let message = format!("rotation of app {app}'s login to generation {} asked", attachment.login.generation);
            wake(tx, &mut addon, now)?;
            record(tx, &addon, super::rotation::ROTATE, &message, now)?;
            addon.attachments = live(tx.attachments(&addon.id)?);
            Ok((addon, attachment))
        })
    }
}

/// The attachments people see: those not detached.
pub(super) fn live(attachments: Vec<Attachment>) -> Vec<Attachment> {
    attachments.into_iter().filter(|t| t.state != AttachmentState::Detached).collect()
}

/// Fills the attachments of addons read for people, with one query for them all.
pub(super) fn fill(tx: &mut dyn Txn, addons: &mut [Addon]) -> Result<(), StoreError> {
    if addons.is_empty() {
        return Ok(());
    }
    let attachments = match addons {
        [addon] => live(tx.attachments(&addon.id)?),
        _ => tx.live_attachments(None)?,
    };
    for attachment in attachments {
        if let Some(addon) = addons.iter_mut().find(|a| a.id == attachment.addon_id) {
            addon.attachments.push(attachment);
        }
    }
    Ok(())
}

/// When the addon's attachments next have a step due (`now` when one is waiting).
pub(super) fn next_due(tx: &mut dyn Txn, addon_id: &str, now: i64) -> Result<Option<i64>, StoreError> {
    Ok(tx.attachments(addon_id)?.iter().filter_map(|t| t.due_at(now)).min())
}

/// Makes a ready addon due now, so a tick runs its attachment's step; an addon in
/// another live state has a task due already and runs it once ready. A claim held
/// by a tick in flight is kept.
fn wake(tx: &mut dyn Txn, addon: &mut Addon, now: i64) -> Result<(), StoreError> {
    if addon.state == State::Ready {
        addon.due_at = Some(addon.due_at.map_or(now, |due| due.min(now)));
    }
    addon.updated_at = now;
    tx.update_addon(addon)
}

/// Records a step of an attachment in the addon's log (no transition of the addon).
pub(super) fn record(tx: &mut dyn Txn, addon: &Addon, event: &str, message: &str, now: i64) -> Result<(), StoreError> {
    tx.record_event(&NewEvent {
        addon_id: &addon.id,
        at: now,
        from: Some(addon.state),
        to: addon.state,
        event,
        message,
    })
}

/// What the addon's removal (deprovision, or error) does to its attachments: each app's
/// vars are gone (the caller released every var of the addon) and its file stale; the
/// provider's cleanup removes every login, so each attachment is done with.
pub(super) fn addon_gone(tx: &mut dyn Txn, addon: &Addon, now: i64) -> Result<(), StoreError> {
    for mut attachment in tx.attachments(&addon.id)? {
        let Ok(to) = attachment.state.after(AttachmentEvent::AddonGone) else { continue };
        let was = attachment.state;
        attachment.state = to;
        attachment.login.gone();
        attachment.updated_at = now;
        tx.put_attachment(&attachment)?;
        if was.is_live() {
            tx.bump_version(&attachment.app)?;
        }
        let message = format!("app {} detached: the addon's cleanup removes its login", attachment.app);
        record(tx, addon, DETACHED, &message, now)?;
    }
    Ok(())
}
