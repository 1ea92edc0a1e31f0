//! Credentials on redis: one ACL user per credential (`addons_<id>` for the original,
//! `addons_<id>_<slot>_<generation>` for the others), each with the same key and channel
//! patterns and command rules. A user per credential rather than several passwords of one
//! user: deleting a user ends its connections (`CLIENT KILL USER`) and nobody else's.

use redis::Value;
use sha2::{Digest, Sha256};

use super::{Names, Redis, Session, COMMAND_RULES, READ_ONLY_RULES};
use crate::addon::Resource;
use crate::providers::credential::{Access, Credential, Drift, DriftKind};
use crate::providers::{Credentials, ProviderError, Verifier};

/// An ACL user's fields as `ACL GETUSER` gives them, `None` when there is no such user.
struct AclUser {
    flags: Vec<String>,
    passwords: Vec<String>,
    /// Commands, keys, channels and selectors, in the server's own words.
    rules: Vec<String>,
}

impl Session<'_> {
    /// Gives `user` the addon's patterns and command rules and `password` alone, from a
    /// clean slate, so running it again (or over a hand-made change) converges. A
    /// read-only user's key pattern lets it read alone (`%R~`), and the read-only rules
    /// take every writing command away besides.
    pub(super) fn set_user(
        &mut self,
        names: &Names,
        (user, access): (&str, Access),
        password: Option<&str>,
    ) -> Result<(), ProviderError> {
        let pattern = names.pattern();
        let mut setuser = redis::cmd("ACL");
        setuser.arg("SETUSER").arg(user).arg("reset");
        match password {
            Some(password) => setuser.arg("on").arg(format!(">{password}")),
            None => setuser.arg("off"),
        };
        let keys = match access {
            Access::ReadWrite => format!("~{pattern}"),
            Access::ReadOnly => format!("%R~{pattern}"),
        };
        setuser.arg("resetchannels").arg(keys).arg(format!("&{pattern}")).arg(COMMAND_RULES);
        if access.is_read_only() {
            setuser.arg(READ_ONLY_RULES);
        }
        self.run::<()>(&setuser).map_err(|err| err.hiding(password.unwrap_or_default()))
    }

    /// Reads an ACL user; `None` when it does not exist.
    fn user(&mut self, user: &str) -> Result<Option<AclUser>, ProviderError> {
        let fields: Option<Vec<Value>> = self.run(redis::cmd("ACL").arg("GETUSER").arg(user))?;
        let Some(fields) = fields else { return Ok(None) };
        let mut found = AclUser { flags: Vec::new(), passwords: Vec::new(), rules: Vec::new() };
        for field in fields.chunks(2) {
            let [Value::BulkString(name), value] = field else { continue };
            let words: Vec<String> = match value {
                Value::Array(items) => items.iter().filter_map(|item| redis::from_redis_value(item).ok()).collect(),
                other => redis::from_redis_value::<String>(other).into_iter().collect(),
            };
            match name.as_slice() {
                b"flags" => found.flags = words,
                b"passwords" => found.passwords = words,
                _ => found.rules.push(format!("{}: {}", String::from_utf8_lossy(name), words.join(" "))),
            }
        }
        Ok(Some(found))
    }

    /// Ends the connections of `user` and deletes it; whether it existed.
    pub(super) fn delete_user(&mut self, user: &str) -> Result<bool, ProviderError> {
        // Kill first: CLIENT KILL USER needs the user to exist (DELUSER ends them as well).
        self.kill_clients(user)?;
        let deleted: u64 = self.run(redis::cmd("ACL").arg("DELUSER").arg(user))?;
        Ok(deleted > 0)
    }
}

/// The user `verify` makes (switched off, without a password) to learn how the server
/// words the rules of a credential, and deletes again.
pub(super) fn reference_user(names: &Names) -> String {
    format!("{}_reference", names.user)
}

