//! Attachments: another app given an addon's vars (`addons attach`), with a credential of
//! its own where the provider can make one. Each has a slot of the addon's credentials
//! (never reused) and a small lifecycle of its own, run by ticks under the addon's claim:
//! `attaching` -> `attached` -> `detaching` -> `detached`.

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
            (S::Attaching | S::Attached, E::Detach) => Ok(S::Detaching),
            (S::Detaching, E::CredentialRevoked) => Ok(S::Detached),
            (S::Attaching | S::Attached | S::Detaching, E::AddonGone) => Ok(S::Detached),
            (S::Attaching, E::CredentialRevoked)
            | (S::Attached, E::CredentialMade | E::CredentialRevoked)
            | (S::Detaching, E::CredentialMade | E::Detach)
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
    /// The generation of its credential.
    pub generation: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Attachment {
    /// The credential this attachment hands its app.
    pub fn credential(&self) -> crate::providers::Credential {
        crate::providers::Credential::new(self.slot, self.generation)
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
