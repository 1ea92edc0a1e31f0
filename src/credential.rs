//! Credentials: the logins through which apps use an addon's resource. One addon has one
//! owner of its resource and any number of credentials, each named by a slot (0 is the
//! addon's own app, others are attachments) and a generation (how often that slot was
//! rotated). Login name and password derive from the addon's id and seed and the pair
//! alone, so every operation on a credential is idempotent and the state need only
//! remember which generations are live.

use crate::resource::{Resource, ALNUM};

/// The name every server-side resource of an addon is made under, `addons_<id>`:
/// derived from the id alone, so a provider always finds what it made. An id that is
/// not the 16 lowercase hex digits `addons` generates is refused, so nothing but hex
/// ever reaches an identifier or an ACL pattern.
pub fn resource_name(addon: &Resource<'_>) -> Result<String, BadAddonId> {
    let valid = addon.id.len() == 16 && addon.id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match valid {
        true => Ok(format!("addons_{}", addon.id)),
        false => Err(BadAddonId(addon.id.to_string())),
    }
}

/// An addon id that is not one `addons` generates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("addon id {0:?} is not 16 lowercase hex digits; the state file may be damaged")]
pub struct BadAddonId(pub String);

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
    pub fn login(self, addon: &Resource<'_>) -> Result<String, BadAddonId> {
        let owner = resource_name(addon)?;
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
        let owner = resource_name(addon).ok()?;
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
