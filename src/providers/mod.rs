//! The provider contract (what each operation guarantees is docs/providers.md) and the
//! registry of compiled-in providers: one entry per provider file, holding everything the
//! rest of `addons` knows of it (name, vars, params, its config section and how that is
//! read and built).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::addon::{Params, Resource};
use crate::config::{Section, Settings};
pub use credential::{Access, Credential, Drift, DriftKind, Repair};

pub mod credential;
pub mod discover;
#[cfg(any(test, feature = "fake-provider"))]
pub mod fake;
mod mqtt;
mod mysql;
mod postgres;
mod rabbitmq;
mod redis;
mod secret;
pub mod server;
mod sqlite;

/// Every compiled-in provider, in the order `addons providers` lists them. Adding a
/// provider is adding its file and its entry here.
pub static ALL: &[&ProviderInfo] = &[
    &secret::INFO,
    &sqlite::INFO,
    &postgres::INFO,
    &mysql::INFO,
    &redis::INFO,
    &rabbitmq::INFO,
    &mqtt::INFO,
    #[cfg(any(test, feature = "fake-provider"))]
    &fake::INFO,
];

/// What `provision_complete` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// Not yet; ask again after this long.
    NotReady {
        retry_after: Duration,
    },
}

/// How far the copy of another addon's data (`provision --from`) has come, as the
/// server (or the file system) says: any host can ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyStatus {
    /// The copy is complete and marked so by the admin.
    Done,
    /// A copier is at work on it.
    Running,
    /// Neither: never started, or its copier died (the partial copy is redone from scratch).
    Stopped,
}

/// How much of a copy is done, as the server counts it (or the copier, through the
/// server): what the live display turns into a count, a rate and the time left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    pub done: u64,
    /// What the whole copy comes to; `done` may pass it (a copy is seldom the size of
    /// its source), and then the copy is near its end.
    pub total: u64,
    pub unit: CopyUnit,
}

/// What a copy's progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyUnit {
    Bytes,
    Rows,
    Keys,
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

/// How a provider sorts a failure: whether the engine retries it with backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Transient,
    Permanent,
}

impl Sort {
    /// The error of this sort with `line` as its message.
    pub fn error(self, line: String) -> ProviderError {
        match self {
            Sort::Transient => ProviderError::Transient(line),
            Sort::Permanent => ProviderError::Permanent(line),
        }
    }
}

impl ProviderError {
    /// The same error with `secret` masked wherever it appears: a server may quote the
    /// statement that failed, password and all.
    pub fn hiding(self, secret: &str) -> ProviderError {
        let hide = |line: String| if secret.is_empty() { line } else { line.replace(secret, "****") };
        match self {
            ProviderError::Transient(line) => ProviderError::Transient(hide(line)),
            ProviderError::Permanent(line) => ProviderError::Permanent(hide(line)),
        }
    }
}

/// One parameter a provider accepts with `--param KEY=VALUE`.
#[derive(Debug)]
pub struct ParamSpec {
    pub key: &'static str,
    pub help: &'static str,
    /// The values it takes, when the help should list them (empty: its help says); the
    /// contract suite tries every listed `scheme`.
    pub values: &'static [&'static str],
}

/// A provider's registry entry: what is known about it without building it (enough to
/// validate a `provision` before anything is created, and for help and completion), and
/// how its `[providers.NAME]` table becomes a provider.
#[derive(Debug)]
pub struct ProviderInfo {
    pub name: &'static str,
    /// What the resource is, in a few words.
    pub summary: &'static str,
    /// The config var names it hands out (before any prefix).
    pub vars: &'static [&'static str],
    pub params: &'static [ParamSpec],
    /// Checks param values (keys are checked against `params` by the registry).
    pub check_params: fn(&Params) -> Result<(), String>,
    /// The `[providers.NAME]` section it can't run without, as lines to add to the config
    /// file; `None` for providers that run without one.
    pub example: Option<&'static str>,
    /// Reads its own `[providers.NAME]` table (`None` when the file has none) into its
    /// settings; `Ok(None)` means it is not configured. Refusals name file, line and key.
    pub configure: fn(Option<&Section<'_>>) -> Configured,
    /// What `addons rotate` does to its addons (known before the provider is built); it is
    /// `Nothing` for a provider without `Credentials`.
    pub rotation: Rotates,
    /// Whether its steps make or change something outside the state (a database on a
    /// server, a file): a claim of its addons is then on disk before their step runs,
    /// so that a power loss never forgets a claim whose step already acted. `false`
    /// only when every step works from the addon's row alone: a claim a power loss
    /// undid then means only that the step runs again, to the same result.
    pub acts_outside: bool,
}

