//! The `rabbitmq` provider: a virtual host per addon and a user per credential with every
//! right on that vhost alone and no management tags, made through RabbitMQ's management
//! HTTP API; apps are handed an `amqp://` URL of their vhost.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use toml::Spanned;
use url::Url;

use super::server::{ServerSettings, ServerSpec};
use super::{
    Capabilities, Configured, Copies, Environment, ParamSpec, Provider, ProviderConfig, ProviderError, ProviderInfo,
    Readiness, Sort,
};
use crate::addon::{Params, Resource};
use crate::config::Section;

mod api;
mod copy;
mod credentials;
use api::{segment, Api};

/// Registry entry for `rabbitmq`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "rabbitmq",
    summary: "a RabbitMQ virtual host and a user limited to it",
    vars: &["RABBITMQ_URL"],
    params: &[
        ParamSpec { key: "max_connections", help: "the most AMQP connections open to the vhost at once", values: &[] },
        ParamSpec { key: "max_queues", help: "the most queues the vhost may hold", values: &[] },
    ],
    check_params: |params| limits(params).map(drop),
    example: Some(SERVER.example),
    configure,
    rotation: super::Rotates::WithOverlap,
    acts_outside: true,
};

/// What `[providers.rabbitmq]` takes: the management API's URL, as the admin.
const SERVER: ServerSpec = ServerSpec {
    name: "rabbitmq",
    schemes: &["http", "https"],
    app_schemes: &["amqp"],
    default_port: 15672,
    example: "[providers.rabbitmq]\nurl = \"http://ADMIN:PASSWORD@127.0.0.1:15672\"",
};

/// The AMQP port apps connect to when `amqp_url` names none.
const AMQP_PORT: u16 = 5672;
/// How soon to look again when the vhost or the user is not there yet.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// The vhost limits each param sets, by param and by the API's name.
const LIMITS: &[(&str, &str)] = &[("max_connections", "max-connections"), ("max_queues", "max-queues")];

/// The vhost limits an addon's params ask for, by the API's name; a value that is not a
/// whole number is refused.
fn limits(params: &Params) -> Result<Vec<(&'static str, u32)>, String> {
    let mut wanted = Vec::new();
    for (param, limit) in LIMITS {
        if let Some(value) = params.get(*param) {
            let number = value.parse::<u32>().ok().filter(|n| i32::try_from(*n).is_ok());
            let number = number.ok_or_else(|| {
                format!("{param} must be a whole number from 0 up, like 100, not {}", crate::names::shown(value))
            })?;
            wanted.push((*limit, number));
        }
    }
    Ok(wanted)
}

/// `[providers.rabbitmq]`: the admin's management API URL, where apps connect (AMQP: a
/// whole `amqp_url`, or the API's port 5672 on `public_host` or the API's host), and how
/// long a request may take.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RabbitDoc {
    url: Spanned<String>,
    amqp_url: Option<Spanned<String>>,
    public_host: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
}

/// The provider's settings: the management API, and the AMQP address handed to apps.
#[derive(Clone)]
struct RabbitConfig {
    server: ServerSettings,
    /// `amqp://host:port` (or `amqps://`), without user, password or vhost.
    amqp: Url,
}

impl std::fmt::Debug for RabbitConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RabbitConfig").field("server", &self.server).field("amqp", &self.amqp.as_str()).finish()
    }
}

impl ProviderConfig for RabbitConfig {
    fn build(&self, _env: &Environment) -> Box<dyn Provider> {
        Box::new(Rabbitmq { server: self.server.clone(), amqp: self.amqp.clone() })
    }
}

fn configure(section: Option<&Section<'_>>) -> Configured {
    let Some(section) = section else { return Ok(None) };
    let doc: RabbitDoc = section.read()?;
    if let (Some(_), Some(host)) = (&doc.amqp_url, &doc.public_host) {
        let why = "public_host names the host of the default amqp_url: set amqp_url alone, or public_host alone";
        return Err(section.invalid(host.span(), why));
    }
    let server = ServerSettings::checked(section, &SERVER, doc.url, doc.public_host, doc.connect_timeout)?;
    let amqp = match doc.amqp_url {
        Some(text) => amqp_address(text.get_ref()).map_err(|why| section.invalid(text.span(), &why))?,
        None => {
            let host = server.public_host().map_err(|err| section.refuse(&err.to_string()))?;
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let host = match bare.parse::<std::net::Ipv6Addr>() {
                Ok(ip) => format!("[{ip}]"),
                Err(_) => host.to_string(),
            };
            amqp_address(&format!("amqp://{host}:{AMQP_PORT}")).map_err(|why| section.refuse(&why))?
        }
    };
    Ok(Some(Arc::new(RabbitConfig { server, amqp })))
}

