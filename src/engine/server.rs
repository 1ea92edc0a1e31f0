//! Which server an addon was made on, and the door every later step goes through: the
//! provider is handed out only while the config still leads to that server.

use std::sync::Arc;

use super::base::Engine;
use crate::addon::Addon;
use crate::providers::{Provider, ProviderError};
use crate::store::Store;

pub use crate::providers::DEFAULT_SERVER;

/// Why an addon's provider was not handed out.
pub enum Unbound {
    /// The provider can't be built (not configured): the message says what to add.
    NotBuilt(String),
    /// Its server could not be asked who it is; retried like any provider failure.
    Unknown(ProviderError),
    /// The config leads to another server than the addon's: nothing is done until it
    /// leads back.
    Elsewhere(String),
}

/// A message that may end in lines to paste (a provider not configured) as the one line
/// an addon's message or error keeps.
pub(super) fn one_line(message: &str) -> String {
    message.trim_end().replace("\n\n", " ").replace('\n', " ")
}

impl Engine {
    /// Where an addon of `provider` made now on its server named `server` is made:
    /// "SERVER IDENTITY", from the server itself (asked once per process); `None` for a
    /// provider without a server.
    pub fn server_of(&self, provider: &str, server: &str) -> Result<Option<String>, Unbound> {
        let built = self.provider_on(provider, server).map_err(Unbound::NotBuilt)?;
        let key = format!("{provider} {server}");
        let mut known = self.identities.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(identity) = known.get(&key) {
            return Ok(identity.clone());
        }
        let identity = built.server_identity().map_err(Unbound::Unknown)?;
        let recorded = identity.map(|identity| format!("{server} {identity}"));
        known.insert(key, recorded.clone());
        Ok(recorded)
    }

    /// How the provider's server was found on this machine, when no config section
    /// names it and it is used.
    pub fn found(&self, provider: &str) -> Option<String> {
        let settings = crate::providers::settings_of(provider, &self.configs).ok()?;
        settings.found().map(str::to_string)
    }

    /// The addon's provider, on the server the addon was made on. An addon made before
    /// servers were recorded goes to the configured one, and records it.
    pub(super) fn provider_of(&self, store: &mut Store, addon: &Addon) -> Result<Arc<dyn Provider>, Unbound> {
        let server = server_name(addon);
        let provider = self.provider_on(&addon.provider, server).map_err(|why| Unbound::NotBuilt(one_line(&why)))?;
        let current = self.server_of(&addon.provider, server)?;
        match (&addon.server, current) {
            (Some(recorded), Some(current)) if !same_server(recorded, &current) => {
                Err(Unbound::Elsewhere(elsewhere(addon, recorded, &current)))
            }
            (None, Some(current)) => {
                store.record_server(&addon.id, &self.token, &current).map_err(|err| {
                    Unbound::Unknown(ProviderError::Transient(format!("can't record the addon's server: {err:#}")))
                })?;
                Ok(provider)
            }
            _ => Ok(provider),
        }
    }

    /// Refuses (exit 1) an operation on `addon` when the config leads to another server
    /// than the one it was made on: `deprovision`, `rotate`, `attach`, `check` and
    /// `provision --from` ask before they change anything. A server that can't be asked
    /// now is left to the steps, which ask again before they touch it.
    pub fn check_bound(&self, addon: &Addon) -> anyhow::Result<()> {
        let Some(recorded) = &addon.server else { return Ok(()) };
        match self.server_of(&addon.provider, server_name(addon)) {
            Ok(Some(current)) if !same_server(recorded, &current) => {
                Err(crate::error::failed(elsewhere(addon, recorded, &current)))
            }
            _ => Ok(()),
        }
    }
}

/// The name of the server an addon was made on, in its provider's config section:
/// `default` for one made before servers were recorded.
pub fn server_name(addon: &Addon) -> &str {
    addon.server.as_deref().and_then(|server| server.split(' ').next()).unwrap_or(DEFAULT_SERVER)
}

/// Whether the recorded server and the one the config leads to are one: the same
/// identity, or for Redis the same address (its run id changes when it restarts).
pub fn same_server(recorded: &str, current: &str) -> bool {
    let address = |server: &str| -> Option<String> {
        let mut words = server.split(' ');
        let (name, kind, address) = (words.next()?, words.next()?, words.next()?);
        (kind == "redis").then(|| format!("{name} {address}"))
    };
    recorded == current || address(recorded).is_some_and(|a| Some(a) == address(current))
}

/// "addon db was made on server default (postgres 77…), but the config now leads the
/// postgres provider to postgres 12…; nothing was done: point the config back at it".
fn elsewhere(addon: &Addon, recorded: &str, current: &str) -> String {
    // The named server is the one asked: only its identity differs.
    let (name, identity) = recorded.split_once(' ').unwrap_or((recorded, ""));
    let now = current.split_once(' ').map_or(current, |(_, identity)| identity);
    format!(
        "addon {} was made on the {} provider's {name} server ({identity}), but the config now leads it to another ({now}); nothing was done: point the config back at that server",
        addon.name, addon.provider
    )
}

#[cfg(test)]
mod tests {
    use super::same_server;

    #[test]
    fn a_server_is_its_identity_and_a_redis_its_address() {
        assert!(same_server("default postgres 77", "default postgres 77"));
        assert!(!same_server("default postgres 77", "default postgres 12"));
        assert!(same_server("default redis 127.0.0.1:6379 aa", "default redis 127.0.0.1:6379 bb"));
        assert!(!same_server("default redis 127.0.0.1:6379 aa", "default redis 127.0.0.1:6380 aa"));
    }
}
