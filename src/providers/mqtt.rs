//! The `mqtt` provider: on a Mosquitto broker with the dynamic security plugin, a role per
//! addon whose ACLs let its clients publish and subscribe under one topic prefix alone
//! (`addons/addons_<id>/`), and a client per credential holding that role and no other,
//! each restricted to a client id of its own (its user name), all made through the
//! plugin's control topic.

use std::time::Duration;

use serde_json::{json, Value};

use super::server::{ServerSettings, ServerSpec};
use super::{Capabilities, Configured, Copies, Credential, Provider, ProviderError, ProviderInfo, Readiness, Sort};
use crate::addon::Resource;
use crate::config::Section;

mod control;
mod credentials;
mod retained;
use control::Control;

/// Registry entry for `mqtt`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "mqtt",
    summary: "an MQTT topic prefix on Mosquitto and a client limited to it",
    vars: &["MQTT_URL", "MQTT_TOPIC_PREFIX"],
    params: &[],
    check_params: |_| Ok(()),
    example: Some(SERVER.example),
    configure,
    rotation: super::Rotates::WithOverlap,
    acts_outside: true,
};

/// What `[providers.mqtt]` takes: the broker's address and a client of the dynamic
/// security plugin that may use its control topic.
const SERVER: ServerSpec = ServerSpec {
    name: "mqtt",
    schemes: &["mqtt"],
    app_schemes: &["mqtt"],
    default_port: 1883,
    example: "[providers.mqtt]\nurl = \"mqtt://ADMIN:PASSWORD@127.0.0.1:1883\"",
};

/// How soon to look again when the role or the client is not there yet.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Why `provision --from` is refused.
const NO_COPY: &str = "an mqtt addon holds no data to copy (messages are not kept, and retained ones \
     belong to the topics of their source); provision it without --from";

/// The shared server table, without `socket`: the client connects over TCP alone.
fn configure(section: Option<&Section<'_>>) -> Configured {
    if let Some(section) = section {
        if let Some((default, others)) = ServerSettings::read(Some(section), &SERVER)? {
            if std::iter::once(&default).chain(others.values()).any(|server| server.socket.is_some()) {
                return Err(section.refuse("socket is not taken by mqtt: its url says where the broker listens"));
            }
        }
    }
    ServerSettings::configure(section, &SERVER, |server| Mqtt { server })
}

/// The names on the broker that belong to one addon, derived from its immutable id.
pub(super) struct Names {
    /// `addons_<id>`: the role, and the original credential's client.
    role: String,
    /// `addons/addons_<id>/`: the topics its clients may use.
    prefix: String,
}

impl Names {
    fn of(addon: &Resource<'_>) -> Result<Names, ProviderError> {
        let role = super::resource_name(addon)?;
        Ok(Names { prefix: format!("addons/{role}/"), role })
    }

    /// The ACLs of the role: publish, receive, subscribe and unsubscribe under the prefix.
    fn acls(&self) -> Vec<(&'static str, String)> {
        let topics = format!("{}#", self.prefix);
        ["publishClientSend", "publishClientReceive", "subscribePattern", "unsubscribePattern"]
            .map(|kind| (kind, topics.clone()))
            .into()
    }
}

/// One ACL of a role: its type, its topic, and whether it allows.
type Acl = (String, String, bool);

/// Talks to the dynamic security plugin of the broker named in the config file.
pub struct Mqtt {
    server: ServerSettings,
}

