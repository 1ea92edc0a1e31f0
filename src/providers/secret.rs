//! The `secret` provider: a random key from the OS's CSPRNG, handed out as `SECRET_KEY`.

use std::sync::Arc;

use serde::Deserialize;

use super::{
    Backups, Capabilities, Configured, Copies, Credential, Credentials, Environment, ParamSpec, Provider,
    ProviderConfig, ProviderError, ProviderInfo, Readiness,
};
use crate::addon::{Params, Resource, ALNUM};
use crate::config::Section;

/// Registry entry for `secret`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "secret",
    summary: "a random key from the OS's CSPRNG",
    vars: &["SECRET_KEY"],
    params: &[
        ParamSpec { key: "length", help: "number of characters, 16 to 4096 (default 100)", values: &[] },
        ParamSpec { key: "alphabet", help: "alnum (default), hex or base64url", values: &[] },
    ],
    check_params: |params| settings(params).map(|_| ()),
    example: None,
    configure,
    rotation: super::Rotates::Replace,
    acts_outside: false,
};

/// `[providers.secret]` takes no settings: a table there may only be empty.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretDoc {}

fn configure(section: Option<&Section<'_>>) -> Configured {
    if let Some(section) = section {
        section.read::<SecretDoc>()?;
    }
    Ok(Some(Arc::new(Secret)))
}

impl ProviderConfig for Secret {
    fn build(&self, _env: &Environment) -> Box<dyn Provider> {
        Box::new(Secret)
    }
}

const DEFAULT_LENGTH: usize = 100;

/// Why a secret addon is never a copy of another.
/// Why a secret addon has no backups.
const NO_BACKUP: &str =
    "a secret addon holds no data but its value, which its app's config vars hold: there is nothing to back up";
const NO_COPY: &str = "a new secret is the point of a secret addon; provision it without --from";

/// Makes nothing outside the state file: the key derives from the addon's seed.
#[derive(Debug)]
pub struct Secret;

fn settings(params: &Params) -> Result<(usize, &'static [u8]), String> {
    let length = match params.get("length") {
        None => DEFAULT_LENGTH,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (16..=4096).contains(&n) => n,
            _ => {
                return Err(format!(
                    "param length must be a whole number from 16 to 4096, not {}",
                    crate::names::shown(text)
                ))
            }
        },
    };
    let alphabet: &'static [u8] = match params.get("alphabet").map(String::as_str) {
        None | Some("alnum") => ALNUM,
        Some("hex") => b"0123456789abcdef",
        Some("base64url") => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        Some(other) => {
            return Err(format!("param alphabet must be alnum, hex or base64url, not {}", crate::names::shown(other)))
        }
    };
    Ok((length, alphabet))
}

impl Provider for Secret {
    fn begin_provision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Ok("generating a secret key".into())
    }

    fn provision_complete(&self, _addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        Ok(Readiness::Ready)
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        self.ensure(addon, Credential::ORIGINAL)
    }

    fn deprovision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Ok("secret key discarded".into())
    }

    fn health(&self) -> Result<String, ProviderError> {
        Ok("built in".into())
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            credentials: Some(self),
            copies: Copies::Never(NO_COPY),
            backups: Backups::Never(NO_BACKUP),
            ..Capabilities::NONE
        }
    }
}

impl Credentials for Secret {
    /// A new generation is a new key, and that is the whole rotation: the old one is
    /// simply no longer handed out. Every slot of one generation gets the same key (apps
    /// that share a secret must agree on it).
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError> {
        let (length, alphabet) = settings(addon.params).map_err(ProviderError::Permanent)?;
        let purpose = match credential.generation {
            0 => "secret_key".to_string(),
            generation => format!("secret_key/{generation}"),
        };
        Ok(vec![("SECRET_KEY".into(), addon.derive_secret(&purpose, length, alphabet))])
    }

    /// An old key is simply no longer handed out: there is no login to remove.
    fn revoke(&self, _addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        Ok(super::no_login_to_revoke(credential))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_100_alphanumerics_and_params_shape_it() {
        let seed = crate::addon::new_seed();
        let mut params = Params::new();
        let config = Secret.get_config(Resource::new("a", &params, &seed)).unwrap();
        assert_eq!(config[0].1.len(), 100);
        assert!(config[0].1.bytes().all(|b| b.is_ascii_alphanumeric()));
        params.insert("length".into(), "32".into());
        params.insert("alphabet".into(), "hex".into());
        let config = Secret.get_config(Resource::new("a", &params, &seed)).unwrap();
        assert_eq!(config[0].1.len(), 32);
        assert!(config[0].1.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn a_generation_is_a_new_key_shared_by_every_slot() {
        let (seed, params) = (crate::addon::new_seed(), Params::new());
        let addon = Resource::new("a", &params, &seed);
        let key = |slot, generation| Secret.ensure(addon, Credential::new(slot, generation)).unwrap();
        assert_eq!(key(0, 0), Secret.get_config(addon).unwrap());
        assert_eq!(key(0, 0)[0].1, addon.derive_secret("secret_key", 100, ALNUM));
        assert_ne!(key(0, 1), key(0, 0));
        assert_eq!(key(3, 1), key(0, 1));
    }

    #[test]
    fn bad_params_are_refused() {
        for (key, value) in [("length", "8"), ("length", "x"), ("length", "5000"), ("alphabet", "emoji")] {
            let params = Params::from([(key.to_string(), value.to_string())]);
            assert!((INFO.check_params)(&params).is_err(), "{key}={value}");
        }
    }
}
