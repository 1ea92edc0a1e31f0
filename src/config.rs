//! The TOML config file, resolved into plain settings before the engine sees them.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::usage;
use crate::expiry::parse_duration;

/// Everything the config file can say, checked and resolved.
#[derive(Clone, Default)]
pub struct Settings {
    /// Where the settings came from (shown in messages).
    pub path: PathBuf,
    /// The file's text: each provider reads its own `[providers.NAME]` table of it
    /// ([`Settings::sections`]).
    text: Arc<str>,
    pub engine: EngineSettings,
    pub apps: BTreeMap<String, AppSettings>,
    /// `[state] url`: where the state is (a file path or a `postgres://` URL) unless
    /// `--state`/`ADDONS_STATE` say otherwise.
    pub state_url: Option<String>,
    /// `[state] schema`: the PostgreSQL schema of a state URL without `?schema=`.
    pub state_schema: Option<String>,
    /// `[backups] dir`: where backup files go (default: beside the state file; a state
    /// on a PostgreSQL server needs a folder all its hosts share named here).
    pub backups_dir: Option<PathBuf>,
}

/// Everything but the file's text, which may hold passwords (the providers' settings
/// show theirs masked).
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("path", &self.path)
            .field("engine", &self.engine)
            .field("apps", &self.apps)
            .field("state_url", &self.state_url.as_deref().map(crate::masking::mask_url_password))
            .field("state_schema", &self.state_schema)
            .field("backups_dir", &self.backups_dir)
            .finish_non_exhaustive()
    }
}

/// How ticks run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub jobs: usize,
    pub provision_timeout: Duration,
    /// How long a tick's claim on an addon lasts before another tick may take the step over.
    pub claim_timeout: Duration,
    /// How often a tick checks each ready addon for drift; `None` ("0") never.
    pub verify_interval: Option<Duration>,
    /// How long an app's `on_change` hook may run before its process group is killed.
    pub hook_timeout: Duration,
    /// How long a step may keep failing before `tick` says so (once, then again every
    /// `warn_every` while it goes on failing).
    pub warn_after: Duration,
    pub warn_every: Duration,
}

/// Per-app settings.
#[derive(Debug, Clone, Default)]
pub struct AppSettings {
    pub env_file: Option<PathBuf>,
    /// `on_change`: a shell command run (through `sh -c`, with the app's vars in its
    /// environment) after the app's vars change.
    pub on_change: Option<String>,
    /// `backup_every`: how often ticks back up each of the app's ready addons that can
    /// be backed up; `None`: never.
    pub backup_every: Option<Duration>,
    /// `backup_keep`: how many of those scheduled backups are kept (the oldest go).
    pub backup_keep: Option<usize>,
}

impl AppSettings {
    /// The app's backup schedule, when it has one: what each of its addons follows
    /// unless it has one of its own.
    pub fn backup_schedule(&self) -> Option<crate::backup::Schedule> {
        self.backup_every.map(|every| crate::backup::Schedule { every, keep: self.backup_keep })
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            jobs: 4,
            provision_timeout: Duration::from_secs(30 * 60),
            claim_timeout: Duration::from_secs(5 * 60),
            verify_interval: Some(Duration::from_secs(10 * 60)),
            hook_timeout: Duration::from_secs(60),
            warn_after: Duration::from_secs(5 * 60),
            warn_every: Duration::from_secs(60 * 60),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    /// Taken out of the document before the rest is read (each provider reads its own
    /// table); named here so that an unknown top-level key's message lists it.
    #[serde(default)]
    #[allow(dead_code)]
    providers: Option<IgnoredAny>,
    #[serde(default)]
    engine: EngineDoc,
    #[serde(default)]
    apps: BTreeMap<Spanned<String>, AppDoc>,
    #[serde(default)]
    state: StateDoc,
    #[serde(default)]
    backups: BackupsDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BackupsDoc {
    dir: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    url: Option<Spanned<String>>,
    schema: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EngineDoc {
    jobs: Option<Spanned<i64>>,
    provision_timeout: Option<Spanned<String>>,
    claim_timeout: Option<Spanned<String>>,
    verify_interval: Option<Spanned<String>>,
    hook_timeout: Option<Spanned<String>>,
    warn_after: Option<Spanned<String>>,
    warn_every: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppDoc {
    env_file: Option<PathBuf>,
    on_change: Option<Spanned<String>>,
    backup_every: Option<Spanned<String>>,
    backup_keep: Option<Spanned<i64>>,
}

/// The default config path: `$XDG_CONFIG_HOME/addons/config.toml`.
pub fn default_config_path() -> PathBuf {
    xdg_dir("XDG_CONFIG_HOME", ".config").join("addons").join("config.toml")
}

/// The default state path: `$XDG_DATA_HOME/addons/state.db`.
pub fn default_state_path() -> PathBuf {
    xdg_dir("XDG_DATA_HOME", ".local/share").join("addons").join("state.db")
}

fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        _ => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/")).join(fallback),
    }
}

/// Reads and checks the config file; a missing file gives the defaults.
pub fn load(path: &Path) -> anyhow::Result<Settings> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| usage(format!("config file {}: not UTF-8 text; write it as TOML", path.display())))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Settings { path: path.to_path_buf(), ..Settings::default() })
        }
        Err(err) if err.kind() == std::io::ErrorKind::IsADirectory => {
            return Err(usage(format!("config file {} is a directory; point --config at a TOML file", path.display())))
        }
        Err(err) => return Err(usage(format!("config file {}: can't read it: {err}", path.display()))),
    };
    parse(path, &text)
}