impl Mqtt {
    /// An admin session on the control topic for one operation.
    fn control(&self, doing: String) -> Result<Control<'_>, ProviderError> {
        Control::open(&self.server, self.server.connect_timeout(), doing)
    }

    /// The vars an app is handed for `user`.
    fn vars(
        &self,
        addon: &Resource<'_>,
        names: &Names,
        user: &str,
        password: &str,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let url = self.server.app_url(addon.params, user, password, "")?;
        Ok(vec![("MQTT_URL".into(), url), ("MQTT_TOPIC_PREFIX".into(), names.prefix.clone())])
    }

    /// Makes the role (or leaves it) and converges its ACLs to exactly the prefix's.
    fn ensure_role(&self, control: &mut Control<'_>, names: &Names) -> Result<(), ProviderError> {
        control.must(json!({"command": "createRole", "rolename": names.role}), "Role already exists")?;
        let found = self.role_acls(control, names)?.unwrap_or_default();
        let wanted = names.acls();
        for (kind, topic, allow) in &found {
            if !*allow || !wanted.iter().any(|(k, t)| k == kind && t == topic) {
                let remove =
                    json!({"command": "removeRoleACL", "rolename": names.role, "acltype": kind, "topic": topic});
                control.must(remove, "ACL not found")?;
            }
        }
        for (kind, topic) in wanted {
            if !found.iter().any(|(k, t, allow)| *k == kind && *t == topic && *allow) {
                let add = json!({"command": "addRoleACL", "rolename": names.role, "acltype": kind, "topic": topic, "allow": true});
                control.must(add, "")?;
            }
        }
        Ok(())
    }

    /// The role's ACLs as `(type, topic, allow)`, `None` when the role is gone.
    fn role_acls(&self, control: &mut Control<'_>, names: &Names) -> Result<Option<Vec<Acl>>, ProviderError> {
        let role = match control.one(json!({"command": "getRole", "rolename": names.role}))? {
            Ok(data) => data["role"].clone(),
            Err(error) if error == "Role not found" => return Ok(None),
            Err(error) => return Err(control.refused("getRole", &error)),
        };
        let acls = role["acls"].as_array().cloned().unwrap_or_default();
        Ok(Some(
            acls.iter()
                .map(|acl| {
                    let text = |key: &str| acl[key].as_str().unwrap_or_default().to_string();
                    (text("acltype"), text("topic"), acl["allow"] == json!(true))
                })
                .collect(),
        ))
    }

    /// Every client of the addon on the broker: the original and the other credentials.
    fn addon_clients(&self, control: &mut Control<'_>, addon: &Resource<'_>) -> Result<Vec<String>, ProviderError> {
        let data = match control.one(json!({"command": "listClients"}))? {
            Ok(data) => data,
            Err(error) => return Err(control.refused("listClients", &error)),
        };
        let clients = data["clients"].as_array().cloned().unwrap_or_default();
        let names = clients.iter().filter_map(|client| match client {
            Value::String(name) => Some(name.clone()),
            other => other["username"].as_str().map(str::to_string),
        });
        Ok(names.filter(|name| Credential::of_login(addon, name).is_some()).collect())
    }
}

