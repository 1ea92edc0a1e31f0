//! The addon record as the store keeps it, and the per-addon secret material that
//! providers derive passwords and keys from.

use std::collections::BTreeMap;

use crate::credential::Login;
use crate::labels::Labels;
use crate::machine::State;
pub use crate::resource::{new_seed, Params, Resource, ALNUM};

/// Whether a terminal addon still owes a call to its provider's `deprovision`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Not terminal yet: nothing to clean.
    None,
    /// The provider's `deprovision` has not succeeded yet.
    Pending,
    /// The provider accepted the `deprovision`.
    Done,
}

impl Cleanup {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Cleanup::None => "none",
            Cleanup::Pending => "pending",
            Cleanup::Done => "done",
        }
    }

    /// Reads the stored name.
    pub fn parse(text: &str) -> Option<Cleanup> {
        [Cleanup::None, Cleanup::Pending, Cleanup::Done].into_iter().find(|c| c.as_str() == text)
    }
}

/// One addon, as stored.
#[derive(Debug, Clone)]
pub struct Addon {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub app: String,
    pub prefix: Option<String>,
    pub params: Params,
    /// 32 bytes from the OS's CSPRNG, drawn when the addon was created; every
    /// password and key the provider hands out derives from it, so a retried
    /// operation hands out the same one.
    pub seed: Vec<u8>,
    pub state: State,
    pub message: String,
    /// The config var names the addon owns (prefix applied).
    pub vars: Vec<String>,
    /// The values fetched from the provider once provisioning completed.
    pub config: Option<BTreeMap<String, String>>,
    /// Whether `begin_provision` has succeeded.
    pub begun: bool,
    pub cleanup: Cleanup,
    /// Failed attempts at the current task (drives the backoff).
    pub attempts: u32,
    /// When the current task is due (ms since the epoch); `None` when there is none.
    pub due_at: Option<i64>,
    /// After this (ms since the epoch) a provisioning addon that is not ready goes to error.
    pub deadline_at: i64,
    pub claim: Option<String>,
    pub claim_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why the addon went to `error`; `None` unless it did. Kept apart from `message`,
    /// which the orphan cleanup goes on to overwrite.
    pub failure: Option<String>,
    /// The provider's message for the latest failed attempt at the current task;
    /// `None` once a task succeeds.
    pub last_error: Option<String>,
    /// Whether the provider called that failure permanent: retrying will not help
    /// until someone fixes what it names.
    pub last_error_permanent: bool,
    /// The addon's labels (`provision --label`, `addons label`, an apply file).
    pub labels: Labels,
    /// When `tick`/`watch` deprovision it (ms since the epoch); `None`: never.
    pub expires_at: Option<i64>,
    /// Its own app's login (credential slot 0): the generation wanted, the one in the
    /// vars, those still to be revoked.
    pub login: Login,
    /// When a check of its resource for drift last began.
    pub verified_at: Option<i64>,
    /// What the last check found and could not repair (a lost database or file), left
    /// for a person; `None` when nothing is.
    pub drift: Option<String>,
    /// The other apps attached to it that are not detached, by slot. Filled by the
    /// store's look-ups for people (`find_addon`, `list_addons`); empty in a row a
    /// tick claimed.
    pub attachments: Vec<crate::attachment::Attachment>,
    /// The id of the addon whose data this one was made a copy of (`provision --from`);
    /// `None` for an addon made empty.
    pub source_id: Option<String>,
    /// The server it was made on, "NAME IDENTITY": the name of its provider's server in
    /// the config file (`default`) and the server's own identity (PostgreSQL's system
    /// identifier, MariaDB's server uuid, a Redis address and run id). Every step goes
    /// to that server alone. `None` for an addon without a server, or made before this
    /// was recorded (its next step records it).
    pub server: Option<String>,
    /// Its own backup schedule (an apply file's `backup_every` and `backup_keep`), in
    /// place of its app's; `None`: its app's, if the app has one.
    pub backup_schedule: Option<crate::backup::Schedule>,
    /// Counted up by the state at every write of the row: a step whose claimed copy
    /// still has the row's version commits from that copy, writing only what it changed.
    pub version: i64,
}