/// Checks `amqp_url`: an `amqp://` or `amqps://` URL with a host, and nothing else (no
/// user, password or vhost: each addon has its own).
fn amqp_address(text: &str) -> Result<Url, String> {
    const EXAMPLE: &str = "write e.g. amqp_url = \"amqp://127.0.0.1:5672\"";
    let mut url = Url::parse(text).map_err(|err| format!("amqp_url is not a URL ({err}); {EXAMPLE}"))?;
    if !matches!(url.scheme(), "amqp" | "amqps") {
        return Err(format!("amqp_url must start with amqp:// or amqps://, not {}://", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("amqp_url has no host; {EXAMPLE}"));
    }
    if !url.username().is_empty() || url.password().is_some() || !matches!(url.path(), "" | "/") {
        return Err(format!("amqp_url names only where apps connect, without user, password or vhost; {EXAMPLE}"));
    }
    if url.port().is_none() {
        let port = if url.scheme() == "amqps" { 5671 } else { AMQP_PORT };
        url.set_port(Some(port)).map_err(|()| format!("amqp_url takes no port; {EXAMPLE}"))?;
    }
    url.set_query(None);
    Ok(url)
}

/// The names on the server that belong to one addon, derived from its immutable id.
pub(super) struct Names {
    /// `addons_<id>`: the vhost, and the original credential's user.
    vhost: String,
}

impl Names {
    fn of(addon: &Resource<'_>) -> Result<Names, ProviderError> {
        Ok(Names { vhost: super::resource_name(addon)? })
    }

    /// `/api/vhosts/<vhost>`.
    fn vhost_path(&self) -> String {
        format!("/api/vhosts/{}", segment(&self.vhost))
    }

    /// `/api/permissions/<vhost>/<user>`.
    fn permissions_path(&self, user: &str) -> String {
        format!("/api/permissions/{}/{}", segment(&self.vhost), segment(user))
    }
}

/// The rights every login of an addon has on its vhost: all of them.
fn every_right() -> Value {
    json!({"configure": ".*", "write": ".*", "read": ".*"})
}

/// Talks to the management API named in the config file.
pub struct Rabbitmq {
    server: ServerSettings,
    amqp: Url,
}

impl Rabbitmq {
    /// The API for one operation, each request bounded by `connect_timeout`.
    fn api(&self, doing: String) -> Api<'_> {
        Api::new(&self.server, self.server.connect_timeout(), doing)
    }

    /// The `amqp://user:password@host:port/vhost` URL an app is handed (vhost percent-encoded).
    fn app_url(&self, names: &Names, user: &str, password: &str) -> Result<String, ProviderError> {
        let mut url = self.amqp.clone();
        let set = url.set_username(user).and_then(|()| url.set_password(Some(password)));
        set.map_err(|()| self.server.error(Sort::Permanent, "", "amqp_url takes no credentials", ""))?;
        url.set_path(&format!("/{}", segment(&names.vhost)));
        Ok(url.to_string())
    }

    /// Makes the vhost (or leaves it), sets the limits its params ask for and lifts any other.
    fn ensure_vhost(&self, api: &Api<'_>, names: &Names, addon: &Resource<'_>) -> Result<Vec<String>, ProviderError> {
        api.put(&names.vhost_path(), &json!({"description": format!("addon {}", addon.id)}))?;
        let wanted = limits(addon.params).map_err(|why| api.permanent(&why))?;
        let mut set = Vec::new();
        for (_, limit) in LIMITS {
            let path = format!("/api/vhost-limits/{}/{limit}", segment(&names.vhost));
            match wanted.iter().find(|(name, _)| name == limit) {
                Some((_, value)) => {
                    api.put(&path, &json!({"value": value}))?;
                    set.push(format!("{limit} {value}"));
                }
                None => drop(api.delete(&path)?),
            }
        }
        Ok(set)
    }
}

