//! Credentials: the logins through which apps use an addon's resource. One addon has one
//! owner of its resource and any number of credentials, each named by a slot (0 is the
//! addon's own app, others are attachments) and a generation (how often that slot was
//! rotated). Login name and password derive from the addon's id and seed and the pair
//! alone, so every operation on a credential is idempotent and the state need only
//! remember which generations are live.

use crate::addon::{Resource, ALNUM};

use super::ProviderError;

/// One login to an addon's resource. `Credential::ORIGINAL` (slot 0, generation 0) is the
/// login every addon made before credentials existed was handed: same name, same password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credential {
    /// 0 for the addon's own app; another number for each attachment.
    pub slot: u32,
    /// How often the slot was rotated.
    pub generation: u32,
}

impl Credential {
    /// The addon's own login as provisioned: `addons_<id>` with the addon's password
    /// (postgres names it `addons_<id>_0_0`: there `addons_<id>` owns and never logs in).
    pub const ORIGINAL: Credential = Credential { slot: 0, generation: 0 };

    /// The credential of `slot` at `generation`.
    pub fn new(slot: u32, generation: u32) -> Credential {
        Credential { slot, generation }
    }

    /// The next generation of the same slot: what a rotation makes.
    pub fn rotated(self) -> Credential {
        Credential { slot: self.slot, generation: self.generation.saturating_add(1) }
    }

    /// The login name: `addons_<id>` for the original, `addons_<id>_<slot>_<generation>`
    /// for every other (at most 32 characters while slot and generation have at most 7
    /// digits between them, which MySQL's user names need).
    pub fn login(self, addon: &Resource<'_>) -> Result<String, ProviderError> {
        let owner = super::resource_name(addon)?;
        Ok(match self == Credential::ORIGINAL {
            true => owner,
            false => format!("{owner}_{}_{}", self.slot, self.generation),
        })
    }

    /// The password: the addon's own for the original, else 32 alphanumerics derived from
    /// the seed for this slot and generation.
    pub fn password(self, addon: &Resource<'_>) -> String {
        match self == Credential::ORIGINAL {
            true => addon.password(),
            false => addon.derive_secret(&format!("password/{}/{}", self.slot, self.generation), 32, ALNUM),
        }
    }

    /// Reads a login name back: `Some` when `login` is one of `addon`'s credentials.
    pub fn of_login(addon: &Resource<'_>, login: &str) -> Option<Credential> {
        let owner = super::resource_name(addon).ok()?;
        let rest = login.strip_prefix(owner.as_str())?;
        if rest.is_empty() {
            return Some(Credential::ORIGINAL);
        }
        let (slot, generation) = rest.strip_prefix('_')?.split_once('_')?;
        let number = |text: &str| match text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0') {
            true => text.parse::<u32>().ok(),
            false => (text == "0").then_some(0),
        };
        let credential = Credential { slot: number(slot)?, generation: number(generation)? };
        (credential != Credential::ORIGINAL).then_some(credential)
    }
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot {} generation {}", self.slot, self.generation)
    }
}

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

/// The repair that the providers share: the resource is made again (empty, when it was
/// lost, only with `repair_data`), then each credential that drifted is made again.
pub fn repair_with(
    addon: &Resource<'_>,
    drift: &[Drift],
    repair_data: bool,
    mut resource: impl FnMut() -> Result<String, ProviderError>,
    mut login: impl FnMut(Credential) -> Result<(), ProviderError>,
) -> Result<Repair, ProviderError> {
    let mut repair = Repair::default();
    let (of_resource, of_logins): (Vec<&Drift>, Vec<&Drift>) = drift.iter().partition(|d| d.credential.is_none());
    if !of_resource.is_empty() {
        match of_resource.iter().any(|d| d.kind.loses_data()) && !repair_data {
            true => repair.left.extend(of_resource.into_iter().cloned()),
            false => repair.done.push(resource()?),
        }
    }
    let mut credentials: Vec<Credential> = of_logins.iter().filter_map(|d| d.credential).collect();
    credentials.sort();
    credentials.dedup();
    for credential in credentials {
        login(credential)?;
        repair.done.push(format!("login {} made again as it was", credential.login(addon)?));
    }
    Ok(repair)
}

/// The credential operations of a server provider, handed to its inherent `make_credential`,
/// `take_back`, `check` and `mend` (kept in its own `credentials.rs`): expanded inside its
/// `impl Provider`.
macro_rules! credential_operations {
    () => {
        fn ensure_credential(
            &self,
            addon: Resource<'_>,
            credential: Credential,
        ) -> Result<Vec<(String, String)>, ProviderError> {
            self.make_credential(addon, credential)
        }

        fn revoke_credential(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
            self.take_back(addon, credential)
        }

        fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
            self.check(addon, credentials)
        }

        fn repair(
            &self,
            addon: Resource<'_>,
            _credentials: &[Credential],
            drift: &[Drift],
            repair_data: bool,
        ) -> Result<Repair, ProviderError> {
            self.mend(addon, drift, repair_data)
        }
    };
}
pub(crate) use credential_operations;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{new_seed, Params};

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