/// What rotating a provider's addon means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotates {
    /// A new login works beside the old one until the grace ends, then the old is revoked.
    WithOverlap,
    /// The value is replaced: there is nothing to revoke, so there is no grace.
    Replace,
    /// Nothing to rotate; the text says why (one line, for the refusal).
    Nothing(&'static str),
}

/// What a provider's `configure` gives: its settings, `None` when it is not configured,
/// or a refusal naming the file, line and key.
pub type Configured = anyhow::Result<Option<Arc<dyn ProviderConfig>>>;

/// A provider's settings, as its `configure` read them: what builds the provider.
pub trait ProviderConfig: std::fmt::Debug + Send + Sync {
    /// Builds the provider; nothing connects until an operation runs.
    fn build(&self, env: &Environment) -> Box<dyn Provider>;
    /// How its server was found on this machine, when no config section names it
    /// ("socket /var/run/postgresql as role root, from libpq's defaults").
    fn found(&self) -> Option<&str> {
        None
    }
    /// The `[providers.NAME]` section that names its server, password and all, for
    /// `providers add` to write; `None` for a provider without a server.
    fn section(&self) -> Option<String> {
        None
    }
    /// The names of its servers other than the default one
    /// (`[providers.NAME.servers.OTHER]`).
    fn servers(&self) -> Vec<String> {
        Vec::new()
    }
    /// Builds the provider on its server named `server` (not the default one); `None`
    /// when it has none of that name.
    fn build_on(&self, _server: &str, _env: &Environment) -> Option<Box<dyn Provider>> {
        None
    }
}

pub use crate::spec::DEFAULT_SERVER;

impl ProviderInfo {
    /// Whether each app attached to an addon gets a login of its own (a credential per
    /// slot); otherwise every app is handed the same value.
    pub fn own_logins(&self) -> bool {
        self.rotation == Rotates::WithOverlap
    }

    /// What `addons providers` says an unconfigured provider lacks: "[providers.NAME] with a url".
    pub fn lacking(&self) -> String {
        let keys: Vec<String> = (self.example.unwrap_or_default().lines())
            .filter_map(|line| line.split_once(" = "))
            .map(|(key, _)| format!("a {}", key.trim()))
            .collect();
        match keys.is_empty() {
            true => format!("[providers.{}]", self.name),
            false => format!("[providers.{}] with {}", self.name, keys.join(" and ")),
        }
    }
}

/// The lifecycle the engine drives for every provider: each operation idempotent by
/// addon id, and fast. What a provider can do beyond it (a login per credential, drift
/// checks, copies) it says once, in `capabilities`; docs/providers.md says what each
/// operation must guarantee.
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
    /// The identity of the server it works on, the same whatever address leads there
    /// (PostgreSQL's system identifier, MariaDB's server uuid): an addon records it
    /// when it is made, and its later steps go to that server alone. `None` for a
    /// provider without a server.
    fn server_identity(&self) -> Result<Option<String>, ProviderError> {
        Ok(None)
    }
    /// What it can do beyond the lifecycle, said once: the capabilities it has.
    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities::NONE
    }
}

/// The capabilities a provider has, each handed out as the trait object that does it.
pub struct Capabilities<'a> {
    /// Its logins (or values) per credential; `None` when every credential of generation 0
    /// is handed what `get_config` gives and there is nothing to rotate.
    pub credentials: Option<&'a dyn Credentials>,
    /// Its drift checks and repairs; `None` when nothing it makes can drift.
    pub verifier: Option<&'a dyn Verifier>,
    /// Whether its addons can be made as a copy of another's (`provision --from`), and by what.
    pub copies: Copies<'a>,
    /// Whether an app can be attached to read only (`attach --read-only`), and how.
    pub read_only: ReadOnly,
    /// Whether its addons' data can be backed up and restored, and by what.
    pub backups: Backups<'a>,
}

impl Capabilities<'_> {
    /// None at all: what a provider that says nothing has.
    pub const NONE: Capabilities<'static> = Capabilities {
        credentials: None,
        verifier: None,
        copies: Copies::Never("this provider can't copy an addon's data"),
        read_only: ReadOnly::Never,
        backups: Backups::Never("this provider can't back up an addon's data"),
    };
}

