//! Credentials: the logins through which apps use an addon's resource. One addon has one
//! owner of its resource and any number of credentials, each named by a slot (0 is the
//! addon's own app, others are attachments) and a generation (how often that slot was
//! rotated). Login name and password derive from the addon's id and seed and the pair
//! alone, so every operation on a credential is idempotent and the state need only
//! remember which generations are live.

pub use crate::credential::{Access, Credential};

/// What kind of difference `verify` found between the server and what was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftKind {
    /// The database, ACL prefix owner or file is gone: recreated empty only with `repair_data`.
    ResourceMissing,
    /// A credential's role, user or ACL user is gone.
    LoginMissing,
    /// A credential's password is not the one derived for it, or it can't log in.
    PasswordChanged,
    /// Rights or rules differ from what was made (superuser, grants, ACL rules, file mode).
    LimitsChanged,
}

impl DriftKind {
    /// The short name for tables and events.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::ResourceMissing => "resource-missing",
            DriftKind::LoginMissing => "login-missing",
            DriftKind::PasswordChanged => "password-changed",
            DriftKind::LimitsChanged => "limits-changed",
        }
    }

    /// Whether repairing it makes an empty resource in place of lost data.
    pub fn loses_data(self) -> bool {
        self == DriftKind::ResourceMissing
    }
}

/// One difference found by `verify`: a message that holds no secret, and the credential
/// it concerns (`None` for the resource itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub kind: DriftKind,
    pub credential: Option<Credential>,
    pub message: String,
}

impl Drift {
    /// A drift of the resource itself.
    pub fn resource(kind: DriftKind, message: String) -> Drift {
        Drift { kind, credential: None, message }
    }

    /// A drift of one credential.
    pub fn of(credential: Credential, kind: DriftKind, message: String) -> Drift {
        Drift { kind, credential: Some(credential), message }
    }
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What `repair` did, and the drift it left for a person (data that `repair_data` was not
/// given to recreate empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repair {
    /// One line per fix made.
    pub done: Vec<String>,
    /// What is still wrong.
    pub left: Vec<Drift>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{new_seed, Params, Resource};

    #[test]
    fn the_original_is_todays_login_and_others_are_numbered() {
        let (params, seed) = (Params::new(), new_seed());
        let addon = Resource::new("0123456789abcdef", &params, &seed);
        assert_eq!(Credential::ORIGINAL.login(&addon).unwrap(), "addons_0123456789abcdef");
        assert_eq!(Credential::ORIGINAL.password(&addon), addon.password());
        let next = Credential::ORIGINAL.rotated();
        assert_eq!(next.login(&addon).unwrap(), "addons_0123456789abcdef_0_1");
        assert_ne!(next.password(&addon), addon.password());
        assert_eq!(next.password(&addon), next.password(&addon));
        assert_ne!(Credential::new(1, 0).password(&addon), next.password(&addon));
        assert_eq!(Credential::new(123, 4567).login(&addon).unwrap().len(), 32);
        for credential in [Credential::ORIGINAL, next, Credential::new(7, 0), Credential::new(10, 20)] {
            assert_eq!(Credential::of_login(&addon, &credential.login(&addon).unwrap()), Some(credential));
        }
        for stranger in ["addons_0123456789abcdef_0_0", "addons_0123456789abcdef_01_1", "addons_0123456789abcdefx", "x"]
        {
            assert_eq!(Credential::of_login(&addon, stranger), None, "{stranger}");
        }
    }
}
