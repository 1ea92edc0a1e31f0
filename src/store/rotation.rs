//! The user's side of a rotation: the new generation is written here, before any
//! server is touched; ticks make its login, switch the vars and revoke the old ones.

use std::time::Duration;

use super::backend::NewEvent;
use super::base::Store;
use super::refused::no_addon;
use super::refused::Refused;
use crate::addon::Addon;
use crate::machine::State;

/// The event name of a rotation asked for.
pub const ROTATE: &str = "rotate";

impl Store {
    /// Asks for the next generation of a ready addon's own credential. The generations
    /// the app used so far are revoked `grace` after the ask (`None`: nothing to revoke,
    /// the value is simply replaced). A claim held by a tick in flight is kept.
    pub fn rotate(&mut self, addon_id: &str, grace: Option<Duration>) -> anyhow::Result<Addon> {
        self.write(|tx| {
            let now = tx.now()?;
            let mut addon = tx.addon(addon_id)?.ok_or_else(|| no_addon(addon_id))?;
            if addon.state != State::Ready {
                return Err(Refused::RotateNotReady { addon: addon.name, state: addon.state }.into());
            }
            let revoke_at = grace.map(|grace| now.saturating_add(grace.as_millis() as i64));
            let generation = addon
                .login
                .rotate(revoke_at)
                .ok_or(Refused::GenerationsSpent { addon: addon.name.clone(), app: None })?;
            let message = match grace {
                Some(grace) => format!(
                    "rotation to generation {generation} asked; the old login is revoked {}",
                    match grace.is_zero() {
                        true => "as soon as the new one is in the vars".to_string(),
                        false => format!("{} after the ask", humantime::format_duration(grace)),
                    }
                ),
                None => format!("rotation to generation {generation} asked"),
            };
            addon.due_at = Some(now);
            addon.updated_at = now;
            tx.update_addon(&addon)?;
            let state = Some(addon.state);
            tx.record_event(&NewEvent {
                addon_id: &addon.id,
                at: now,
                from: state,
                to: addon.state,
                event: ROTATE,
                message: &message,
            })?;
            Ok(addon)
        })
    }
}