impl Redis {
    /// Every ACL user of the addon: the original, the other credentials and a leftover
    /// reference user.
    pub(super) fn addon_users(
        &self,
        admin: &mut Session<'_>,
        addon: &Resource<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let names = Names::of(addon)?;
        let users: Vec<String> = admin.run(redis::cmd("ACL").arg("USERS"))?;
        let reference = reference_user(&names);
        Ok(users.into_iter().filter(|user| *user == reference || Credential::of_login(addon, user).is_some()).collect())
    }
}

impl Credentials for Redis {
    /// The credential's login with the owner's rights (reading alone, for a read-only
    /// credential), and its vars.
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError> {
        let names = Names::of(&addon)?;
        let (user, password) = (credential.login(&addon)?, credential.password(&addon));
        let mut admin = self.admin(format!("creating ACL user {user}"))?;
        admin.version()?;
        admin.set_user(&names, (&user, credential.access), Some(&password))?;
        admin.save_acl()?;
        let url = self.server.app_url(addon.params, &user, &password, "/0")?;
        Ok(vec![("REDIS_URL".into(), url), ("REDIS_KEY_PREFIX".into(), names.prefix)])
    }

    /// Ends the login's sessions and removes it.
    fn revoke(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        let user = credential.login(&addon)?;
        let mut admin = self.admin(format!("removing ACL user {user}"))?;
        let deleted = admin.delete_user(&user)?;
        admin.save_acl()?;
        Ok(match deleted {
            true => format!("removed ACL user {user} on {}", self.server.place()),
            false => format!("ACL user {user} was already gone from {}", self.server.place()),
        })
    }
}

impl Verifier for Redis {
    /// The resource and each credential's login, against what was made.
    fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        let names = Names::of(&addon)?;
        let mut admin = self.admin(format!("checking the ACL users of {}", names.user))?;
        let reference = reference_user(&names);
        let mut rules_of = std::collections::BTreeMap::new();
        for access in credentials.iter().map(|credential| credential.access) {
            if rules_of.contains_key(&access) {
                continue;
            }
            admin.set_user(&names, (&reference, access), None)?;
            let made = admin.user(&reference);
            admin.delete_user(&reference)?;
            rules_of.insert(access, made?.map(|user| user.rules).unwrap_or_default());
        }
        let mut drift = Vec::new();
        for &credential in credentials {
            let rules = &rules_of[&credential.access];
            let user = credential.login(&addon)?;
            let hash = format!("{:x}", Sha256::digest(credential.password(&addon).as_bytes()));
            let mut found = |kind, message| drift.push(Drift::of(credential, kind, message));
            match admin.user(&user)? {
                None => found(DriftKind::LoginMissing, format!("ACL user {user} is gone")),
                Some(acl) if !acl.flags.iter().any(|f| f == "on") || acl.flags.iter().any(|f| f == "nopass") => {
                    found(DriftKind::LimitsChanged, format!("ACL user {user} is switched off or takes any password"))
                }
                Some(acl) if acl.rules != *rules => {
                    found(DriftKind::LimitsChanged, format!("ACL user {user} has other rules than were made"))
                }
                Some(acl) if acl.passwords != [hash] => {
                    found(DriftKind::PasswordChanged, format!("ACL user {user} has other passwords"))
                }
                Some(_) if !self.logs_in(&user, &credential.password(&addon))? => {
                    found(DriftKind::PasswordChanged, format!("ACL user {user} refuses its password"))
                }
                Some(_) => {}
            }
        }
        Ok(drift)
    }

    /// The keys live on the server under the addon's prefix: there is nothing to make.
    fn remake_resource(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Ok("the keys live on the server; nothing to make".to_string())
    }

    /// Makes the ACL user again as `ensure` makes it: password and rules.
    fn remake_login(&self, addon: Resource<'_>, credential: Credential) -> Result<(), ProviderError> {
        self.ensure(addon, credential).map(drop)
    }
}