/// The config file's text, and how to say where in it something is.
#[derive(Clone, Copy)]
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// "config file PATH, line N" for the byte range `span`.
    fn at(&self, span: Range<usize>) -> String {
        let line = self.text[..span.start.min(self.text.len())].matches('\n').count() + 1;
        format!("config file {}, line {line}", self.path.display())
    }

    /// A TOML syntax or type error as one usage line naming the file, line and key.
    fn refusal(&self, err: &toml::de::Error) -> anyhow::Error {
        let place = err.span().map_or_else(|| format!("config file {}", self.path.display()), |span| self.at(span));
        // toml quotes a value of the wrong type: it may be a URL with a password.
        let mut message = crate::masking::mask_urls_in(&err.message().replace('\n', " "));
        // toml names the key in some messages (unknown field) but not in others (a
        // value of the wrong type); name it always.
        if let Some(key) = err.span().and_then(|span| key_at(self.text, span.start)) {
            if !message.contains(key.rsplit('.').next().unwrap_or(&key)) {
                message = format!("{key}: {message}");
            }
        }
        usage(format!("{place}: {message}"))
    }
}

/// A provider's own `[providers.NAME]` table, handed to its registry entry's `configure`.
pub struct Section<'a> {
    /// The provider's name, as in `[providers.NAME]`.
    pub name: String,
    name_span: Range<usize>,
    value: Spanned<DeValue<'a>>,
    source: Source<'a>,
}

impl Section<'_> {
    /// Reads the table into the provider's own type (`deny_unknown_fields`, with
    /// `Spanned` fields for what it checks further): an unknown key or a value of the
    /// wrong type is refused naming the file, line and key.
    pub fn read<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        T::deserialize(toml::de::ValueDeserializer::from(self.value.clone())).map_err(|err| self.source.refusal(&err))
    }

    /// Refuses the value at `span` (of a `Spanned` field `read` gave): `what` starts
    /// with its key, "url has no host" becoming "config file PATH, line N:
    /// providers.NAME.url has no host".
    pub fn invalid(&self, span: Range<usize>, what: &str) -> anyhow::Error {
        usage(format!("{}: providers.{}.{what}", self.source.at(span), self.name))
    }

    /// Refuses the whole section at its `[providers.NAME]` header: "config file PATH,
    /// line N: [providers.NAME]: `why`".
    pub fn refuse(&self, why: &str) -> anyhow::Error {
        usage(format!("{}: [providers.{}]: {why}", self.source.at(self.name_span.clone()), self.name))
    }
}

impl Settings {
    /// The `[providers.NAME]` sections of the file, in its order, for the providers to read.
    pub fn sections(&self) -> anyhow::Result<Vec<Section<'_>>> {
        let source = Source { path: &self.path, text: &self.text };
        let mut root = DeTable::parse(&self.text).map_err(|err| source.refusal(&err))?;
        let tables = root.get_mut().remove("providers");
        Ok(provider_tables(&source, tables)?
            .into_iter()
            .map(|(name, value)| Section { name_span: name.span(), name: name.into_inner(), value, source })
            .collect())
    }
}

