//! The provider contract (the seed's four operations) and the registry of compiled-in providers.

use std::path::PathBuf;
use std::time::Duration;

use crate::addon::{Params, Resource};
use crate::config::Settings;

mod mysql;
mod postgres;
mod redis;
mod secret;
mod sqlite;

/// What `provision_complete` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet; ask again after this long.
    NotReady {
        retry_after: Duration,
    },
}

/// Why a provider operation failed. Messages never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying with backoff: connection refused or reset, timeout, lock contention.
    #[error("{0}")]
    Transient(String),
    /// Retrying will not help: bad parameter, authentication failed, permission denied.
    #[error("{0}")]
    Permanent(String),
}

/// One parameter a provider accepts with `--param KEY=VALUE`.
#[derive(Debug)]
pub struct ParamSpec {
    pub key: &'static str,
    pub help: &'static str,
}

/// What is known about a provider without building it: enough to validate a
/// `provision` before anything is created.
#[derive(Debug)]
pub struct ProviderInfo {
    pub name: &'static str,
    /// The config var names it hands out (before any prefix).
    pub vars: &'static [&'static str],
    pub params: &'static [ParamSpec],
    /// Checks param values (keys are checked against `params` by the registry).
    pub check_params: fn(&Params) -> Result<(), String>,
    /// The config file section it needs, as lines to add; `None` for providers that need none.
    pub needs: Option<&'static str>,
    /// What the resource is, in a few words.
    pub summary: &'static str,
}

/// The seed's `BaseAddonProvider`: four operations, each fast and idempotent by addon id.
pub trait Provider: Send + Sync {
    /// Starts making the resource; returns a message for the user.
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError>;
    /// Whether the resource is usable yet.
    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError>;
    /// The config vars (declared names, no prefix) that let an app use the resource.
    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError>;
    /// Starts removing the resource; returns a message for the user.
    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError>;
    /// Whether the provider's server answers, for `addons providers`; a short status line.
    fn health(&self) -> Result<String, ProviderError>;
    /// What the server's operator should fix before trusting it with addons (one line each,
    /// saying what to do; empty when nothing): `providers` and `provision` show them.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Every compiled-in provider, in the order `addons providers` lists them.
pub const ALL: [&ProviderInfo; 5] = [&secret::INFO, &sqlite::INFO, &postgres::INFO, &mysql::INFO, &redis::INFO];

/// Looks a provider up by name.
pub fn info(name: &str) -> Option<&'static ProviderInfo> {
    ALL.into_iter().find(|info| info.name == name)
}

/// Validates `--param` keys and values for a provider.
pub fn check_params(info: &ProviderInfo, params: &Params) -> Result<(), String> {
    for key in params.keys() {
        if !info.params.iter().any(|spec| spec.key == key) {
            let known: Vec<&str> = info.params.iter().map(|spec| spec.key).collect();
            return Err(if known.is_empty() {
                format!("the {} provider takes no params, but got {}", info.name, crate::names::shown(key))
            } else {
                format!(
                    "unknown param {} for the {} provider; it takes: {}",
                    crate::names::shown(key),
                    info.name,
                    known.join(", ")
                )
            });
        }
    }
    (info.check_params)(params)
}

/// Where providers that keep files (sqlite) put them.
#[derive(Debug, Clone)]
pub struct Environment {
    pub data_dir: PathBuf,
}

/// Builds a provider from the settings; `Err` holds a one-line message saying
/// which config lines to add when it is not configured.
pub fn build(name: &str, settings: &Settings, env: &Environment) -> Result<Box<dyn Provider>, String> {
    let not_configured = |section: &str| {
        format!(
            "the {name} provider is not configured: add to {} the lines {}",
            settings.path.display(),
            section.replace('\n', " ")
        )
    };
    let info = info(name).ok_or_else(|| unknown_provider(name))?;
    Ok(match name {
        "secret" => Box::new(secret::Secret),
        "sqlite" => {
            Box::new(sqlite::Sqlite::new(settings.sqlite_dir.clone().unwrap_or_else(|| env.data_dir.join("sqlite"))))
        }
        "postgres" => Box::new(postgres::Postgres::new(
            settings.postgres.clone().ok_or_else(|| not_configured(info.needs.unwrap_or_default()))?,
        )),
        "mysql" => Box::new(mysql::Mysql::new(
            settings.mysql.clone().ok_or_else(|| not_configured(info.needs.unwrap_or_default()))?,
        )),
        "redis" => Box::new(redis::Redis::new(
            settings.redis.clone().ok_or_else(|| not_configured(info.needs.unwrap_or_default()))?,
        )),
        other => return Err(unknown_provider(other)),
    })
}

/// The message for a provider name that is not compiled in.
pub fn unknown_provider(name: &str) -> String {
    let names: Vec<&str> = ALL.iter().map(|info| info.name).collect();
    format!("unknown provider {}; choose one of: {}", crate::names::shown(name), names.join(", "))
}

