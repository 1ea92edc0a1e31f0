//! A provider compiled into unit tests and, with the `fake-provider` feature, into the
//! binary the integration suites drive (never into a release build): its one registry
//! entry is all that the config file, `provision --help`, `addons providers`, completion
//! and the test suites learn of it, which shows that adding a provider is adding its
//! file and its entry. Its resource is a file in the data directory holding the URL it
//! hands out: made, read and removed in-process, with no server.

use std::path::PathBuf;
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
    params: &[ParamSpec { key: "flavour", help: "sweet or sour", values: &[] }],
    check_params: |params| match params.get("flavour").map(String::as_str) {
        None | Some("sweet" | "sour") => Ok(()),
        Some(_) => Err("param flavour must be sweet or sour".into()),
    },
    example: Some("[providers.fake]\nhost = \"fake.example\""),
    configure,
    rotation: super::Rotates::Nothing("the fake provider's resource has no login to rotate"),
    acts_outside: true,
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
    Ok(Some(Arc::new(FakeConfig { host: doc.host.into_inner() })))
}

/// The fake's settings: the host its URLs name.
#[derive(Debug)]
struct FakeConfig {
    host: String,
}

impl ProviderConfig for FakeConfig {
    fn build(&self, env: &Environment) -> Box<dyn Provider> {
        Box::new(Fake { host: self.host.clone(), dir: env.data_dir.join("fake") })
    }
}

/// Keeps each addon's resource as the file `<data dir>/fake/<id>`, which holds its URL.
#[derive(Debug)]
pub struct Fake {
    host: String,
    dir: PathBuf,
}

impl Fake {
    /// The file of the addon's resource (its id checked as every provider's is).
    fn file(&self, addon: &Resource<'_>) -> Result<PathBuf, ProviderError> {
        super::resource_name(addon)?;
        Ok(self.dir.join(addon.id))
    }
}

/// A file system failure, worth retrying.
fn io_error(doing: &str, path: &std::path::Path, err: std::io::Error) -> ProviderError {
    ProviderError::Transient(format!("{doing} {}: {err}", path.display()))
}

impl Provider for Fake {
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let file = self.file(&addon)?;
        if file.exists() {
            return Ok("already made".into());
        }
        std::fs::create_dir_all(&self.dir).map_err(|err| io_error("making", &self.dir, err))?;
        // Written beside and renamed into place: the file holds a whole URL or is absent.
        let part = self.dir.join(format!("{}.part", addon.id));
        let url = format!("fake://{}/{}", self.host, addon.id);
        std::fs::write(&part, url).map_err(|err| io_error("writing", &part, err))?;
        std::fs::rename(&part, &file).map_err(|err| io_error("renaming", &file, err))?;
        Ok("made".into())
    }

    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let file = self.file(&addon)?;
        match file.exists() {
            true => Ok(Readiness::Ready),
            false => Err(ProviderError::Permanent(format!("{} is missing", file.display()))),
        }
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let file = self.file(&addon)?;
        let url = std::fs::read_to_string(&file).map_err(|err| io_error("reading", &file, err))?;
        Ok(vec![("FAKE_URL".into(), url)])
    }

    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let file = self.file(&addon)?;
        match std::fs::remove_file(&file) {
            Ok(()) => Ok("removed".into()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok("already gone".into()),
            Err(err) => Err(io_error("removing", &file, err)),
        }
    }

    fn health(&self) -> Result<String, ProviderError> {
        Ok(format!("fake at {}", self.host))
    }
}

#[cfg(test)]
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
            "the fake provider is not configured: add to /etc/addons.toml the lines\n\n[providers.fake]\nhost = \"fake.example\"\n"
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
