//! A provider compiled into unit tests only: its one registry entry is all that the
//! config file, `provision --help`, `addons providers` and completion learn of it, which
//! shows that adding a provider is adding its file and its entry.

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Configured, Environment, ParamSpec, Provider, ProviderConfig, ProviderError, ProviderInfo, Readiness, Resource,
};
use crate::config::Section;

/// Registry entry for `fake`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "fake",
    summary: "a resource made of nothing, for tests",
    vars: &["FAKE_URL"],
    params: &[ParamSpec { key: "flavour", help: "sweet or sour" }],
    check_params: |params| match params.get("flavour").map(String::as_str) {
        None | Some("sweet" | "sour") => Ok(()),
        Some(_) => Err("param flavour must be sweet or sour".into()),
    },
    example: Some("[providers.fake]\nhost = \"fake.example\""),
    configure,
    rotation: super::Rotates::WithOverlap,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FakeDoc {
    host: Spanned<String>,
}

fn configure(section: Option<&Section<'_>>) -> Configured {
    let Some(section) = section else { return Ok(None) };
    let doc: FakeDoc = section.read()?;
    if doc.host.get_ref().is_empty() {
        return Err(section.invalid(doc.host.span(), "host is empty; write e.g. fake.example"));
    }
    Ok(Some(Arc::new(Fake { host: doc.host.into_inner() })))
}

/// Answers every operation at once, from its host.
#[derive(Debug, Clone)]
pub struct Fake {
    host: String,
}

impl ProviderConfig for Fake {
    fn build(&self, _env: &Environment) -> Box<dyn Provider> {
        Box::new(self.clone())
    }
}

impl Provider for Fake {
    fn begin_provision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Ok("made".into())
    }

    fn provision_complete(&self, _addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        Ok(Readiness::Ready)
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        Ok(vec![("FAKE_URL".into(), format!("fake://{}/{}", self.host, addon.id))])
    }

    fn deprovision(&self, _addon: Resource<'_>) -> Result<String, ProviderError> {
        Ok("gone".into())
    }

    fn health(&self) -> Result<String, ProviderError> {
        Ok(format!("fake at {}", self.host))
    }
}

mod tests {
    use std::path::Path;

    use clap::CommandFactory;

    use super::*;
    use crate::config;

    fn parse(text: &str) -> anyhow::Result<super::super::Configs> {
        super::super::configure(&config::parse(Path::new("/etc/addons.toml"), text)?)
    }

    fn environment() -> Environment {
        Environment { data_dir: "/nonexistent".into() }
    }

    #[test]
    fn its_table_is_read_by_its_entry() {
        let settings = parse("[engine]\njobs = 2\n[providers.fake]\nhost = \"h.example\"\n").unwrap();
        let provider = super::super::build("fake", &settings, &environment()).unwrap();
        assert_eq!(provider.health(), Ok("fake at h.example".to_string()));
        let err = format!("{:#}", parse("[providers.fake]\nhost = \"h\"\ncolour = 1\n").unwrap_err());
        assert!(err.contains("/etc/addons.toml, line 3: ") && err.contains("colour"), "{err}");
        let err = format!("{:#}", parse("\n[providers.fake]\nhost = \"\"\n").unwrap_err());
        assert_eq!(err, "config file /etc/addons.toml, line 3: providers.fake.host is empty; write e.g. fake.example");
        let err = format!("{:#}", parse("[providers.fake]\nhost = 7\n").unwrap_err());
        assert!(err.starts_with("config file /etc/addons.toml, line 2: providers.fake.host: invalid type"), "{err}");
    }

    #[test]
    fn without_its_table_it_is_not_configured_and_says_what_to_add() {
        let settings = parse("").unwrap();
        let err = super::super::build("fake", &settings, &environment()).err().unwrap();
        assert_eq!(
            err,
            "the fake provider is not configured: add to /etc/addons.toml the lines [providers.fake] host = \"fake.example\""
        );
        assert_eq!(INFO.lacking(), "[providers.fake] with a host");
    }

    #[test]
    fn help_and_completion_offer_it_and_its_params() {
        let help = crate::help::param_help();
        assert!(help.contains("\nfake:\n  flavour: sweet or sour"), "{help}");
        let mut command = crate::cli::Cli::command();
        let words = ["addons", "provision", "fa"].map(std::ffi::OsString::from).to_vec();
        let candidates = clap_complete::engine::complete(&mut command, words, 2, None).unwrap();
        let values: Vec<String> = candidates.iter().map(|c| c.get_value().to_string_lossy().into_owned()).collect();
        assert_eq!(values, ["fake"]);
        let params = crate::addon::Params::from([("flavour".to_string(), "bitter".to_string())]);
        assert_eq!(super::super::check_params(&INFO, &params), Err("param flavour must be sweet or sour".to_string()));
    }
}