impl Provider for Rabbitmq {
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let api = self.api(format!("creating vhost {}", names.vhost));
        let limits = self.ensure_vhost(&api, &names, &addon)?;
        let api = api.doing(format!("creating user {}", names.vhost));
        self.ensure_user(&api, &names, &names.vhost, &addon.password())?;
        let limits = match limits.is_empty() {
            true => String::new(),
            false => format!(" (limits: {})", limits.join(", ")),
        };
        let (vhost, address) = (&names.vhost, self.server.place());
        Ok(format!("created vhost {vhost}{limits} on {address} and user {vhost} with every right on it alone"))
    }

    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let names = Names::of(&addon)?;
        let api = self.api(format!("logging in as {}", names.vhost));
        let made = api.get(&names.vhost_path())?.is_some()
            && api.get(&format!("/api/users/{}", segment(&names.vhost)))?.is_some()
            && api.get(&names.permissions_path(&names.vhost))?.is_some();
        if !made {
            return Ok(Readiness::NotReady { retry_after: RETRY_AFTER });
        }
        if !api.logs_in(&names.vhost, &addon.password())? {
            return Err(self.server.error(
                Sort::Permanent,
                &api.doing,
                "the server refused the user's password (was it changed outside addons?)",
                "deprovision this addon and provision a new one",
            ));
        }
        Ok(Readiness::Ready)
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let names = Names::of(&addon)?;
        Ok(vec![("RABBITMQ_URL".into(), self.app_url(&names, &names.vhost, &addon.password())?)])
    }

    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let api = self.api(format!("removing vhost {} and its users", names.vhost));
        if copy::running(&api, &addon)? {
            // It would make the vhost again after it is deleted.
            return Err(api.transient(&format!("a copier is still copying into vhost {}", names.vhost)));
        }
        // Its queues, exchanges and open connections go with it.
        let vhost = match api.delete(&names.vhost_path())? {
            true => format!("removed vhost {} with its queues, exchanges and connections", names.vhost),
            false => format!("vhost {} was already gone", names.vhost),
        };
        let mut removed = 0;
        for user in self.addon_users(&api, &addon)? {
            removed += u64::from(self.remove_user(&api, &names, &user)?);
        }
        copy::forget(&api, &addon)?;
        let users = crate::names::plural(removed, "user");
        Ok(format!("{vhost}; removed {users} on {}", self.server.place()))
    }

    fn health(&self) -> Result<String, ProviderError> {
        let api = self.api("checking the management API".into());
        let overview = api.get("/api/overview")?.unwrap_or_default();
        let whoami = api.get("/api/whoami")?.unwrap_or_default();
        let tags = match &whoami["tags"] {
            Value::Array(tags) => tags.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Value::String(tags) => tags.split(',').map(str::to_string).collect(),
            _ => Vec::new(),
        };
        if !tags.iter().any(|tag| tag == "administrator") {
            let user = whoami["name"].as_str().unwrap_or("the admin user");
            return Err(self.server.error(
                Sort::Permanent,
                &api.doing,
                &format!("{user} has no administrator tag, so it can't make vhosts and users"),
                &format!(
                    "rabbitmqctl set_user_tags {user} administrator, or name another user in providers.rabbitmq.url"
                ),
            ));
        }
        let version = overview["rabbitmq_version"].as_str().unwrap_or("(version unknown)");
        Ok(format!("RabbitMQ {version} at {}", self.server.display_url()))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities { credentials: Some(self), verifier: Some(self), copies: Copies::By(self), ..Capabilities::NONE }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_whole_numbers() {
        let params = |key: &str, value: &str| Params::from([(key.to_string(), value.to_string())]);
        assert_eq!(limits(&params("max_queues", "10")), Ok(vec![("max-queues", 10)]));
        assert_eq!(limits(&params("max_connections", "0")), Ok(vec![("max-connections", 0)]));
        for bad in ["-1", "ten", "", "1.5", "99999999999"] {
            assert!(limits(&params("max_queues", bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_amqp_address_is_checked_and_completed() {
        assert_eq!(amqp_address("amqp://mq.example").unwrap().as_str(), "amqp://mq.example:5672");
        assert_eq!(amqp_address("amqps://mq.example/").unwrap().as_str(), "amqps://mq.example:5671/");
        for bad in ["http://h:5672", "amqp://u:p@h", "amqp://h/vhost", "nonsense"] {
            assert!(amqp_address(bad).is_err(), "{bad}");
        }
    }
}
