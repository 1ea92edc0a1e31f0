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

/// What a login may do to the addon's resource: everything its owner may
/// (`attach`, the addon's own app), or only read it (`attach --read-only`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    #[default]
    ReadWrite,
    /// Reads what is there and whatever is made later; changes nothing.
    ReadOnly,
}

impl Access {
    /// From the stored flag (`attachments.read_only`) or `--read-only`.
    pub fn of(read_only: bool) -> Access {
        match read_only {
            true => Access::ReadOnly,
            false => Access::ReadWrite,
        }
    }

    /// Whether it only reads.
    pub fn is_read_only(self) -> bool {
        self == Access::ReadOnly
    }

    /// The word `info` and `list` show: `read-only` or `read-write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::ReadWrite => "read-write",
            Access::ReadOnly => "read-only",
        }
    }
}

/// One login to an addon's resource. `Credential::ORIGINAL` (slot 0, generation 0) is the
/// login every addon made before credentials existed was handed: same name, same password.
/// Its name and password come from the slot and generation alone; its `access` says what
/// the provider lets it do, and goes with the slot through every generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credential {
    /// 0 for the addon's own app; another number for each attachment.
    pub slot: u32,
    /// How often the slot was rotated.
    pub generation: u32,
    /// What its login may do (slot 0 always `ReadWrite`).
    pub access: Access,
}

impl Credential {
    /// The addon's own login as provisioned: `addons_<id>` with the addon's password
    /// (postgres names it `addons_<id>_0_0`: there `addons_<id>` owns and never logs in).
    pub const ORIGINAL: Credential = Credential { slot: 0, generation: 0, access: Access::ReadWrite };

    /// The credential of `slot` at `generation`, with the owner's rights.
    pub fn new(slot: u32, generation: u32) -> Credential {
        Credential { slot, generation, access: Access::ReadWrite }
    }

    /// The same credential with `access`.
    pub fn with_access(self, access: Access) -> Credential {
        Credential { access, ..self }
    }

    /// Whether its login only reads.
    pub fn is_read_only(self) -> bool {
        self.access.is_read_only()
    }

    /// The next generation of the same slot: what a rotation makes (with the same access).
    pub fn rotated(self) -> Credential {
        Credential { generation: self.generation.saturating_add(1), ..self }
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
        let credential = Credential::new(number(slot)?, number(generation)?);
        (credential != Credential::ORIGINAL).then_some(credential)
    }
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slot {} generation {}", self.slot, self.generation)
    }
}

/// The generations of one slot's login: the one model of a login's life for the addon's
/// own app (slot 0) and for each attached app. A rotation writes the generation wanted
/// before any server is touched; a tick makes that login and switches the app's vars to
/// it, and later revokes the ones before it. So a tick that crashes anywhere leaves the
/// old or the new generation working, and the next tick goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// The generation the app should use: a rotation counts it up.
    pub generation: u32,
    /// The generation the app's vars hold: below `generation` while the new login is
    /// being made and checked; `None` while the app has none yet (an attachment being
    /// made) or none any more (detached).
    pub vars_generation: Option<u32>,
    /// The oldest generation still to be revoked (every one from it up to, not including,
    /// `generation`), once the vars hold `generation`; `None` when none is.
    pub revoke_from: Option<u32>,
    /// When that revocation is due (ms since the epoch).
    pub revoke_at: Option<i64>,
}

/// The step of a login a tick runs when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginStep {
    /// Make and check the login of `generation`, then put it in the app's vars.
    Make { generation: u32 },
    /// Revoke the generations from `from` up to, not including, `to`.
    Revoke { from: u32, to: u32 },
}

impl Login {
    /// The login of an addon's own app as provisioning leaves it: generation 0, in the vars.
    pub const PROVISIONED: Login =
        Login { generation: 0, vars_generation: Some(0), revoke_from: None, revoke_at: None };
    /// The login of an app just attached: generation 0, to be made.
    pub const TO_MAKE: Login = Login { vars_generation: None, ..Login::PROVISIONED };

    /// The step due at `now`, making first: an old login is never revoked before the vars
    /// stop handing it out.
    pub fn due(&self, now: i64) -> Option<LoginStep> {
        if self.vars_generation != Some(self.generation) {
            return Some(LoginStep::Make { generation: self.generation });
        }
        match (self.revoke_from, self.revoke_at) {
            (Some(from), Some(at)) if at <= now => Some(LoginStep::Revoke { from, to: self.generation }),
            _ => None,
        }
    }