/// Parses config text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> anyhow::Result<Settings> {
    let source = Source { path, text };
    let at = |span| source.at(span);
    let mut root = DeTable::parse(text).map_err(|err| source.refusal(&err))?;
    let tables = root.get_mut().remove("providers");
    let doc = FileDoc::deserialize(toml::de::Deserializer::from(root)).map_err(|err| source.refusal(&err))?;
    // Each provider reads its own table (`sections`); here only its shape is checked.
    provider_tables(&source, tables)?;
    let mut settings = Settings { path: path.to_path_buf(), text: text.into(), ..Settings::default() };
    if let Some(jobs) = doc.engine.jobs {
        let value = *jobs.get_ref();
        if !(1..=64).contains(&value) {
            return Err(usage(format!("{}: engine.jobs must be from 1 to 64, not {value}", at(jobs.span()))));
        }
        settings.engine.jobs = value as usize;
    }
    for (key, value, slot) in [
        ("provision_timeout", doc.engine.provision_timeout, &mut settings.engine.provision_timeout),
        ("claim_timeout", doc.engine.claim_timeout, &mut settings.engine.claim_timeout),
        ("hook_timeout", doc.engine.hook_timeout, &mut settings.engine.hook_timeout),
        ("warn_after", doc.engine.warn_after, &mut settings.engine.warn_after),
        ("warn_every", doc.engine.warn_every, &mut settings.engine.warn_every),
    ] {
        if let Some(value) = value {
            *slot = parse_duration(value.get_ref())
                .map_err(|err| usage(format!("{}: engine.{key}: {err}", at(value.span()))))?;
        }
    }
    if let Some(value) = doc.engine.verify_interval {
        settings.engine.verify_interval = match value.get_ref().trim() {
            "0" => None,
            text => Some(parse_duration(text).map_err(|err| {
                usage(format!("{}: engine.verify_interval: {err} (\"0\" turns it off)", at(value.span())))
            })?),
        };
    }
    if let Some(schema) = doc.state.schema {
        crate::store::check_schema(schema.get_ref())
            .map_err(|err| usage(format!("{}: state.schema: {err}", at(schema.span()))))?;
        settings.state_schema = Some(schema.into_inner());
    }
    if let Some(url) = doc.state.url {
        if url.get_ref().is_empty() {
            return Err(usage(format!(
                "{}: state.url is empty; write a file path or postgres://USER@HOST/DB",
                at(url.span())
            )));
        }
        crate::store::StateLocation::parse(url.get_ref(), settings.state_schema.as_deref())
            .map_err(|err| usage(format!("{}: state.url: {err}", at(url.span()))))?;
        settings.state_url = Some(url.into_inner());
    }
    if let Some(dir) = doc.backups.dir {
        if !dir.get_ref().is_absolute() {
            return Err(usage(format!(
                "{}: backups.dir must be an absolute path, not {}",
                at(dir.span()),
                dir.get_ref().display()
            )));
        }
        settings.backups_dir = Some(dir.into_inner());
    }
    for (app, doc) in doc.apps {
        let span = app.span();
        let app = app.into_inner();
        crate::names::check_app(&app).map_err(|err| usage(format!("{}: [apps.{app}]: {err:#}", at(span.clone()))))?;
        let on_change = match doc.on_change {
            Some(command) if command.get_ref().trim().is_empty() => {
                return Err(usage(format!(
                    "{}: apps.{app}.on_change is empty; write a shell command, or leave the key out",
                    at(command.span())
                )))
            }
            command => command.map(Spanned::into_inner),
        };
        let backup_every = doc
            .backup_every
            .map(|every| {
                parse_duration(every.get_ref())
                    .map_err(|err| usage(format!("{}: apps.{app}.backup_every: {err}", at(every.span()))))
            })
            .transpose()?;
        let backup_keep = match doc.backup_keep {
            Some(keep) if *keep.get_ref() < 1 => {
                return Err(usage(format!(
                    "{}: apps.{app}.backup_keep must be 1 or more, not {}",
                    at(keep.span()),
                    keep.get_ref()
                )))
            }
            keep => keep.map(|keep| *keep.get_ref() as usize),
        };
        if backup_keep.is_some() && backup_every.is_none() {
            return Err(usage(format!(
                "{}: apps.{app}.backup_keep without backup_every: add backup_every = \"1d\" (how often to back up)",
                at(span.clone())
            )));
        }
        settings.apps.insert(app, AppSettings { env_file: doc.env_file, on_change, backup_every, backup_keep });
    }
    Ok(settings)
}

