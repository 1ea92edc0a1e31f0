//! Attachments: another app given an addon's vars (`addons attach`), with a credential of
//! its own where the provider can make one. Each has a slot of the addon's credentials
//! (never reused) and a small lifecycle of its own, run by ticks under the addon's claim:
//! `attaching` -> `attached` -> `detaching` -> `detached`.

use crate::credential::{Access, Credential, Login};

/// Where an attachment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AttachmentState {
    /// Its vars are reserved on the app; a tick makes its credential and fills them.
    Attaching,
    /// The app has the vars and (where the provider makes one) a login of its own.
    Attached,
    /// The vars are gone from the app; a tick revokes its credential.
    Detaching,
    /// Nothing of it is left; the row stays so its slot is never used again.
    Detached,
}

/// What happens to an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentEvent {
    /// A tick made its credential and filled the app's vars.
    CredentialMade,
    /// `addons detach`: the app's vars are removed at once.
    Detach,
    /// A tick revoked its credential.
    CredentialRevoked,
    /// The addon was deprovisioned (or failed): its provider's cleanup removes every login.
    AddonGone,
    /// `addons rotate --app`: a tick makes the next generation's login and switches the
    /// app's vars to it (they keep the old one meanwhile).
    Rotate,
}

impl AttachmentState {
    pub const ALL: [AttachmentState; 4] =
        [AttachmentState::Attaching, AttachmentState::Attached, AttachmentState::Detaching, AttachmentState::Detached];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentState::Attaching => "attaching",
            AttachmentState::Attached => "attached",
            AttachmentState::Detaching => "detaching",
            AttachmentState::Detached => "detached",
        }
    }

    /// Reads the stored name.
    pub fn parse(text: &str) -> Option<AttachmentState> {
        AttachmentState::ALL.into_iter().find(|state| state.as_str() == text)
    }

    /// Whether a tick has work to do for it.
    pub fn has_task(self) -> bool {
        matches!(self, AttachmentState::Attaching | AttachmentState::Detaching)
    }

    /// Whether the app holds (or is about to hold) the addon's vars through it.
    pub fn is_live(self) -> bool {
        matches!(self, AttachmentState::Attaching | AttachmentState::Attached)
    }

    /// The one door for an attachment's state: the transition table.
    pub fn after(self, event: AttachmentEvent) -> Result<AttachmentState, String> {
        use AttachmentEvent as E;
        use AttachmentState as S;
        match (self, event) {
            (S::Attaching, E::CredentialMade) => Ok(S::Attached),
            (S::Attached, E::Rotate) => Ok(S::Attaching),
            (S::Attaching | S::Attached, E::Detach) => Ok(S::Detaching),
            (S::Detaching, E::CredentialRevoked) => Ok(S::Detached),
            (S::Attaching | S::Attached | S::Detaching, E::AddonGone) => Ok(S::Detached),
            (S::Attaching, E::CredentialRevoked | E::Rotate)
            | (S::Attached, E::CredentialMade | E::CredentialRevoked)
            | (S::Detaching, E::CredentialMade | E::Detach | E::Rotate)
            | (S::Detached, _) => Err(format!("an attachment that is {} can't take {event:?}", self.as_str())),
        }
    }
}

impl std::fmt::Display for AttachmentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One app attached to an addon, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub addon_id: String,
    pub app: String,
    pub prefix: Option<String>,
    /// The credential slot it uses (1 and up; 0 is the addon's own app).
    pub slot: u32,
    pub state: AttachmentState,
    /// Its app's login in `slot`: the same model as the addon's own app's (slot 0).
    pub login: Login,
    /// What its app's login may do (`attach --read-only`), fixed when it is made: every
    /// generation of the slot has it.
    pub access: Access,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Attachment {
    /// The credential this attachment hands its app.
    pub fn credential(&self) -> Credential {
        Credential::new(self.slot, self.login.generation).with_access(self.access)
    }

    /// When a tick has its next step to run (`now` when one is waiting), if ever: its
    /// login's (one to make, or a rotation's old generations at their time) while the app
    /// holds the vars, the revocation of every generation once it is detaching.
    pub fn due_at(&self, now: i64) -> Option<i64> {
        match self.state {
            AttachmentState::Attaching | AttachmentState::Attached => self.login.due_at(now),
            AttachmentState::Detaching => Some(now),
            AttachmentState::Detached => None,
        }
    }

    /// Whether it has a step left at any time (what `pending` counts).
    pub fn has_work(&self) -> bool {
        self.due_at(0).is_some()
    }

    /// Whether a step of it is due at `now`.
    pub fn is_due(&self, now: i64) -> bool {
        self.due_at(now).is_some_and(|at| at <= now)
    }

    /// The var names it gives its app, of the `declared` ones of the addon's provider
    /// (prefixed).
    pub fn vars(&self, declared: &[&str]) -> Vec<String> {
        declared.iter().map(|var| crate::names::prefixed(self.prefix.as_deref(), var)).collect()
    }

    /// What its step left to run is, for messages: "attach of app worker", "rotation of
    /// app worker's login", "detach of app worker".
    pub fn step(&self) -> String {
        match self.state {
            AttachmentState::Attaching if self.login.vars_generation.is_none() => format!("attach of app {}", self.app),
            AttachmentState::Attaching | AttachmentState::Attached => format!("rotation of app {}'s login", self.app),
            AttachmentState::Detaching | AttachmentState::Detached => format!("detach of app {}", self.app),
        }
    }

    /// Every generation of its slot that may have a login: what a detach revokes.
    pub fn every_credential(&self) -> Vec<Credential> {
        self.login.every(self.slot).into_iter().map(|credential| credential.with_access(self.access)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_table_allows_only_the_lifecycle() {
        for state in AttachmentState::ALL {
            assert_eq!(AttachmentState::parse(state.as_str()), Some(state));
        }
        use AttachmentEvent as E;
        use AttachmentState as S;
        assert_eq!(S::Attaching.after(E::CredentialMade), Ok(S::Attached));
        assert_eq!(S::Attached.after(E::Detach), Ok(S::Detaching));
        assert_eq!(S::Attaching.after(E::Detach), Ok(S::Detaching));
        assert_eq!(S::Detaching.after(E::CredentialRevoked), Ok(S::Detached));
        assert_eq!(S::Attached.after(E::AddonGone), Ok(S::Detached));
        assert!(S::Detached.after(E::Detach).is_err());
        assert!(S::Detaching.after(E::CredentialMade).is_err());
        assert!(S::Attached.after(E::CredentialMade).is_err());
    }
}