/// The name every server-side resource of an addon is made under, `addons_<id>`:
/// derived from the id alone, so a provider always finds what it made. An id that is
/// not the 16 lowercase hex digits `addons` generates is refused, so nothing but hex
/// ever reaches an identifier or an ACL pattern.
pub fn resource_name(addon: &Resource<'_>) -> Result<String, ProviderError> {
    let valid = addon.id.len() == 16 && addon.id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid {
        return Err(ProviderError::Permanent(format!(
            "addon id {:?} is not 16 lowercase hex digits; the state file may be damaged",
            addon.id
        )));
    }
    Ok(format!("addons_{}", addon.id))
}

/// Builds a URL handed to an app: `scheme://user:password@host:port/path`, with
/// user and password percent-encoded. A host the URL parser refuses (or would change)
/// is a permanent error: it came from `public_host` or the admin URL, and retrying
/// will not fix it.
pub fn app_url(
    scheme: &str,
    user: &str,
    password: &str,
    host: &str,
    port: u16,
    path: &str,
) -> Result<String, ProviderError> {
    let refused = |why: String| ProviderError::Permanent(format!("can't build the {scheme}:// URL for the app: {why}"));
    let mut url = url_with_host(scheme, host).map_err(refused)?;
    let set =
        url.set_port(Some(port)).and_then(|()| url.set_username(user)).and_then(|()| url.set_password(Some(password)));
    set.map_err(|()| {
        refused(format!("a {scheme}:// URL with host {} takes no port or credentials", crate::names::shown(host)))
    })?;
    url.set_path(path);
    Ok(url.to_string())
}

/// Checks a `public_host` the way [`app_url`] will use it, so a host it would refuse is
/// refused when the config file loads instead of on every tick.
pub fn check_public_host(scheme: &str, host: &str) -> Result<(), String> {
    url_with_host(scheme, host).map(drop)
}

/// `scheme://host`, where host is a name or an IPv4 or IPv6 address (bare or in brackets)
/// that the URL parser takes as it is: one it refuses or would percent-encode is an error.
fn url_with_host(scheme: &str, host: &str) -> Result<url::Url, String> {
    let shown = crate::names::shown(host);
    let bad = || format!("{shown} is not a host name or IP address; write e.g. db.example.internal or ::1");
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let ipv6 = bare.parse::<std::net::Ipv6Addr>().ok();
    let host = match ipv6 {
        Some(ip) => format!("[{ip}]"),
        None if host.is_empty() || host.contains(['[', ']']) => return Err(bad()),
        None => host.to_string(),
    };
    let mut url =
        url::Url::parse(&format!("{scheme}://placeholder")).map_err(|_| format!("{scheme} is not a URL scheme"))?;
    // Host first: a URL without one takes no port or credentials.
    url.set_host(Some(&host)).map_err(|_| bad())?;
    if ipv6.is_none() && url.host_str() != Some(host.as_str()) {
        return Err(bad());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_take_only_generated_ids() {
        let (params, seed) = (Params::new(), crate::addon::new_seed());
        let name = |id: &str| resource_name(&Resource::new(id, &params, &seed));
        assert_eq!(name("0123456789abcdef"), Ok("addons_0123456789abcdef".to_string()));
        for bad in ["", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdefa", "x\"; DROP ROLE x;--", "*"] {
            assert!(matches!(name(bad), Err(ProviderError::Permanent(_))), "{bad:?}");
        }
    }

    #[test]
    fn app_urls_encode_credentials() {
        assert_eq!(
            app_url("postgres", "u", "p@ss:w/rd", "db.example", 5432, "/d").unwrap(),
            "postgres://u:p%40ss%3Aw%2Frd@db.example:5432/d"
        );
        assert_eq!(app_url("redis", "u", "p", "::1", 6379, "/0").unwrap(), "redis://u:p@[::1]:6379/0");
        assert_eq!(app_url("mysql", "u", "p", "[0:0::1]", 3306, "/d").unwrap(), "mysql://u:p@[::1]:3306/d");
    }

    #[test]
    fn hosts_the_url_parser_refuses_are_permanent_errors() {
        for host in
            ["db#x", "db?x=1", "a|b", "db<x>", "a\nb", "a\0b", "", "a b", "a/b", "u@h", "h:1", "[h]", "d\u{e9}", "[::1"]
        {
            for scheme in ["postgres", "mysql", "redis"] {
                assert!(check_public_host(scheme, host).is_err(), "{scheme} {host:?}");
                assert!(
                    matches!(app_url(scheme, "u", "p", host, 1, "/"), Err(ProviderError::Permanent(_))),
                    "{host:?}"
                );
            }
        }
        for host in ["db.example.internal", "10.0.0.1", "::1", "[fe80::1]", "db-1_a"] {
            assert_eq!(check_public_host("postgres", host), Ok(()), "{host:?}");
        }
    }

    #[test]
    fn unknown_params_and_providers_are_named() {
        let err = check_params(info("secret").unwrap(), &Params::from([("size".into(), "3".into())])).unwrap_err();
        assert!(err.contains("unknown param \"size\"") && err.contains("length, alphabet"), "{err}");
        assert!(unknown_provider("mongo").contains("secret, sqlite, postgres, mysql, redis"));
    }
}