/// Writes a `[providers.NAME]` section (`section`, TOML text holding that one table)
/// into the config file at `path`, keeping everything the file had, comments and order
/// included: the folder is made if missing, and the file is written whole to a new file
/// of mode 0600 that then takes its place. A file that has the section already is
/// refused (exit 2): it is edited by hand.
pub fn add_provider_section(path: &Path, name: &str, section: &str) -> anyhow::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(usage(format!("config file {}: can't read it: {err}", path.display()))),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|err: toml_edit::TomlError| usage(format!("config file {}: {}", path.display(), err.message())))?;
    let added: toml_edit::DocumentMut = section.parse().map_err(|err: toml_edit::TomlError| {
        anyhow::anyhow!("the section written for [providers.{name}] is not TOML: {}", err.message())
    })?;
    let table = added.get("providers").and_then(|providers| providers.get(name)).cloned();
    let table = table.ok_or_else(|| anyhow::anyhow!("the section written holds no [providers.{name}]"))?;
    let providers = doc.entry("providers").or_insert_with(|| {
        let mut implicit = toml_edit::Table::new();
        implicit.set_implicit(true);
        toml_edit::Item::Table(implicit)
    });
    let Some(providers) = providers.as_table_like_mut() else {
        return Err(usage(format!(
            "config file {}: providers is not a table of [providers.NAME] sections; fix it first",
            path.display()
        )));
    };
    if providers.contains_key(name) {
        return Err(usage(format!(
            "config file {} has a [providers.{name}] section already; edit it there, or remove it first",
            path.display()
        )));
    }
    let mut table = table;
    if let (Some(table), false) = (table.as_table_mut(), text.trim().is_empty()) {
        table.decor_mut().set_prefix("\n");
    }
    providers.insert(name, table);
    let text = doc.to_string();
    // What is written must read back as the settings it says.
    parse(path, &text)?;
    write_private(path, &text)
        .map_err(|err| crate::error::failed(format!("can't write config file {}: {err}", path.display())))
}

/// Writes `text` to `path` through a new file of mode 0600 in the same folder (made
/// if missing), renamed over it: a reader sees the old file or the new, whole.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.new", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

/// The dotted key (`engine.jobs`) of the `key = value` line holding byte `offset`, if
/// that line is one; `[[table]]` headers count as tables (apply files use them). Text
/// before `=` longer than any key is not named: a refusal stays one short line.
pub(crate) fn key_at(text: &str, offset: usize) -> Option<String> {
    const LONGEST: usize = 64;
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with(['[', '#']) || key.chars().count() > LONGEST {
        return None;
    }
    let table = text[..line_start].lines().rev().map(str::trim).find_map(|line| {
        let array = line.strip_prefix("[[").and_then(|rest| rest.split_once("]]"));
        array.or_else(|| line.strip_prefix('[').and_then(|rest| rest.split_once(']'))).map(|(t, _)| t.trim())
    });
    Some(table.map_or_else(|| key.to_string(), |table| format!("{table}.{key}")))
}

