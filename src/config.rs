//! The TOML config file, resolved into plain settings before the engine sees them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use url::Url;

use crate::error::usage;

/// Everything the config file can say, checked and resolved.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Where the settings came from (shown in messages).
    pub path: PathBuf,
    pub postgres: Option<ServerSettings>,
    pub mysql: Option<ServerSettings>,
    pub redis: Option<ServerSettings>,
    /// Where the sqlite provider keeps its files; `None` means beside the state file.
    pub sqlite_dir: Option<PathBuf>,
    pub engine: EngineSettings,
    pub apps: BTreeMap<String, AppSettings>,
    /// `[state] url`: where the state is (a file path or a `postgres://` URL) unless
    /// `--state`/`ADDONS_STATE` say otherwise.
    pub state_url: Option<String>,
    /// `[state] schema`: the PostgreSQL schema of a state URL without `?schema=`.
    pub state_schema: Option<String>,
}

/// The admin connection to one database server.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub url: Url,
    /// The host written into the URLs handed to apps; the admin URL's host when unset.
    pub public_host: Option<String>,
}

/// How ticks run.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub jobs: usize,
    pub provision_timeout: Duration,
    /// How long a tick's claim on an addon lasts before another tick may take the step over.
    pub claim_timeout: Duration,
}

/// Per-app settings.
#[derive(Debug, Clone, Default)]
pub struct AppSettings {
    pub env_file: Option<PathBuf>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            jobs: 4,
            provision_timeout: Duration::from_secs(30 * 60),
            claim_timeout: Duration::from_secs(5 * 60),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    providers: ProvidersDoc,
    #[serde(default)]
    engine: EngineDoc,
    #[serde(default)]
    apps: BTreeMap<Spanned<String>, AppDoc>,
    #[serde(default)]
    state: StateDoc,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StateDoc {
    url: Option<Spanned<String>>,
    schema: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProvidersDoc {
    postgres: Option<ServerDoc>,
    mysql: Option<ServerDoc>,
    redis: Option<ServerDoc>,
    sqlite: Option<SqliteDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerDoc {
    url: Spanned<String>,
    public_host: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteDoc {
    dir: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct EngineDoc {
    jobs: Option<Spanned<i64>>,
    provision_timeout: Option<Spanned<String>>,
    claim_timeout: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppDoc {
    env_file: Option<PathBuf>,
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

/// Parses config text; `path` is only used in messages.
pub fn parse(path: &Path, text: &str) -> anyhow::Result<Settings> {
    let at = |span: std::ops::Range<usize>| {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        format!("config file {}, line {line}", path.display())
    };
    let doc: FileDoc = toml::from_str(text).map_err(|err| {
        let place = err.span().map_or_else(|| format!("config file {}", path.display()), &at);
        // toml quotes a value of the wrong type: it may be a URL with a password.
        let mut message = crate::output::mask_urls_in(&err.message().replace('\n', " "));
        // toml names the key in some messages (unknown field) but not in others (a
        // value of the wrong type); name it always.
        if let Some(key) = err.span().and_then(|span| key_at(text, span.start)) {
            if !message.contains(key.rsplit('.').next().unwrap_or(&key)) {
                message = format!("{key}: {message}");
            }
        }
        usage(format!("{place}: {message}"))
    })?;
    let server = |doc: Option<ServerDoc>, key: &str, schemes: &[&str]| -> anyhow::Result<Option<ServerSettings>> {
        let Some(doc) = doc else { return Ok(None) };
        let span = doc.url.span();
        let raw = doc.url.into_inner();
        let url = Url::parse(&raw).map_err(|err| {
            usage(format!(
                "{}: providers.{key}.url is not a URL ({err}); write e.g. {}",
                at(span.clone()),
                example_url(key)
            ))
        })?;
        if !schemes.contains(&url.scheme()) {
            return Err(usage(format!(
                "{}: providers.{key}.url must start with {}://, not {}://",
                at(span),
                schemes[0],
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(usage(format!(
                "{}: providers.{key}.url has no host; write e.g. {}",
                at(span),
                example_url(key)
            )));
        }
        // Checked with the code that writes it into the apps' URLs, so a host that code
        // would refuse never reaches a tick.
        let public_host = match doc.public_host {
            Some(host) => match crate::providers::check_public_host(schemes[0], host.get_ref()) {
                Ok(()) => Some(host.into_inner()),
                Err(why) => return Err(usage(format!("{}: providers.{key}.public_host: {why}", at(host.span())))),
            },
            None => None,
        };
        Ok(Some(ServerSettings { url, public_host }))
    };
    let mut settings = Settings {
        path: path.to_path_buf(),
        postgres: server(doc.providers.postgres, "postgres", &["postgres", "postgresql"])?,
        mysql: server(doc.providers.mysql, "mysql", &["mysql", "mariadb"])?,
        redis: server(doc.providers.redis, "redis", &["redis"])?,
        sqlite_dir: doc.providers.sqlite.and_then(|s| s.dir),
        ..Settings::default()
    };
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
    ] {
        if let Some(value) = value {
            *slot = parse_duration(value.get_ref())
                .map_err(|err| usage(format!("{}: engine.{key}: {err}", at(value.span()))))?;
        }
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
    for (app, doc) in doc.apps {
        let span = app.span();
        let app = app.into_inner();
        crate::names::check_app(&app).map_err(|err| usage(format!("{}: [apps.{app}]: {err:#}", at(span))))?;
        settings.apps.insert(app, AppSettings { env_file: doc.env_file });
    }
    Ok(settings)
}

/// The dotted key (`engine.jobs`) of the `key = value` line holding byte `offset`, if
/// that line is one.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.starts_with(['[', '#']) {
        return None;
    }
    let table = text[..line_start].lines().rev().map(str::trim).find_map(|line| {
        line.strip_prefix('[')
            .filter(|rest| !rest.starts_with('['))
            .and_then(|rest| rest.split_once(']'))
            .map(|(t, _)| t.trim())
    });
    Some(table.map_or_else(|| key.to_string(), |table| format!("{table}.{key}")))
}

fn example_url(provider: &str) -> &'static str {
    match provider {
        "postgres" => "postgres://postgres:PASSWORD@127.0.0.1:5432/postgres",
        "mysql" => "mysql://root:PASSWORD@127.0.0.1:3306",
        _ => "redis://default:PASSWORD@127.0.0.1:6379",
    }
}

/// Parses a duration such as `30s`, `5m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|_| format!("invalid duration {}: write e.g. 30s, 5m or 1h", crate::names::shown(text)))?;
    if duration.is_zero() || duration > Duration::from_secs(366 * 24 * 3600) {
        return Err(format!(
            "duration {} is out of range: use more than 0s and at most a year",
            crate::names::shown(text)
        ));
    }
    Ok(duration)
}

impl ServerSettings {
    /// The admin URL with its password replaced, safe to show.
    pub fn display_url(&self) -> String {
        crate::output::mask_url_password(self.url.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        format!("{:#}", parse(Path::new("/etc/addons.toml"), text).unwrap_err())
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
[apps.myapp]
env_file = "/srv/myapp/.env"
"#,
        )
        .unwrap();
        assert_eq!(settings.postgres.unwrap().public_host.as_deref(), Some("db.example.internal"));
        assert!(settings.mysql.is_none());
        assert_eq!(settings.engine.jobs, 2);
        assert_eq!(settings.engine.provision_timeout, Duration::from_secs(600));
        assert_eq!(settings.apps["myapp"].env_file.as_deref(), Some(Path::new("/srv/myapp/.env")));
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
