//! Credentials on RabbitMQ: one user per credential (`addons_<id>` for the original,
//! `addons_<id>_<slot>_<generation>` for the others), each with every right on the addon's
//! vhost, none elsewhere, and no tags (so the management API lets it log in and see
//! nothing). Removing one closes its connections and nobody else's.

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};

use super::{every_right, limits, segment, Api, Names, Rabbitmq};
use crate::addon::Resource;
use crate::providers::credential::{Credential, Drift, DriftKind};
use crate::providers::{Credentials, ProviderError, Verifier};

impl Rabbitmq {
    /// Makes `user` (or converges it): `password` alone, no tags, every right on the
    /// addon's vhost and none on any other.
    pub(super) fn ensure_user(
        &self,
        api: &Api<'_>,
        names: &Names,
        user: &str,
        password: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("/api/users/{}", segment(user));
        api.put(&path, &json!({"password": password, "tags": ""})).map_err(|err| err.hiding(password))?;
        api.put(&names.permissions_path(user), &every_right())?;
        for granted in api.list(&format!("{path}/permissions"))? {
            match granted["vhost"].as_str() {
                Some(vhost) if vhost != names.vhost => {
                    api.delete(&format!("/api/permissions/{}/{}", segment(vhost), segment(user)))?;
                }
                _ => {}
            }
        }
        for granted in api.list(&format!("{path}/topic-permissions"))? {
            if let Some(vhost) = granted["vhost"].as_str() {
                api.delete(&format!("/api/topic-permissions/{}/{}", segment(vhost), segment(user)))?;
            }
        }
        Ok(())
    }

    /// Every user of the addon on the server: the original and the other credentials.
    pub(super) fn addon_users(&self, api: &Api<'_>, addon: &Resource<'_>) -> Result<Vec<String>, ProviderError> {
        let users = api.list("/api/users")?;
        let names = users.iter().filter_map(|user| user["name"].as_str());
        Ok(names.filter(|name| Credential::of_login(addon, name).is_some()).map(str::to_string).collect())
    }

    /// Deletes `user` and closes its connections to the addon's vhost (the only one it has
    /// rights on); whether it existed. Current brokers close a deleted user's connections
    /// themselves; the ones still listed are closed here, for brokers that do not.
    pub(super) fn remove_user(&self, api: &Api<'_>, names: &Names, user: &str) -> Result<bool, ProviderError> {
        // Deleted first, so it can't open a connection after they are closed.
        let deleted = api.delete(&format!("/api/users/{}", segment(user)))?;
        for connection in api.list(&format!("{}/connections", names.vhost_path()))? {
            if connection["user"].as_str() == Some(user) {
                if let Some(name) = connection["name"].as_str() {
                    api.delete(&format!("/api/connections/{}", segment(name)))?;
                }
            }
        }
        Ok(deleted)
    }

    /// What differs in `user`'s login from what `ensure_user` makes. Its rights on a vhost
    /// that is gone (`vhost_there` false) went with the vhost, and come back with it.
    fn login_drift(
        &self,
        api: &Api<'_>,
        (names, vhost_there): (&Names, bool),
        user: &str,
        password: &str,
    ) -> Result<Option<(DriftKind, String)>, ProviderError> {
        let Some(found) = api.get(&format!("/api/users/{}", segment(user)))? else {
            return Ok(Some((DriftKind::LoginMissing, format!("user {user} is gone"))));
        };
        let tagged = match &found["tags"] {
            Value::Array(tags) => !tags.is_empty(),
            Value::String(tags) => !tags.is_empty(),
            _ => false,
        };
        if tagged {
            return Ok(Some((DriftKind::LimitsChanged, format!("user {user} was given tags (management rights)"))));
        }
        let granted = api.list(&format!("/api/users/{}/permissions", segment(user)))?;
        let right = every_right();
        let elsewhere = granted.iter().any(|grant| grant["vhost"].as_str() != Some(&names.vhost));
        let own = granted.iter().find(|grant| grant["vhost"].as_str() == Some(&names.vhost));
        let own_as_made = match own {
            Some(grant) => ["configure", "write", "read"].iter().all(|kind| grant[kind] == right[kind]),
            None => !vhost_there,
        };
        let as_made = !elsewhere && own_as_made;
        if !as_made {
            return Ok(Some((DriftKind::LimitsChanged, format!("user {user} has other permissions than were made"))));
        }
        let hash = found["password_hash"].as_str().unwrap_or_default();
        let algorithm = found["hashing_algorithm"].as_str().unwrap_or_default();
        if hashes_to(hash, algorithm, password) == Some(false) || !api.logs_in(user, password)? {
            return Ok(Some((DriftKind::PasswordChanged, format!("user {user} has another password"))));
        }
        Ok(None)
    }
}

