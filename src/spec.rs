//! What an addon is made as (provider, app, prefix, params): the part that can't change in
//! place. `provision --ensure` and `apply` compare the one asked for with the live one, and
//! every difference is one line, so a refusal says exactly what differs.

use crate::addon::{Addon, Params};

/// The name of a provider's one server in `[providers.NAME]` (or the one found on this
/// machine); its others are named in `[providers.NAME.servers.OTHER]`.
pub const DEFAULT_SERVER: &str = "default";

/// The fixed shape of an addon: what `provision` was given and the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddonSpec {
    pub provider: String,
    pub app: String,
    /// Normalised (upper-case), `None` when the addon has none.
    pub prefix: Option<String>,
    pub params: Params,
    /// The provider's server it is made on, by its name in the config file; `None`:
    /// the default one.
    pub server: Option<String>,
}

impl AddonSpec {
    /// What a stored addon was made as.
    pub fn of(addon: &Addon) -> AddonSpec {
        AddonSpec {
            provider: addon.provider.clone(),
            app: addon.app.clone(),
            prefix: addon.prefix.clone(),
            params: addon.params.clone(),
            server: addon
                .server
                .as_deref()
                .and_then(|server| server.split(' ').next())
                .filter(|name| *name != DEFAULT_SERVER)
                .map(str::to_string),
        }
    }

    /// The name of its server in the config file.
    pub fn server_name(&self) -> &str {
        self.server.as_deref().unwrap_or(DEFAULT_SERVER)
    }
}

/// Each way `existing` differs from `requested`, one line each, in the order provider, app,
/// prefix, params (by key): e.g. `provider: asked postgres, exists as mysql`. Empty when
/// they are the same addon. Param values are shown: params are settings such as `length`
/// and `alphabet`, never secrets.
pub fn differences(requested: &AddonSpec, existing: &AddonSpec) -> Vec<String> {
    let mut lines = Vec::new();
    if requested.provider != existing.provider {
        lines.push(format!("provider: asked {}, exists as {}", requested.provider, existing.provider));
    }
    if requested.app != existing.app {
        lines.push(format!("app: asked {}, exists on {}", requested.app, existing.app));
    }
    if requested.prefix != existing.prefix {
        let shown = |prefix: &Option<String>| {
            prefix.as_deref().map_or_else(|| "no prefix".to_string(), |p| format!("--as {p}"))
        };
        lines.push(format!("prefix: asked {}, exists with {}", shown(&requested.prefix), shown(&existing.prefix)));
    }
    if requested.server_name() != existing.server_name() {
        let (asked, has) = (requested.server_name(), existing.server_name());
        lines.push(format!("server: asked {asked}, exists on {has}"));
    }
    let keys: std::collections::BTreeSet<&String> = requested.params.keys().chain(existing.params.keys()).collect();
    for key in keys {
        match (requested.params.get(key), existing.params.get(key)) {
            (Some(asked), Some(has)) if asked != has => {
                lines.push(format!("param {key}: asked {}, exists with {}", quoted(asked), quoted(has)));
            }
            (Some(asked), None) => lines.push(format!("param {key}: asked {}, exists without it", quoted(asked))),
            (None, Some(has)) => lines.push(format!("param {key}: not asked, exists with {}", quoted(has))),
            _ => {}
        }
    }
    lines
}

/// A param value as it would be typed, quoted only when it needs it to stay one line.
fn quoted(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
        value.to_string()
    } else {
        crate::names::shown(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(provider: &str, app: &str, prefix: Option<&str>, params: &[(&str, &str)]) -> AddonSpec {
        AddonSpec {
            provider: provider.into(),
            app: app.into(),
            prefix: prefix.map(Into::into),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            server: None,
        }
    }

    #[test]
    fn the_same_addon_has_no_differences() {
        let one = spec("secret", "web", Some("SIGNING"), &[("length", "64"), ("alphabet", "hex")]);
        assert!(differences(&one, &one.clone()).is_empty());
    }

    #[test]
    fn each_difference_is_one_line() {
        let asked = spec("postgres", "web", None, &[("length", "64"), ("alphabet", "hex")]);
        let exists = spec("mysql", "api", Some("PRIMARY"), &[("length", "32"), ("extra", "x y")]);
        assert_eq!(
            differences(&asked, &exists),
            [
                "provider: asked postgres, exists as mysql",
                "app: asked web, exists on api",
                "prefix: asked no prefix, exists with --as PRIMARY",
                "param alphabet: asked hex, exists without it",
                "param extra: not asked, exists with \"x y\"",
                "param length: asked 64, exists with 32",
            ]
        );
        assert_eq!(
            differences(&spec("secret", "web", Some("A"), &[]), &spec("secret", "web", None, &[])),
            ["prefix: asked --as A, exists with no prefix"]
        );
    }

    #[test]
    fn hostile_param_values_stay_on_one_line() {
        let asked = spec("secret", "web", None, &[("k", "a\nb")]);
        let exists = spec("secret", "web", None, &[("k", "")]);
        let lines = differences(&asked, &exists);
        assert_eq!(lines, ["param k: asked \"a\\nb\", exists with \"\""]);
    }
}
