//! Provisioning as a service of the engine, which `provision`, `apply` and `attach` call
//! alike: checking a provider's server and a `--from` source before anything is made, the
//! row of a new addon, and its creation with the first provider call.

use super::base::Engine;
use super::server::Unbound;
use crate::addon::{new_seed, Addon};
use crate::clock::Clock;
use crate::error::{failed, usage};
use crate::labels::Labels;
use crate::names;
use crate::providers;
use crate::spec::AddonSpec;
use crate::store::{NewAddon, Outcome, Refused, Store};

/// Why the addon a new one was to be a copy of can't be its source; nothing was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadSource {
    /// The provider never copies data: why.
    #[error("{0}")]
    NeverCopies(&'static str),
    /// No addon has that name.
    #[error("{0}")]
    Missing(Refused),
    /// The source is another provider's addon.
    #[error("{addon} is a {its} addon; a {wanted} addon can only be a copy of another {wanted} addon")]
    OtherProvider { addon: String, its: String, wanted: String },
    /// The source is not ready, so its data can't be read.
    #[error("{addon} is {state}, not ready; only a ready addon's data can be copied")]
    NotReady { addon: String, state: crate::machine::State },
}

/// `provision --ensure` found a live addon of the name asked for, and it is another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("addon {name} exists but is not the one asked for: {}", differences.join("; "))]
pub struct OtherAddon {
    pub name: String,
    /// Each way it differs, as [`crate::spec::differences`] words it.
    pub differences: Vec<String>,
}

impl Engine {
    /// The live addon named `name` when it is the one `spec` asks for, as an ensured
    /// provision keeps it; `None` when no live addon has the name; [`OtherAddon`] when
    /// one is another.
    pub fn ensured(&self, store: &Store, name: &str, spec: &AddonSpec) -> anyhow::Result<Option<Addon>> {
        let Some(existing) = store.live_addon_named(name)? else { return Ok(None) };
        let differences = crate::spec::differences(spec, &AddonSpec::of(&existing));
        if !differences.is_empty() {
            return Err(OtherAddon { name: name.to_string(), differences }.into());
        }
        Ok(Some(existing))
    }

    /// Refuses (exit 1) before anything is created when the provider's server does not
    /// answer; else the provider's warnings (a server that undoes every addon's isolation),
    /// for the command to print.
    pub fn check_server(&self, provider: &str, server: &str) -> anyhow::Result<Vec<String>> {
        let provider = self.provider_on(provider, server).map_err(usage)?;
        provider.health().map_err(|err| failed(format!("can't provision: {err}")))?;
        Ok(provider.warnings())
    }

    /// Refuses (exit 2) `attach --read-only` to an addon whose provider lets no app
    /// only read (`Capabilities::read_only`, `Never` unless a provider says otherwise),
    /// naming the providers configured here that do; nothing is written.
    pub fn check_read_only(&self, addon: &Addon) -> anyhow::Result<()> {
        let provider = self.provider_on(&addon.provider, super::server::server_name(addon)).map_err(usage)?;
        if provider.capabilities().read_only.supported() {
            return Ok(());
        }
        let able: Vec<&str> = (providers::ALL.iter().map(|info| info.name))
            .filter(|name| self.provider(name).is_ok_and(|built| built.capabilities().read_only.supported()))
            .collect();
        let which = match able.as_slice() {
            [] => "no provider configured here does".to_string(),
            [one] => format!("of the providers configured here, only {one} does"),
            [some @ .., last] => format!("of the providers configured here, only {} and {last} do", some.join(", ")),
        };
        Err(usage(format!(
            "the {} provider can't give an app read-only access ({which}); attach {} without --read-only",
            addon.provider, addon.name
        )))
    }

    /// Creates an addon as `spec` says and begins provisioning it: the addon as it then
    /// is, and the transition to error when `begin_provision` failed for good. A name or
    /// var already taken is the store's exit-1 refusal, with nothing created.
    pub fn create(
        &self,
        store: &mut Store,
        name: &str,
        spec: &AddonSpec,
        labels: Labels,
        expires_at: Option<i64>,
        source_id: Option<&str>,
    ) -> anyhow::Result<(Addon, Option<Outcome>)> {
        let now = store.now()?;
        let addon = store.insert_addon(&self.new_addon(name, spec, labels, expires_at, source_id, now)?)?;
        let failure = self.begin(store, &addon)?;
        Ok((store.addon(&addon.id)?, failure))
    }

    /// The row of an addon to make: a new id and seed, its vars (prefixed), its deadline
    /// (from `now`, on the state's clock), and the claim this process holds on it while it
    /// calls `begin_provision`.
    pub fn new_addon(
        &self,
        name: &str,
        spec: &AddonSpec,
        labels: Labels,
        expires_at: Option<i64>,
        source_id: Option<&str>,
        now: i64,
    ) -> anyhow::Result<NewAddon> {
        let info = providers::info(&spec.provider).ok_or_else(|| usage(providers::unknown_provider(&spec.provider)))?;
        let server = match self.server_of(&spec.provider, spec.server_name()) {
            Ok(server) => server,
            Err(Unbound::NotBuilt(why)) => return Err(usage(why)),
            Err(Unbound::Unknown(err)) => return Err(failed(format!("can't provision: {err}"))),
            Err(Unbound::Elsewhere(why)) => return Err(failed(why)),
        };
        Ok(NewAddon {
            id: names::generate_addon_id(),
            name: name.to_string(),
            provider: spec.provider.clone(),
            app: spec.app.clone(),
            prefix: spec.prefix.clone(),
            params: spec.params.clone(),
            seed: new_seed(),
            vars: info.vars.iter().map(|var| crate::names::prefixed(spec.prefix.as_deref(), var)).collect(),
            deadline_at: Clock::starting_at(now).after(self.settings().engine.provision_timeout),
            claim: self.token().to_string(),
            lease: self.lease(),
            labels,
            expires_at,
            source_id: source_id.map(str::to_string),
            server,
            backup_schedule: None,
        })
    }

    /// The id of the addon `--from` names, once it is known to be one whose data can be
    /// copied now: ready, of the same provider, with its resource there (and, for a
    /// provider that may need them, the copy tools on PATH). Refused, with nothing
    /// created, when not: [`BadSource`] for a wrong addon, an operation failure when the
    /// provider can't.
    pub fn check_source(&self, store: &Store, spec: &AddonSpec, from: &str) -> anyhow::Result<String> {
        providers::info(&spec.provider).ok_or_else(|| usage(providers::unknown_provider(&spec.provider)))?;
        let provider = self.provider(&spec.provider);
        if let Some(providers::Copies::Never(why)) =
            provider.as_ref().ok().map(|provider| provider.capabilities().copies)
        {
            return Err(BadSource::NeverCopies(why).into());
        }
        let source = store.addon(from).map_err(|err| match err.downcast::<Refused>() {
            Ok(missing) => BadSource::Missing(missing).into(),
            Err(err) => err,
        })?;
        if source.provider != spec.provider {
            let (its, wanted) = (source.provider, spec.provider.clone());
            return Err(BadSource::OtherProvider { addon: source.name, its, wanted }.into());
        }
        if source.state != crate::machine::State::Ready {
            return Err(BadSource::NotReady { addon: source.name, state: source.state }.into());
        }
        self.check_bound(&source)?;
        provider
            .map_err(usage)?
            .copier()
            .and_then(|copier| copier.check_copy(source.resource()))
            .map_err(|err| failed(format!("can't copy the data of {}: {err}", source.name)))?;
        Ok(source.id)
    }
}
