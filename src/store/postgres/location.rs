//! A `postgres://` state URL, read once into what connecting needs: the client settings,
//! the TLS mode, the schema that holds the state, and how to name the server in messages
//! (never with its password).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::{Host, SslMode};
use postgres::Config;

use crate::error::usage;

/// The schema a state lives in when the URL names none.
pub const DEFAULT_SCHEMA: &str = "addons";

/// How long a connection attempt (and the login after it) may take when the URL gives
/// no `connect_timeout`: a server that is down or hung must not hang a command.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL parameters the `postgres` client reads itself; `sslmode` and `sslrootcert`
/// are read here (`schema` was taken out with the state location).
const CLIENT_PARAMETERS: &[&str] = &[
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// What TLS the connection uses, as libpq's `sslmode` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, unchecked; plain otherwise (libpq's default).
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless `sslrootcert` is given).
    Require,
    /// TLS with a certificate signed by a trusted root, whatever host name it names.
    VerifyCa,
    /// TLS with a trusted certificate issued for the host connected to.
    VerifyFull,
}

impl Tls {
    fn parse(mode: &str) -> Option<Tls> {
        Some(match mode {
            "disable" | "allow" => Tls::Disable,
            "prefer" => Tls::Prefer,
            "require" => Tls::Require,
            "verify-ca" => Tls::VerifyCa,
            "verify-full" => Tls::VerifyFull,
            _ => return None,
        })
    }
}

/// A parsed PostgreSQL state URL.
#[derive(Clone)]
pub struct Location {
    pub(super) config: Config,
    pub(super) tls: Tls,
    /// `sslrootcert`: the PEM file of the roots to trust instead of the system's.
    pub(super) root_cert: Option<PathBuf>,
    pub(super) schema: String,
    shown: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client settings hold the password: only the shown form is printed.
        f.debug_struct("Location").field("shown", &self.shown).field("tls", &self.tls).finish()
    }
}

/// Whether a state location is a PostgreSQL URL rather than a file path.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl Location {
    /// Reads a `postgres://` / `postgresql://` URL whose state lives in `schema`. A
    /// malformed one is a usage error (exit 2) that never quotes the URL, which may hold
    /// a password.
    pub fn parse(text: &str, schema: &str) -> anyhow::Result<Location> {
        const FORM: &str = "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?schema=NAME&sslmode=MODE]";
        let mut url = url::Url::parse(text)
            .ok()
            .filter(|url| is_postgres_url(text) && url.has_host())
            .ok_or_else(|| usage(format!("the state URL is not a valid PostgreSQL URL; {FORM}")))?;
        let (mut tls, mut root_cert) = (Tls::Prefer, None);
        let mut passed = Vec::new();
        for pair in url.query().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
            match key {
                "sslmode" => {
                    tls = Tls::parse(&decoded).ok_or_else(|| {
                        usage(format!(
                            "sslmode={decoded} in the state URL is not a mode; use disable, prefer, require, verify-ca or verify-full"
                        ))
                    })?
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(decoded)),
                key if CLIENT_PARAMETERS.contains(&key) => passed.push(pair.to_string()),
                key => {
                    let key = crate::names::shown(&percent_encoding::percent_decode_str(key).decode_utf8_lossy());
                    return Err(usage(format!(
                        "the state URL has a parameter {key} that addons does not know; \
                         known: sslmode, sslrootcert, {}",
                        CLIENT_PARAMETERS.join(", ")
                    )));
                }
            }
        }
        check_schema(schema)?;
        url.set_query(if passed.is_empty() { None } else { Some(&passed.join("&")) });
        // The parser's reason is left out: it may quote a piece of the URL.
        let mut config = Config::from_str(url.as_str())
            .map_err(|_| usage(format!("the state URL is not a valid PostgreSQL URL; {FORM}")))?;
        if config.get_user().is_none() {
            return Err(usage(format!("the state URL names no user; {FORM}")));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("addons");
        }
        // With a root certificate given, libpq checks the chain even under `require`.
        if tls == Tls::Require && root_cert.is_some() {
            tls = Tls::VerifyCa;
        }
        config.ssl_mode(match tls {
            Tls::Disable => SslMode::Disable,
            Tls::Prefer => SslMode::Prefer,
            Tls::Require | Tls::VerifyCa | Tls::VerifyFull => SslMode::Require,
        });
        let shown = shown(&config, schema);
        Ok(Location { config, tls, root_cert, schema: schema.to_string(), shown })
    }

    /// The state as messages name it: `postgres://USER@HOST:PORT/DBNAME`, and the schema
    /// when it is not the default one. Never the password.
    pub fn describe(&self) -> &str {
        &self.shown
    }

    /// The schema that holds the state's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The user the state connects as.
    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// The database the state lives in.
    pub fn dbname(&self) -> &str {
        self.config.get_dbname().or(self.config.get_user()).unwrap_or_default()
    }

    /// The same server and database with another schema: for tests, which give each
    /// run a schema of its own.
    pub fn with_schema(&self, schema: &str) -> anyhow::Result<Location> {
        check_schema(schema)?;
        Ok(Location { schema: schema.to_string(), shown: shown(&self.config, schema), ..self.clone() })
    }

    /// How long connecting and logging in may take in all.
    pub(super) fn connect_timeout(&self) -> Duration {
        self.config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT)
    }
}