/// The tables under `[providers]`, each with its (spanned) name; a `providers` key that
/// is not a table of tables is refused.
fn provider_tables<'a>(
    source: &Source<'_>,
    providers: Option<Spanned<DeValue<'a>>>,
) -> anyhow::Result<Vec<(Spanned<String>, Spanned<DeValue<'a>>)>> {
    let Some(providers) = providers else { return Ok(Vec::new()) };
    let span = providers.span();
    let DeValue::Table(tables) = providers.into_inner() else {
        return Err(usage(format!("{}: providers must be a table of [providers.NAME] sections", source.at(span))));
    };
    Ok(tables
        .into_iter()
        .map(|(name, value)| (Spanned::new(name.span(), name.into_inner().into_owned()), value))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What reading `text` refuses, the providers' own tables read too (as `main` does).
    fn parse_err(text: &str) -> String {
        let read =
            parse(Path::new("/etc/addons.toml"), text).and_then(|settings| crate::providers::configure(&settings));
        format!("{:#}", read.unwrap_err())
    }

    /// A line of junk before `=` is not quoted back as a key: the refusal stays short.
    #[test]
    fn a_refusal_names_no_key_longer_than_a_key_can_be() {
        let junk = "scope\"labels".repeat(30);
        let err = parse_err(&format!("{junk} = 1\n"));
        assert!(err.starts_with("config file /etc/addons.toml, line 1: ") && !err.contains(&junk), "{err}");
        assert!(err.len() < 200, "{} bytes: {err}", err.len());
        assert_eq!(key_at("[engine]\njobs = 2\n", 10).as_deref(), Some("engine.jobs"));
    }

    #[test]
    fn a_providers_other_servers_are_named_and_checked_with_their_line() {
        let text = "[providers.postgres]\nurl = \"postgres://a@h/d\"\n[providers.postgres.servers.Bad]\nurl = \"postgres://a@h2/d\"\n";
        let err = parse_err(text);
        assert!(
            err.starts_with(
                "config file /etc/addons.toml, line 3: providers.postgres.servers.\"Bad\": a server's name"
            ),
            "{err}"
        );
        let text =
            "[providers.mysql]\nurl = \"mysql://a@h\"\n[providers.mysql.servers.olap]\nurl = \"postgres://a@h2/d\"\n";
        let err = parse_err(text);
        assert!(err.contains("line 4: providers.mysql.servers.olap.url must start with mysql://"), "{err}");
        let text = "[providers.redis]\nurl = \"redis://h\"\nsocket = \"/tmp/s\"\n";
        assert!(parse_err(text).contains("line 3: providers.redis.socket is not taken by redis"));
    }

    #[test]
    fn state_url_and_schema_are_checked_with_their_line() {
        let settings = parse(
            Path::new("/etc/addons.toml"),
            "[state]\nurl = \"postgres://u:pw@db.internal/fleet\"\nschema = \"ci\"\n",
        )
        .unwrap();
        assert_eq!(settings.state_url.as_deref(), Some("postgres://u:pw@db.internal/fleet"));
        assert_eq!(settings.state_schema.as_deref(), Some("ci"));
        let err = parse_err("[state]\nschema = \"Bad-Name\"\n");
        assert!(err.contains("line 2") && err.contains("state.schema"), "{err}");
        let err = parse_err("\n[state]\nurl = \"postgres://u:hunter2@/db\"\n");
        assert!(err.contains("line 3") && err.contains("host") && !err.contains("hunter2"), "{err}");
        assert!(parse_err("[state]\nurl = \"\"\n").contains("state.url is empty"));
        assert!(parse_err("[state]\npath = \"x\"\n").contains("path"));
    }

    #[test]
    fn full_file_parses() {
        let settings = parse(
            Path::new("c.toml"),
            r#"
[providers.postgres]
url = "postgres://postgres:pw@127.0.0.1:5432/postgres"
public_host = "db.example.internal"
[providers.redis]
url = "redis://127.0.0.1:6379"
[engine]
jobs = 2
provision_timeout = "10m"
hook_timeout = "5s"
warn_after = "15m"
[apps.myapp]
env_file = "/srv/myapp/.env"
on_change = "systemctl restart myapp"
"#,
        )
        .unwrap();
        let sections: Vec<String> = settings.sections().unwrap().into_iter().map(|section| section.name).collect();
        assert_eq!(sections, ["postgres", "redis"]);
        let postgres = format!("{:?}", crate::providers::configure(&settings).unwrap());
        assert!(postgres.contains("Some(\"db.example.internal\")") && !postgres.contains("pw@"), "{postgres}");
        assert_eq!(settings.engine.jobs, 2);
        assert_eq!(settings.engine.provision_timeout, Duration::from_secs(600));
        assert_eq!(settings.apps["myapp"].env_file.as_deref(), Some(Path::new("/srv/myapp/.env")));
        assert_eq!(settings.apps["myapp"].on_change.as_deref(), Some("systemctl restart myapp"));
        assert_eq!(settings.engine.hook_timeout, Duration::from_secs(5));
        assert_eq!(settings.engine.warn_after, Duration::from_secs(15 * 60));
        assert_eq!(settings.engine.warn_every, Duration::from_secs(60 * 60));
        assert_eq!(Settings::default().engine.hook_timeout, Duration::from_secs(60));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse_err("[engine]\njobs = 2\nspeed = 3\n");
        assert!(err.contains("/etc/addons.toml, line 3"), "{err}");
        assert!(err.contains("speed"), "{err}");
        assert!(!err.contains('\n'));
    }

    #[test]
    fn bad_values_are_refused_without_echoing_passwords() {
        let err = parse_err("[providers.postgres]\nurl = \"mysql://root:hunter2@h/x\"\n");
        assert!(err.contains("line 2") && err.contains("postgres://"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(parse_err("[providers.redis]\nurl = \"redis://\"\n").contains("no host"));
        assert!(parse_err("[engine]\nprovision_timeout = \"soon\"\n").contains("30s"));
        assert!(parse_err("[engine]\njobs = 0\n").contains("1 to 64"));
        let err = parse_err("[engine]\njobs = \"four\"\n");
        assert!(err.contains("line 2: engine.jobs: invalid type"), "{err}");
        assert!(parse_err("[apps.My_App]\n").contains("invalid app name"));
        assert!(parse_err("[apps.a]\non_change = \" \"\n").contains("line 2: apps.a.on_change is empty"));
        assert!(parse_err("[engine]\nhook_timeout = \"soon\"\n").contains("engine.hook_timeout"));
        let err = parse_err("[engine]\njobs = \"postgres://u:hunter2@h/d?password=hunter3\"\n");
        assert!(err.contains("line 2") && !err.contains("hunter"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("-5s").is_err());
    }
}