impl Provider for Mqtt {
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let mut control = self.control(format!("creating role {}", names.role))?;
        self.ensure_role(&mut control, &names)?;
        let mut control = control.doing(format!("creating client {}", names.role));
        self.ensure_client(&mut control, &names, &names.role, &addon.password())?;
        let (role, prefix, address) = (&names.role, &names.prefix, self.server.place());
        Ok(format!(
            "created role {role} on {address}, allowed to publish and subscribe under {prefix} alone, \
             and client {role} with that role"
        ))
    }

    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let names = Names::of(&addon)?;
        let mut control = self.control(format!("looking up role {} and its client", names.role))?;
        let made = self.role_acls(&mut control, &names)?.is_some()
            && control.one(json!({"command": "getClient", "username": names.role}))?.is_ok();
        drop(control);
        if !made {
            return Ok(Readiness::NotReady { retry_after: RETRY_AFTER });
        }
        let doing = format!("logging in as {}", names.role);
        if !control::logs_in(&self.server, (&names.role, &addon.password()), self.server.connect_timeout(), &doing)? {
            return Err(self.server.error(
                Sort::Permanent,
                &doing,
                "the broker refused the client's password (was it changed outside addons?)",
                "deprovision this addon and provision a new one",
            ));
        }
        Ok(Readiness::Ready)
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let names = Names::of(&addon)?;
        self.vars(&addon, &names, &names.role, &addon.password())
    }

    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let mut control = self.control(format!("removing role {} and its clients", names.role))?;
        let sweeper = retained::SWEEPER.login(&addon)?;
        // The apps' clients first (their sessions are ended with them), so none publishes
        // while the retained messages are cleared, and none holds the role after it is gone.
        let mut removed = 0;
        for client in self.addon_clients(&mut control, &addon)? {
            if client != sweeper {
                removed += u64::from(self.remove_client(&mut control, &client)?);
            }
        }
        let cleared = match self.role_acls(&mut control, &names)? {
            Some(_) => {
                let password = retained::SWEEPER.password(&addon);
                let mut control = control.doing(format!("clearing the retained messages under {}", names.prefix));
                self.ensure_role(&mut control, &names)?;
                self.ensure_client(&mut control, &names, &sweeper, &password)?;
                let doing = control.doing.clone();
                let timeout = control.timeout();
                let cleared = retained::clear(&self.server, (&sweeper, &password), &names.prefix, timeout, &doing)?;
                control = control.doing(format!("removing role {} and its clients", names.role));
                self.remove_client(&mut control, &sweeper)?;
                let role = control.must(json!({"command": "deleteRole", "rolename": names.role}), "Role not found")?;
                (cleared, role)
            }
            None => {
                self.remove_client(&mut control, &sweeper)?;
                (0, false)
            }
        };
        let role = match cleared.1 {
            true => format!("removed role {}", names.role),
            false => format!("role {} was already gone", names.role),
        };
        let clients = crate::names::plural(removed, "client");
        let messages = crate::names::plural(cleared.0 as u64, "retained message");
        Ok(format!(
            "{role}; removed {clients} (their sessions ended) and cleared {messages} on {}",
            self.server.place()
        ))
    }

    fn health(&self) -> Result<String, ProviderError> {
        let mut control = self.control("checking the dynamic security plugin".into())?;
        match control.one(json!({"command": "getDefaultACLAccess"}))? {
            Ok(_) => Ok(format!("Mosquitto's dynamic security plugin at {}", self.server.display_url())),
            Err(error) => Err(control.refused("getDefaultACLAccess", &error)),
        }
    }

    fn warnings(&self) -> Vec<String> {
        let read = self.control("reading the default ACL access".into()).and_then(|mut control| {
            match control.one(json!({"command": "getDefaultACLAccess"}))? {
                Ok(data) => Ok(data),
                Err(error) => Err(control.refused("getDefaultACLAccess", &error)),
            }
        });
        let data = match read {
            Ok(data) => data,
            Err(err) => return vec![format!("could not check the default ACL access: {err}")],
        };
        let acls = data["acls"].as_array().cloned().unwrap_or_default();
        acls.iter()
            .filter(|acl| acl["allow"] == json!(true))
            .filter_map(|acl| acl["acltype"].as_str())
            .filter(|kind| matches!(*kind, "publishClientSend" | "subscribe"))
            .map(|kind| {
                format!(
                    "the broker's default ACL access allows {kind} to every client, so a tenant may reach topics \
                     beyond its prefix; set it to deny: mosquitto_ctrl -u ADMIN dynsec setDefaultACLAccess {kind} deny \
                     (see README, MQTT, for Mosquitto 2.0.11, whose mosquitto_ctrl does not send it)"
                )
            })
            .collect()
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            credentials: Some(self),
            verifier: Some(self),
            copies: Copies::Never(NO_COPY),
            ..Capabilities::NONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{new_seed, Params};

    #[test]
    fn an_addon_has_a_role_and_a_prefix_of_its_own() {
        let (params, seed) = (Params::new(), new_seed());
        let names = Names::of(&Resource::new("0123456789abcdef", &params, &seed)).unwrap();
        assert_eq!(names.role, "addons_0123456789abcdef");
        assert_eq!(names.prefix, "addons/addons_0123456789abcdef/");
        assert!(names.acls().iter().all(|(_, topic)| topic == "addons/addons_0123456789abcdef/#"));
    }
}