/// A schema name is a plain lower-case identifier, so it goes into SQL without quoting
/// surprises and reads the same in `psql`.
fn check_schema(schema: &str) -> anyhow::Result<()> {
    let plain = schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !schema.starts_with("pg_");
    if plain {
        Ok(())
    } else {
        Err(usage(format!(
            "schema={} in the state URL is not a plain identifier; use lower-case letters, digits and _ \
             (at most 63, not starting with a digit or pg_), e.g. schema=addons",
            crate::names::shown(schema)
        )))
    }
}

fn shown(config: &Config, schema: &str) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let port = config.get_ports().get(index).or(config.get_ports().first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => path.display().to_string(),
            }
        })
        .collect();
    let user = config.get_user().map(|user| format!("{user}@")).unwrap_or_default();
    let dbname = config.get_dbname().or(config.get_user()).unwrap_or_default();
    let schema = if schema == DEFAULT_SCHEMA { String::new() } else { format!("?schema={schema}") };
    format!("postgres://{user}{}/{dbname}{schema}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code_of;

    #[test]
    fn reads_the_parts_and_shows_no_password() {
        let location =
            Location::parse("postgresql://state:s3cr%40t@db.example:6543/fleet?sslmode=verify-full", "ci").unwrap();
        assert_eq!(location.describe(), "postgres://state@db.example:6543/fleet?schema=ci");
        assert_eq!((location.schema(), location.tls), ("ci", Tls::VerifyFull));
        assert_eq!(location.config.get_password(), Some(&b"s3cr@t"[..]));
        assert_eq!(location.config.get_application_name(), Some("addons"));
        assert_eq!(location.connect_timeout(), CONNECT_TIMEOUT);
        assert!(!format!("{location:?}").contains("s3cr"));
        let plain = Location::parse("postgres://u@h/d?connect_timeout=2", DEFAULT_SCHEMA).unwrap();
        assert_eq!((plain.describe(), plain.schema(), plain.tls), ("postgres://u@h:5432/d", "addons", Tls::Prefer));
        assert_eq!(plain.connect_timeout(), Duration::from_secs(2));
        let rooted = Location::parse("postgres://u@h/d?sslmode=require&sslrootcert=/ca.pem", DEFAULT_SCHEMA).unwrap();
        assert_eq!(rooted.tls, Tls::VerifyCa);
    }

    #[test]
    fn refuses_bad_urls_without_quoting_them() {
        assert_eq!(exit_code_of(&Location::parse("postgres://u@h/d", "pg_catalog").unwrap_err()), 2);
        for url in [
            "postgres://u:hunter2@h/d?sslmode=hunter2x",
            "postgres://u:hunter2@h/d?nonsense=1",
            "postgres://u:hunter2@h:notaport/d",
            "postgres://:hunter2@h/d",
            "postgres://",
        ] {
            let err = Location::parse(url, DEFAULT_SCHEMA).unwrap_err();
            let text = format!("{err:#}");
            assert_eq!(exit_code_of(&err), 2, "{url}: {text}");
            assert!(!text.contains("hunter2 ") && !text.contains(":hunter2"), "{url}: {text}");
        }
    }
}