    /// When its next step is due (`now` when a login is to be made), if ever.
    pub fn due_at(&self, now: i64) -> Option<i64> {
        match self.vars_generation != Some(self.generation) {
            true => Some(now),
            false => self.revoke_from.and(self.revoke_at),
        }
    }

    /// Asks for the next generation; the ones the app used so far are revoked at
    /// `revoke_at` (`None`: nothing to revoke, the value is simply replaced). `None` when
    /// the generations are spent.
    pub fn rotate(&mut self, revoke_at: Option<i64>) -> Option<u32> {
        let old = self.generation;
        self.generation = old.checked_add(1)?;
        if let Some(at) = revoke_at {
            self.revoke_from.get_or_insert(old);
            self.revoke_at = Some(at);
        }
        Some(self.generation)
    }

    /// Whether the login of `generation` is the one wanted and not yet in the vars: a
    /// rotation asked again meanwhile makes a finished step stale.
    pub fn wants(&self, generation: u32) -> bool {
        self.generation == generation && self.vars_generation != Some(generation)
    }

    /// The vars now hold `generation`.
    pub fn made(&mut self, generation: u32) {
        self.generation = generation;
        self.vars_generation = Some(generation);
    }

    /// The generations below `to` are revoked.
    pub fn revoked(&mut self, to: u32) {
        self.revoke_from = (to < self.generation).then_some(to);
        if self.revoke_from.is_none() {
            self.revoke_at = None;
        }
    }

    /// Nothing of it is left: every generation is revoked and the vars are gone.
    pub fn gone(&mut self) {
        (self.vars_generation, self.revoke_from, self.revoke_at) = (None, None, None);
    }

    /// The credentials of `slot` whose logins the app uses or still may: the one in the
    /// vars and those still to be revoked (not one being made: that is a tick's step).
    pub fn live(&self, slot: u32) -> Vec<Credential> {
        let mut generations: Vec<u32> = self.vars_generation.into_iter().collect();
        if let Some(from) = self.revoke_from {
            generations.extend((from..self.generation).filter(|g| Some(*g) != self.vars_generation));
        }
        generations.sort();
        generations.into_iter().map(|generation| Credential::new(slot, generation)).collect()
    }

    /// Every credential of `slot` that may have a login, the one being made included:
    /// what removing the slot revokes.
    pub fn every(&self, slot: u32) -> Vec<Credential> {
        let from = [self.revoke_from, self.vars_generation].into_iter().flatten().fold(self.generation, u32::min);
        (from..=self.generation).map(|generation| Credential::new(slot, generation)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_is_made_before_its_old_generations_are_revoked() {
        let mut login = Login::PROVISIONED;
        assert_eq!(login.due(0), None);
        assert_eq!(login.rotate(Some(50)), Some(1));
        assert_eq!(login.due(100), Some(LoginStep::Make { generation: 1 }));
        assert_eq!(login.live(0), [Credential::new(0, 0)]);
        assert!(login.wants(1) && !login.wants(0));
        login.made(1);
        assert_eq!(login.due(10), None);
        assert_eq!(login.due_at(10), Some(50));
        assert_eq!(login.due(50), Some(LoginStep::Revoke { from: 0, to: 1 }));
        assert_eq!(login.live(0), [Credential::new(0, 0), Credential::new(0, 1)]);
        login.revoked(1);
        assert_eq!((login.due_at(60), login.live(3)), (None, vec![Credential::new(3, 1)]));
    }

    #[test]
    fn an_attached_app_starts_with_no_login_and_removing_it_takes_every_generation() {
        let mut login = Login::TO_MAKE;
        assert_eq!(login.due(0), Some(LoginStep::Make { generation: 0 }));
        assert_eq!((login.live(2), login.every(2)), (vec![], vec![Credential::new(2, 0)]));
        login.made(0);
        login.rotate(Some(5));
        assert_eq!(login.every(2), [Credential::new(2, 0), Credential::new(2, 1)]);
        login.gone();
        assert_eq!((login.live(2), login.every(2)), (vec![], vec![Credential::new(2, 1)]));
        assert_eq!(Login { generation: u32::MAX, ..login }.rotate(None), None);
    }
}