/// Whether `hash` (salt and digest, base64, as the API shows it) is `password`'s under
/// `algorithm`; `None` for an algorithm it does not know (the login is then tried).
fn hashes_to(hash: &str, algorithm: &str, password: &str) -> Option<bool> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(hash).ok()?;
    let (salt, digest) = bytes.split_at_checked(4)?;
    let salted = [salt, password.as_bytes()].concat();
    match algorithm {
        "rabbit_password_hashing_sha256" => Some(Sha256::digest(&salted).as_slice() == digest),
        "rabbit_password_hashing_sha512" => Some(Sha512::digest(&salted).as_slice() == digest),
        _ => None,
    }
}

impl Credentials for Rabbitmq {
    /// The credential's user with every right on the vhost, and its URL.
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError> {
        let names = Names::of(&addon)?;
        let (user, password) = (credential.login(&addon)?, credential.password(&addon));
        let api = self.api(format!("creating user {user}"));
        self.ensure_user(&api, &names, &user, &password)?;
        Ok(vec![("RABBITMQ_URL".into(), self.app_url(&names, &user, &password)?)])
    }

    /// Deletes the credential's user and closes its connections.
    fn revoke(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        let (names, user) = (Names::of(&addon)?, credential.login(&addon)?);
        let api = self.api(format!("removing user {user}"));
        Ok(match self.remove_user(&api, &names, &user)? {
            true => format!("removed user {user} on {}", self.server.place()),
            false => format!("user {user} was already gone from {}", self.server.place()),
        })
    }
}

impl Verifier for Rabbitmq {
    /// The vhost and its limits, then each credential's user: there, untagged, its
    /// permissions as made, its password.
    fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        let names = Names::of(&addon)?;
        let api = self.api(format!("checking vhost {} and its users", names.vhost));
        let mut drift = Vec::new();
        let vhost_there = api.get(&names.vhost_path())?.is_some();
        if !vhost_there {
            drift.push(Drift::resource(DriftKind::ResourceMissing, format!("vhost {} is gone", names.vhost)));
        } else {
            let wanted = limits(addon.params).map_err(|why| api.permanent(&why))?;
            let set = api.list(&format!("/api/vhost-limits/{}", segment(&names.vhost)))?;
            let set = set.first().map(|limits| limits["value"].clone()).unwrap_or(json!({}));
            let set = set.as_object().cloned().unwrap_or_default();
            let same =
                set.len() == wanted.len() && wanted.iter().all(|(limit, value)| set.get(*limit) == Some(&json!(value)));
            if !same {
                let message = format!("vhost {} has other limits than its params ask for", names.vhost);
                drift.push(Drift::resource(DriftKind::LimitsChanged, message));
            }
        }
        for &credential in credentials {
            let (user, password) = (credential.login(&addon)?, credential.password(&addon));
            if let Some((kind, message)) = self.login_drift(&api, (&names, vhost_there), &user, &password)? {
                drift.push(Drift::of(credential, kind, message));
            }
        }
        Ok(drift)
    }

    /// Makes the vhost again (empty, when it was lost) with its limits, and gives every
    /// user of the addon its rights on it again.
    fn remake_resource(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let api = self.api(format!("making vhost {} again", names.vhost));
        self.ensure_vhost(&api, &names, &addon)?;
        for user in self.addon_users(&api, &addon)? {
            api.put(&names.permissions_path(&user), &every_right())?;
        }
        Ok(format!("vhost {} is there with its limits, its users' rights on it given again", names.vhost))
    }

    /// Makes the user again as `ensure` makes it: password, no tags, its rights.
    fn remake_login(&self, addon: Resource<'_>, credential: Credential) -> Result<(), ProviderError> {
        self.ensure(addon, credential).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_salted_hash_is_checked_as_rabbitmq_makes_it() {
        // As the API showed it for a user made with password "tstpw".
        let hash = "TpRrTisQHLO9+lwUmJ5xoF/zY6ejLjlDUD7hYA2ULtJb65JS";
        assert_eq!(hashes_to(hash, "rabbit_password_hashing_sha256", "tstpw"), Some(true));
        assert_eq!(hashes_to(hash, "rabbit_password_hashing_sha256", "other"), Some(false));
        assert_eq!(hashes_to(hash, "rabbit_password_hashing_md5", "tstpw"), None);
    }
}
