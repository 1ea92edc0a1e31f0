//! A `postgres://` state URL, read once into what connecting needs: the client settings,
//! the TLS mode, the schema that holds the state, and how to name the server in messages
//! (never with its password).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::Config;
use url::Url;

/// A PostgreSQL state: the server URL as given (it may hold a password: never print
/// it, use [`PostgresLocation::describe`]) and the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresLocation {
    /// The URL as given, `schema` query parameter removed; other parameters
    /// (`sslmode`, ...) are left for the client.
    pub url: Url,
    pub schema: String,
}

impl PostgresLocation {
    /// The URL without password (user, host, port, database), and the schema.
    pub fn describe(&self) -> String {
        let mut shown = self.url.clone();
        let _ = shown.set_password(None);
        shown.set_query(None);
        format!("{shown}?schema={}", self.schema)
    }
}

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

/// A PostgreSQL state, read for connecting.
#[derive(Clone)]
pub struct Location {
    pub(super) config: Config,
    pub(super) tls: Tls,
    /// `sslrootcert`: the PEM file of the roots to trust instead of the system's.
    pub(super) root_cert: Option<PathBuf>,
    schema: String,
    shown: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client settings hold the password: only the shown form is printed.
        f.debug_struct("Location").field("shown", &self.shown).field("tls", &self.tls).finish()
    }
}

impl Location {
    /// Reads the state's URL (its `?schema=` already taken out). What the client can't
    /// use is refused with a message that never quotes the URL, which may hold a password.
    pub fn new(state: &PostgresLocation) -> Result<Location, String> {
        const FORM: &str = "expected postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?schema=NAME&sslmode=MODE]";
        let mut url = state.url.clone();
        let (mut tls, mut root_cert) = (Tls::Prefer, None);
        let mut passed = Vec::new();
        for pair in url.query().unwrap_or_default().split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value).decode_utf8_lossy().into_owned();
            match key {
                "sslmode" => {
                    tls = Tls::parse(&decoded).ok_or_else(|| {
                        format!(
                            "sslmode={} in the state URL is not a mode; use disable, prefer, require, verify-ca or verify-full",
                            crate::names::shown(&decoded)
                        )
                    })?
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(decoded)),
                key if CLIENT_PARAMETERS.contains(&key) => passed.push(pair.to_string()),
                key => {
                    let key = crate::names::shown(&percent_encoding::percent_decode_str(key).decode_utf8_lossy());
                    return Err(format!(
                        "the state URL has a parameter {key} that addons does not know; known: schema, sslmode, sslrootcert, {}",
                        CLIENT_PARAMETERS.join(", ")
                    ));
                }
            }
        }
        let passed = passed.join("&");
        url.set_query(Some(passed.as_str()).filter(|query| !query.is_empty()));
        // The parser's reason is left out: it may quote a piece of the URL.
        let mut config = Config::from_str(url.as_str())
            .map_err(|_| format!("the state URL is not a valid PostgreSQL URL; {FORM}"))?;
        if config.get_user().is_none_or(str::is_empty) {
            return Err(format!("the state URL names no user; {FORM}"));
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
        Ok(Location { config, tls, root_cert, schema: state.schema.clone(), shown: state.describe() })
    }

    /// The state as messages name it: the URL without its password, and the schema.
    pub fn describe(&self) -> &str {
        &self.shown
    }

    /// The schema that holds the state's tables (a plain identifier: `StateLocation`
    /// checked it).
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

    /// How long connecting and logging in may take in all.
    pub(super) fn connect_timeout(&self) -> Duration {
        self.config.get_connect_timeout().copied().unwrap_or(CONNECT_TIMEOUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::location::StateLocation;

    fn location(url: &str) -> Result<Location, String> {
        match StateLocation::parse(url, None)? {
            StateLocation::Postgres(state) => Location::new(&state),
            StateLocation::File(_) => Err("a file".into()),
        }
    }

    #[test]
    fn reads_the_parts_and_shows_no_password() {
        let found =
            location("postgresql://state:s3cr%40t@db.example:6543/fleet?schema=ci&sslmode=verify-full").unwrap();
        assert!(found.describe().starts_with("postgresql://state@db.example:6543/fleet"), "{}", found.describe());
        assert_eq!(
            (found.schema(), found.tls, found.user(), found.dbname()),
            ("ci", Tls::VerifyFull, "state", "fleet")
        );
        assert_eq!(found.config.get_password(), Some(&b"s3cr@t"[..]));
        assert_eq!(found.config.get_application_name(), Some("addons"));
        assert_eq!(found.connect_timeout(), CONNECT_TIMEOUT);
        assert!(!format!("{found:?}").contains("s3cr"));
        let plain = location("postgres://u@h/d?connect_timeout=2").unwrap();
        assert_eq!((plain.schema(), plain.tls), ("addons", Tls::Prefer));
        assert_eq!(plain.connect_timeout(), Duration::from_secs(2));
        assert_eq!(location("postgres://u@h/d?sslmode=require&sslrootcert=/ca.pem").unwrap().tls, Tls::VerifyCa);
    }

    #[test]
    fn refuses_bad_urls_without_quoting_them() {
        for url in [
            "postgres://u:hunter2@h/d?sslmode=hunter2x",
            "postgres://u:hunter2@h/d?nonsense=1",
            "postgres://u:hunter2@h:99999/d",
            "postgres://:hunter2@h/d",
        ] {
            let err = location(url).unwrap_err();
            assert!(!err.contains("hunter2 ") && !err.contains(":hunter2"), "{url}: {err}");
        }
    }
}