/// How a provider lets an attached app only read (`attach --read-only`).
#[derive(Debug, Clone, Copy)]
pub enum ReadOnly {
    /// It can't: `attach --read-only` is refused, naming the providers that can, before
    /// anything is written. What a provider that says nothing has.
    Never,
    /// Its `Credentials` make the login of a read-only credential one that the server
    /// lets read everything of the resource, present and future, and change nothing;
    /// its `verify` finds such a login that gained a right to write, and `remake_login`
    /// takes it back.
    Logins,
    /// The vars of a read-only credential are those it would hand out otherwise, turned
    /// by this into ones that ask the client to only read: advice the server does not
    /// enforce (sqlite's `mode=ro`).
    Advised(fn(Vars) -> Vars),
}

/// Config vars as a provider hands them out: name (no prefix) and value.
pub type Vars = Vec<(String, String)>;

impl ReadOnly {
    /// Whether `attach --read-only` is taken.
    pub fn supported(self) -> bool {
        !matches!(self, ReadOnly::Never)
    }
}

/// The capability of a provider whose apps get a login (or a value) of their own per
/// credential: what rotations and attachments make and revoke.
pub trait Credentials: Send + Sync {
    /// Makes (or converges) the login of `credential` with the rights the owner has on the
    /// resource, and returns the config vars that use it. Idempotent; `ORIGINAL` gives what
    /// `get_config` gives.
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError>;
    /// Ends the sessions of `credential`'s login and removes the login, leaving every other
    /// credential working; idempotent. Returns a message for the user.
    fn revoke(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError>;
}

/// The capability of a provider whose resource and logins can drift from what it made.
pub trait Verifier: Send + Sync {
    /// Compares the resource and the logins of `credentials` with what was made. A server
    /// that can't be reached is an error, not drift.
    fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError>;
    /// Makes the resource again as it was made (empty, when it was lost) and gives it back
    /// to its owner; returns a line saying what is there.
    fn remake_resource(&self, addon: Resource<'_>) -> Result<String, ProviderError>;
    /// Makes the login of `credential` again as it was made: password and rights.
    fn remake_login(&self, addon: Resource<'_>, credential: Credential) -> Result<(), ProviderError>;
}

/// The capability of a provider whose addons can be made as a copy of another's.
pub trait Copier: Send + Sync {
    /// Whether `source`'s data can be copied now (`provision --from` asks before creating
    /// anything): its resource is there, and the tools a copy may need are at hand.
    fn check_copy(&self, source: Resource<'_>) -> Result<(), ProviderError>;
    /// Where the copy of `source`'s data into the addon's resource stands. Fast: a tick asks.
    fn copy_status(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<CopyStatus, ProviderError>;
    /// How far a running copy has come, when the server can tell (`None` when it can't,
    /// yet). Fast: a tick asks, after `copy_status` said the copy is running.
    fn copy_progress(
        &self,
        _addon: Resource<'_>,
        _source: Resource<'_>,
    ) -> Result<Option<CopyProgress>, ProviderError> {
        Ok(None)
    }
    /// Makes the addon's resource a copy of `source`'s, from scratch (a partial copy left
    /// by a copier that died is removed first), and marks it done. Slow: only the
    /// background copier (`addons __copy`) calls it, never a tick.
    fn copy(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError>;
}

/// Whether a provider's addons can be made as a copy of another's (`provision --from`).
pub enum Copies<'a> {
    /// Yes, by this copier.
    By(&'a dyn Copier),
    /// No; the text says why (one line, for the refusal).
    Never(&'static str),
}

/// The capability of a provider whose addons' data can be backed up into a file and
/// restored from one. Both are slow: only the background worker (`addons __backup`)
/// calls them, never a tick.
pub trait Backer: Send + Sync {
    /// How its backup files end (`pgdump`, `sqlite`): what they hold, at a glance.
    fn backup_suffix(&self) -> &'static str;
    /// Writes a backup of the addon's data into `file`, which it makes (a partial file a
    /// dead worker left is removed first); other sessions may go on using the data.
    fn backup(&self, addon: Resource<'_>, file: &Path) -> Result<String, ProviderError>;
    /// Replaces the addon's data with the backup's in `file`, whole or not at all: a
    /// failure (or a kill) leaves the data as it was. The addon's logins, and so its
    /// config vars, are kept; `login` is the one of its own app's that the vars hold,
    /// for a provider that restores as the app.
    fn restore(&self, addon: Resource<'_>, login: Credential, file: &Path) -> Result<String, ProviderError>;
}

/// Whether a provider's addons can be backed up and restored.
pub enum Backups<'a> {
    /// Yes, by this backer.
    By(&'a dyn Backer),
    /// No; the text says why (one line, for the refusal).
    Never(&'static str),
}

/// What the engine asks of any provider, its capabilities or their absence answered in
/// one place, with the words a user reads when a capability is missing.
impl dyn Provider + '_ {
    /// The config vars of `credential`. Without `Credentials`, generation 0 of every slot
    /// is handed what `get_config` gives, and a later generation is refused.
    /// A read-only credential's vars are those of its provider's `ReadOnly`; a provider
    /// that has none refuses it.
    pub fn ensure_credential(
        &self,
        addon: Resource<'_>,
        credential: Credential,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let capabilities = self.capabilities();
        if credential.is_read_only() && !capabilities.read_only.supported() {
            return Err(ProviderError::Permanent(format!(
                "this provider makes no read-only logins; {credential} is not made: detach the app and attach it \
                 without --read-only"
            )));
        }
        let config = match (capabilities.credentials, credential.generation) {
            (Some(credentials), _) => credentials.ensure(addon, credential)?,
            (None, 0) => self.get_config(addon)?,
            (None, _) => {
                return Err(ProviderError::Permanent(format!(
                    "this provider has nothing to rotate: it hands out no password; {credential} is not made"
                )))
            }
        };
        Ok(match (credential.access, capabilities.read_only) {
            (Access::ReadOnly, ReadOnly::Advised(advise)) => advise(config),
            _ => config,
        })
    }

    /// Revokes `credential`'s login; without `Credentials` there is none to revoke.
    pub fn revoke_credential(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        match self.capabilities().credentials {
            Some(credentials) => credentials.revoke(addon, credential),
            None => Ok(no_login_to_revoke(credential)),
        }
    }

    /// [`ensure_credential`](Self::ensure_credential), then the check that the login it
    /// made works (`what` names it in the error): the vars an app may be switched to, or
    /// a transient error while the login does not work yet. `between` runs in between.
    pub fn ensure_working(
        &self,
        addon: Resource<'_>,
        credential: Credential,
        what: &str,
        between: impl FnOnce(),
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let config = self.ensure_credential(addon, credential)?;
        between();
        let drift = self.verify(addon, &[credential])?;
        if !drift.is_empty() {
            let found = drift.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; ");
            return Err(ProviderError::Transient(format!("{what} does not work yet: {found}")));
        }
        Ok(config)
    }

    /// The drift of the resource and of `credentials`' logins; none without a `Verifier`.
    pub fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        match self.capabilities().verifier {
            Some(verifier) => verifier.verify(addon, credentials),
            None => Ok(Vec::new()),
        }
    }

    /// Undoes the `drift` that `verify` found: the resource is made again (when it was
    /// lost, empty, only with `repair_data`; else it is left in the answer), then each
    /// credential that drifted. Without a `Verifier` nothing is done.
    pub fn repair(&self, addon: Resource<'_>, drift: &[Drift], repair_data: bool) -> Result<Repair, ProviderError> {
        let Some(verifier) = self.capabilities().verifier else {
            return Ok(Repair { done: Vec::new(), left: drift.to_vec() });
        };
        let mut repair = Repair::default();
        let (of_resource, of_logins): (Vec<&Drift>, Vec<&Drift>) = drift.iter().partition(|d| d.credential.is_none());
        if !of_resource.is_empty() {
            match of_resource.iter().any(|d| d.kind.loses_data()) && !repair_data {
                true => repair.left.extend(of_resource.into_iter().cloned()),
                false => repair.done.push(verifier.remake_resource(addon)?),
            }
        }
        let mut credentials: Vec<Credential> = of_logins.iter().filter_map(|d| d.credential).collect();
        credentials.sort();
        credentials.dedup();
        for credential in credentials {
            verifier.remake_login(addon, credential)?;
            repair.done.push(format!("login {} made again as it was", credential.login(&addon)?));
        }
        Ok(repair)
    }

    /// Its backer, or the refusal of a provider whose addons can't be backed up.
    pub fn backer(&self) -> Result<&dyn Backer, ProviderError> {
        match self.capabilities().backups {
            Backups::By(backer) => Ok(backer),
            Backups::Never(why) => Err(ProviderError::Permanent(why.to_string())),
        }
    }

    /// Its copier, or the refusal of a provider that can't copy.
    pub fn copier(&self) -> Result<&dyn Copier, ProviderError> {
        match self.capabilities().copies {
            Copies::By(copier) => Ok(copier),
            Copies::Never(why) => Err(ProviderError::Permanent(why.to_string())),
        }
    }
}

/// What revoking a credential that has no login of its own says.
pub fn no_login_to_revoke(credential: Credential) -> String {
    format!("{credential} has no login of its own to revoke")
}

/// Looks a provider up by name.
pub fn info(name: &str) -> Option<&'static ProviderInfo> {
    ALL.iter().copied().find(|info| info.name == name)
}

/// Whether steps of the provider named `provider` act outside the state (see
/// [`ProviderInfo::acts_outside`]); so does one not compiled in, for all anyone knows.
pub fn acts_outside(provider: &str) -> bool {
    info(provider).is_none_or(|info| info.acts_outside)
}

/// The config var names a provider hands out (before any prefix); none for a name that
/// is not compiled in.
pub fn vars_of(provider: &str) -> &'static [&'static str] {
    info(provider).map_or(&[], |info| info.vars)
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

/// What the config file configures: each provider's settings, read by its registry
/// entry from its own `[providers.NAME]` table.
#[derive(Debug, Clone, Default)]
pub struct Configs {
    configured: BTreeMap<&'static str, Arc<dyn ProviderConfig>>,
    /// The config file, named in the message of a provider that is not configured.
    path: PathBuf,
    /// Whether a server provider without a section may use a server found on this
    /// machine, and if not, why.
    discovery: Discovery,
}

/// Whether a server provider without a `[providers.NAME]` section looks for a server on
/// this machine the way the server's own client does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Discovery {
    /// Yes: the state is a file on this machine.
    #[default]
    Here,
    /// No: the state is on a PostgreSQL server, shared by hosts whose local servers
    /// differ (the state's URL, its password masked).
    SharedState(String),
    /// No: `ADDONS_DISCOVER=0` turned it off.
    Off,
}

impl Configs {
    /// Says whether unconfigured server providers may use a server found on this machine.
    pub fn set_discovery(&mut self, discovery: Discovery) {
        self.discovery = discovery;
    }

    /// The config file the sections are read from.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Reads every `[providers.NAME]` table of the config file through its provider's
/// registry entry. A table of a provider that is not compiled in, or one its provider
/// refuses, is a usage error naming the file, line and key.
pub fn configure(settings: &Settings) -> anyhow::Result<Configs> {
    let mut configs = Configs { configured: BTreeMap::new(), path: settings.path.clone(), discovery: Discovery::Here };
    for section in settings.sections()? {
        let Some(info) = info(&section.name) else {
            return Err(section.refuse(&unknown_provider(&section.name)));
        };
        if let Some(config) = (info.configure)(Some(&section))? {
            configs.configured.insert(info.name, config);
        }
    }
    Ok(configs)
}

/// Builds a provider from the settings its `configure` read (or, with no section in the
/// config file, from none); `Err` holds a one-line message saying which config lines to
/// add when it is not configured.
pub fn build(name: &str, configs: &Configs, env: &Environment) -> Result<Box<dyn Provider>, String> {
    Ok(settings_of(name, configs)?.build(env))
}

/// The settings a provider is built from: its section's, or (with none) those it runs
/// without, or a server found on this machine when the state is here too; `Err` says
/// which lines to add to the config file.
pub fn settings_of(name: &str, configs: &Configs) -> Result<Arc<dyn ProviderConfig>, String> {
    let info = info(name).ok_or_else(|| unknown_provider(name))?;
    if let Some(config) = configs.configured.get(info.name) {
        return Ok(config.clone());
    }
    let config = match (info.configure)(None).map_err(|err| format!("{err:#}"))? {
        Some(config) if config.found().is_none() || configs.discovery == Discovery::Here => return Ok(config),
        config => config,
    };
    let why = match &configs.discovery {
        Discovery::SharedState(state) if config.is_some() => {
            format!("the {name} provider is not configured, and the state on {state} is shared by hosts whose local servers differ, so none found on this one is used")
        }
        _ => format!("the {name} provider is not configured"),
    };
    Err(format!("{why}: add to {} the lines\n\n{}\n", configs.path.display(), info.example.unwrap_or_default()))
}

/// Builds a provider on its server named `server` (`default`: [`build`]); `Err` says
/// which lines to add when the config file names no such server.
pub fn build_on(name: &str, server: &str, configs: &Configs, env: &Environment) -> Result<Box<dyn Provider>, String> {
    if server == DEFAULT_SERVER {
        return build(name, configs, env);
    }
    let settings = settings_of(name, configs)?;
    settings.build_on(server, env).ok_or_else(|| {
        let example = info(name).and_then(|info| info.example).unwrap_or_default();
        let url = example.lines().find(|line| line.starts_with("url")).unwrap_or("url = \"URL\"");
        format!(
            "the {name} provider has no server named {server}: add to {} the lines\n\n[providers.{name}.servers.{server}]\n{url}\n",
            configs.path.display()
        )
    })
}

/// The names of a provider's servers: `default`, then the others the config file names.
pub fn servers_of(name: &str, configs: &Configs) -> Vec<String> {
    let others = settings_of(name, configs).map(|settings| settings.servers()).unwrap_or_default();
    std::iter::once(DEFAULT_SERVER.to_string()).chain(others).collect()
}

/// The message for a provider name that is not compiled in.
pub fn unknown_provider(name: &str) -> String {
    let names: Vec<&str> = ALL.iter().map(|info| info.name).collect();
    format!("unknown provider {}; choose one of: {}", crate::names::shown(name), names.join(", "))
}

/// [`crate::credential::resource_name`], as a provider error.
pub fn resource_name(addon: &Resource<'_>) -> Result<String, ProviderError> {
    Ok(crate::credential::resource_name(addon)?)
}

impl From<crate::credential::BadAddonId> for ProviderError {
    fn from(err: crate::credential::BadAddonId) -> ProviderError {
        ProviderError::Permanent(err.to_string())
    }
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

    /// A compiled-in provider built from no config table.
    fn built(name: &str) -> Box<dyn Provider> {
        let config = (info(name).unwrap().configure)(None).unwrap().unwrap();
        config.build(&Environment { data_dir: "/nonexistent".into() })
    }

    #[test]
    fn a_missing_capability_is_answered_in_one_place() {
        let (params, seed) = (Params::new(), crate::addon::new_seed());
        let addon = Resource::new("0123456789abcdef", &params, &seed);
        // sqlite has no credentials: every slot is handed the file, nothing rotates.
        let sqlite = built("sqlite");
        let config = sqlite.get_config(addon);
        assert_eq!(sqlite.ensure_credential(addon, Credential::new(3, 0)), config);
        let refused = sqlite.ensure_credential(addon, Credential::new(0, 1)).unwrap_err();
        assert!(matches!(&refused, ProviderError::Permanent(line) if line.contains("nothing to rotate")), "{refused}");
        let revoked = sqlite.revoke_credential(addon, Credential::new(0, 1));
        assert_eq!(revoked, Ok("slot 0 generation 1 has no login of its own to revoke".to_string()));
        // secret has no verifier: nothing drifts, nothing is repaired.
        let secret = built("secret");
        assert_eq!(secret.verify(addon, &[Credential::ORIGINAL]), Ok(Vec::new()));
        let lost = [Drift::resource(DriftKind::ResourceMissing, "gone".into())];
        assert_eq!(secret.repair(addon, &lost, true), Ok(Repair { done: Vec::new(), left: lost.to_vec() }));
        let refused = secret.copier().map(drop);
        let why = "a new secret is the point of a secret addon; provision it without --from";
        assert_eq!(refused, Err(ProviderError::Permanent(why.into())));
        let none = Capabilities::NONE.copies;
        assert!(matches!(none, Copies::Never("this provider can't copy an addon's data")));
    }

    #[test]
    fn a_secret_rotates_through_its_credentials_and_checks_nothing() {
        let (params, seed) = (Params::new(), crate::addon::new_seed());
        let addon = Resource::new("0123456789abcdef", &params, &seed);
        let secret = built("secret");
        let next = secret.ensure_working(addon, Credential::new(0, 1), "the new login", || {}).unwrap();
        assert_ne!(Ok(next.clone()), secret.get_config(addon));
        assert_eq!(secret.ensure_credential(addon, Credential::new(4, 1)), Ok(next));
        assert!(secret.capabilities().verifier.is_none());
    }

    #[test]
    fn unknown_params_and_providers_are_named() {
        let err = check_params(info("secret").unwrap(), &Params::from([("size".into(), "3".into())])).unwrap_err();
        assert!(err.contains("unknown param \"size\"") && err.contains("length, alphabet"), "{err}");
        assert!(unknown_provider("mongo").contains("secret, sqlite, postgres, mysql, redis, rabbitmq, mqtt"));
    }
}