/// What a live display shows of an addon: the few columns of its line, and whether
/// it has work left. A display of thousands of moving addons reads these, not whole
/// records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glance {
    pub id: String,
    pub name: String,
    pub app: String,
    pub provider: String,
    pub state: State,
    pub message: String,
    pub last_error: Option<String>,
    pub attempts: u32,
    pub due_at: Option<i64>,
    /// Whether it has work left (`Addon::has_pending_work`).
    pub moving: bool,
}

impl Glance {
    /// The glance of a whole record.
    pub fn of(addon: &Addon) -> Glance {
        Glance {
            id: addon.id.clone(),
            name: addon.name.clone(),
            app: addon.app.clone(),
            provider: addon.provider.clone(),
            state: addon.state,
            message: addon.message.clone(),
            last_error: addon.last_error.clone(),
            attempts: addon.attempts,
            due_at: addon.due_at,
            moving: addon.has_pending_work(),
        }
    }
}

impl Addon {
    /// Whether the addon still has a task that a tick will run.
    pub fn has_pending_work(&self) -> bool {
        match self.state {
            State::WaitingForProvision | State::Provisioned => true,
            State::Ready => self.login.due_at(0).is_some() || self.attachments.iter().any(|t| t.has_work()),
            State::Deprovisioned | State::Error => self.cleanup == Cleanup::Pending,
        }
    }

    /// Whether an attachment has a step due at `now`: being made or revoked, or a
    /// rotation's old generations due for revocation.
    pub fn attachment_due(&self, now: i64) -> bool {
        self.attachments.iter().any(|attachment| attachment.is_due(now))
    }

    /// Whether `wait` can stop waiting for this addon, `now` being the state's clock
    /// (its revocations are due on it).
    pub fn is_settled(&self, now: i64) -> bool {
        match self.state {
            // A rotation has settled once the vars hold the new login and no revocation is due.
            State::Ready => self.login.due(now).is_none() && !self.attachment_due(now),
            State::Deprovisioned => self.cleanup != Cleanup::Pending,
            // An addon in error is settled once its orphan cleanup has been tried.
            State::Error => self.cleanup != Cleanup::Pending || self.attempts > 0,
            State::WaitingForProvision | State::Provisioned => false,
        }
    }

    /// What the provider needs to know about this addon.
    pub fn resource(&self) -> Resource<'_> {
        Resource::new(&self.id, &self.params, &self.seed).copying(self.copy_source())
    }

    /// The addon whose data this one is made a copy of (`provision --from`).
    pub fn copy_source(&self) -> Option<&str> {
        self.source_id.as_deref().filter(|source| crate::backup::backup_source(source).is_none())
    }

    /// The backup this addon is made from (`provision --from-backup`): its id.
    pub fn backup_source(&self) -> Option<&str> {
        self.source_id.as_deref().and_then(crate::backup::backup_source)
    }

    /// The credentials of its own app whose logins exist: the one in the vars and those
    /// still to be revoked.
    pub fn live_credentials(&self) -> Vec<crate::credential::Credential> {
        self.login.live(0)
    }
}

/// One config var of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVar {
    pub key: String,
    pub value: String,
    /// The display name of the addon that owns it; `None` for a var set by hand.
    pub addon: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_secrets_are_stable_per_seed_and_purpose() {
        let params = Params::new();
        let seed_a = new_seed();
        let seed_b = new_seed();
        let a = Resource::new("x", &params, &seed_a);
        let b = Resource::new("x", &params, &seed_b);
        assert_eq!(a.password(), a.password());
        assert_ne!(a.password(), b.password());
        assert_ne!(a.password(), a.derive_secret("other", 32, ALNUM));
        assert_eq!(a.derive_secret("k", 100, b"ab").len(), 100);
    }
}
