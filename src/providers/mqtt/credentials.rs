//! Credentials on Mosquitto: one dynamic-security client per credential (`addons_<id>`
//! for the original, `addons_<id>_<slot>_<generation>` for the others), each holding the
//! addon's role and nothing else, and restricted to its own user name as client id, so
//! no tenant can connect under another's client id and end its session. Removing one
//! ends its sessions and nobody else's.

use serde_json::{json, Value};

use super::control::{self, Control};
use super::{Mqtt, Names};
use crate::addon::Resource;
use crate::providers::credential::{Credential, Drift, DriftKind};
use crate::providers::{Credentials, ProviderError, Verifier};

/// A client as `getClient` shows it, `None` when there is none.
fn client(control: &mut Control<'_>, user: &str) -> Result<Option<Value>, ProviderError> {
    match control.one(json!({"command": "getClient", "username": user}))? {
        Ok(data) => Ok(Some(data["client"].clone())),
        Err(error) if error == "Client not found" => Ok(None),
        Err(error) => Err(control.refused("getClient", &error)),
    }
}

/// The names in a client's `roles` or `groups` list.
fn named(client: &Value, list: &str, key: &str) -> Vec<String> {
    let items = client[list].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|item| item[key].as_str().map(str::to_string)).collect()
}

impl Mqtt {
    /// Makes client `user` (or converges it): `password` alone, client id `user` alone,
    /// the addon's role and no other role or group, enabled.
    pub(super) fn ensure_client(
        &self,
        control: &mut Control<'_>,
        names: &Names,
        user: &str,
        password: &str,
    ) -> Result<(), ProviderError> {
        let create = json!({
            "command": "createClient", "username": user, "password": password, "clientid": user,
            "roles": [{"rolename": names.role}],
        });
        if control.must(create, "Client already exists").map_err(|err| err.hiding(password))? {
            return Ok(());
        }
        let set = json!({"command": "setClientPassword", "username": user, "password": password});
        control.must(set, "").map_err(|err| err.hiding(password))?;
        let Some(found) = client(control, user)? else {
            return Err(control.transient(&format!("client {user} went while it was being made")));
        };
        if found["clientid"].as_str() != Some(user) {
            control.must(json!({"command": "setClientId", "username": user, "clientid": user}), "")?;
        }
        let roles = named(&found, "roles", "rolename");
        for role in roles.iter().filter(|role| **role != names.role) {
            control.must(json!({"command": "removeClientRole", "username": user, "rolename": role}), "")?;
        }
        if !roles.contains(&names.role) {
            control.must(json!({"command": "addClientRole", "username": user, "rolename": names.role}), "")?;
        }
        for group in named(&found, "groups", "groupname") {
            control.must(json!({"command": "removeGroupClient", "groupname": group, "username": user}), "")?;
        }
        if found["disabled"] == json!(true) {
            control.must(json!({"command": "enableClient", "username": user}), "")?;
        }
        Ok(())
    }

    /// Deletes client `user` (the plugin ends its sessions); whether it existed.
    pub(super) fn remove_client(&self, control: &mut Control<'_>, user: &str) -> Result<bool, ProviderError> {
        control.must(json!({"command": "deleteClient", "username": user}), "Client not found")
    }

    /// What differs in client `user` from what `ensure_client` makes.
    fn login_drift(
        &self,
        control: &mut Control<'_>,
        names: &Names,
        (user, password): (&str, &str),
    ) -> Result<Option<(DriftKind, String)>, ProviderError> {
        let Some(found) = client(control, user)? else {
            return Ok(Some((DriftKind::LoginMissing, format!("client {user} is gone"))));
        };
        if found["disabled"] == json!(true) {
            return Ok(Some((DriftKind::LimitsChanged, format!("client {user} is disabled"))));
        }
        if found["clientid"].as_str() != Some(user) {
            let what = format!("client {user} is not restricted to its own client id any more");
            return Ok(Some((DriftKind::LimitsChanged, what)));
        }
        let (roles, groups) = (named(&found, "roles", "rolename"), named(&found, "groups", "groupname"));
        if roles != [names.role.clone()] || !groups.is_empty() {
            let what = format!("client {user} has other roles or groups than role {} alone", names.role);
            return Ok(Some((DriftKind::LimitsChanged, what)));
        }
        let doing = format!("logging in as {user}");
        if !control::logs_in(&self.server, (user, password), control.timeout(), &doing)? {
            return Ok(Some((DriftKind::PasswordChanged, format!("client {user} has another password"))));
        }
        Ok(None)
    }
}

impl Credentials for Mqtt {
    /// The credential's client with the addon's role, and its vars.
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError> {
        let names = Names::of(&addon)?;
        let (user, password) = (credential.login(&addon)?, credential.password(&addon));
        let mut control = self.control(format!("creating client {user}"))?;
        self.ensure_client(&mut control, &names, &user, &password)?;
        self.vars(&addon, &names, &user, &password)
    }

    /// Deletes the credential's client, ending its sessions.
    fn revoke(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        let user = credential.login(&addon)?;
        let mut control = self.control(format!("removing client {user}"))?;
        Ok(match self.remove_client(&mut control, &user)? {
            true => format!("removed client {user} (its sessions ended) on {}", self.server.place()),
            false => format!("client {user} was already gone from {}", self.server.place()),
        })
    }
}

impl Verifier for Mqtt {
    /// The role and its ACLs, then each credential's client: there, enabled, its client
    /// id, the role alone, its password (by logging in).
    fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        let names = Names::of(&addon)?;
        let mut control = self.control(format!("checking role {} and its clients", names.role))?;
        let mut drift = Vec::new();
        match self.role_acls(&mut control, &names)? {
            None => {
                let what = format!("role {} is gone, so its clients may use no topic", names.role);
                drift.push(Drift::resource(DriftKind::LimitsChanged, what));
            }
            Some(found) => {
                let wanted = names.acls();
                let same = found.len() == wanted.len()
                    && found
                        .iter()
                        .all(|(kind, topic, allow)| *allow && wanted.iter().any(|(k, t)| k == kind && t == topic));
                if !same {
                    let what =
                        format!("role {} has other ACLs than publish and subscribe under {}", names.role, names.prefix);
                    drift.push(Drift::resource(DriftKind::LimitsChanged, what));
                }
            }
        }
        for &credential in credentials {
            let (user, password) = (credential.login(&addon)?, credential.password(&addon));
            if let Some((kind, message)) = self.login_drift(&mut control, &names, (&user, &password))? {
                drift.push(Drift::of(credential, kind, message));
            }
        }
        Ok(drift)
    }

    /// Makes the role again with its ACLs, and gives every client of the addon the role
    /// back (a deleted role is taken from its clients). Nothing is lost with a role: the
    /// broker keeps no messages for it.
    fn remake_resource(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let mut control = self.control(format!("making role {} again", names.role))?;
        self.ensure_role(&mut control, &names)?;
        for user in self.addon_clients(&mut control, &addon)? {
            if let Some(found) = client(&mut control, &user)? {
                if !named(&found, "roles", "rolename").contains(&names.role) {
                    control.must(json!({"command": "addClientRole", "username": user, "rolename": names.role}), "")?;
                }
            }
        }
        Ok(format!("role {} is there with its ACLs, held by every client of the addon", names.role))
    }

    /// Makes the client again as `ensure` makes it: password, client id, role.
    fn remake_login(&self, addon: Resource<'_>, credential: Credential) -> Result<(), ProviderError> {
        self.ensure(addon, credential).map(drop)
    }
}
