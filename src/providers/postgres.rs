//! The `postgres` provider: a role and a database it alone owns and may connect to, both
//! named `addons_<addon id>`, on the server named in the config file; apps log in through
//! login roles that become the owner (see `credentials`).

use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};

use super::server::{self, ServerSettings, ServerSpec};
use super::{
    Backups, Capabilities, Copies, ParamSpec, Provider, ProviderError, ProviderInfo, ReadOnly, Readiness, Sort,
};
use crate::addon::Resource;

mod backup;
mod copy;
mod credentials;
mod entry;
mod reader;
mod removal;
mod roles;
mod scram;

/// Registry entry for `postgres`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "postgres",
    summary: "a PostgreSQL login role and a database it owns",
    vars: &["DATABASE_URL"],
    params: &[ParamSpec {
        key: server::SCHEME,
        help: "the DATABASE_URL's scheme, for a client that reads its driver there (default postgresql)",
        values: SERVER.app_schemes,
    }],
    check_params: |params| server::check_scheme(&SERVER, params),
    example: Some(SERVER.example),
    configure: |section| ServerSettings::configure(section, &SERVER, Postgres::new),
    rotation: super::Rotates::WithOverlap,
    acts_outside: true,
};

/// What `[providers.postgres]` takes.
const SERVER: ServerSpec = ServerSpec {
    name: "postgres",
    schemes: &["postgres", "postgresql"],
    // `postgresql://` first: every client reads it (SQLAlchemy reads no `postgres://`).
    app_schemes: &[
        "postgresql",
        "postgres",
        "postgresql+psycopg",
        "postgresql+psycopg2",
        "postgresql+asyncpg",
        "postgresql+pg8000",
    ],
    default_port: 5432,
    example: "[providers.postgres]\nurl = \"postgres://postgres:PASSWORD@127.0.0.1:5432/postgres\"",
};

/// How soon to look again when the role or database is not there yet.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// Errors that mean "it already exists", from a create that raced another one.
const ALREADY_EXISTS: &[SqlState] =
    &[SqlState::DUPLICATE_OBJECT, SqlState::DUPLICATE_DATABASE, SqlState::UNIQUE_VIOLATION];

/// Talks to the server named in the config file, over a fresh admin connection per operation.
pub struct Postgres {
    server: ServerSettings,
}

/// What the server already holds for one addon, and whether the admin user is a superuser.
#[derive(Debug, Clone, Copy)]
struct Found {
    superuser: bool,
    role: bool,
    database: bool,
    /// The database is marked a template (its owner may do that), which can't be dropped.
    template: bool,
}

impl Postgres {
    /// Builds the provider from `[providers.postgres]`; nothing connects until an operation runs.
    pub fn new(server: ServerSettings) -> Self {
        Postgres { server }
    }

    /// The connection settings from the URL, with the login's deadline as the connect
    /// timeout; an admin session adds its startup options (`admin_config`), a tenant's
    /// login its user and password.
    fn config(&self) -> Result<Config, ProviderError> {
        // The parser's reason is left out: it may quote a piece of the URL.
        let mut config = Config::from_str(self.server.url.as_str()).map_err(|_| {
            let fix = format!("fix {} in the config file", self.server.key("url"));
            self.server.error(Sort::Permanent, "", "not a PostgreSQL connection URL", &fix)
        })?;
        if let Some(socket) = &self.server.socket {
            // The admin logs in through the socket directory; the URL's host is the apps'.
            let mut local = Config::new();
            local.host_path(socket).port(self.server.port());
            if let Some(user) = config.get_user() {
                local.user(user);
            }
            if let Some(password) = config.get_password() {
                local.password(password);
            }
            if let Some(database) = config.get_dbname() {
                local.dbname(database);
            }
            if let Some(options) = config.get_options() {
                local.options(options);
            }
            config = local;
        }
        let timeout = self.login_timeout(&config);
        config.connect_timeout(timeout);
        if config.get_application_name().is_none() {
            config.application_name("addons");
        }
        Ok(config)
    }

    /// Opens the admin connection to the admin database, with the settings every admin
    /// session pins (see `entry`).
    fn admin(&self) -> Result<Client, ProviderError> {
        let doing = "can't connect as the admin user";
        self.connect(self.admin_config(0)?, doing)?.map_err(|err| self.failure(doing, &err))
    }

    /// How long a login may take in all: `connect_timeout` in `[providers.postgres]`, else
    /// the admin URL's `connect_timeout` parameter, else the default.
    fn login_timeout(&self, config: &Config) -> Duration {
        match (self.server.connect_timeout, config.get_connect_timeout()) {
            (Some(timeout), _) | (None, Some(&timeout)) => timeout,
            (None, None) => self.server.connect_timeout(),
        }
    }

    /// Logs in within the login's deadline (`login_timeout`), every address of the host
    /// and the server's answer included; past it, a transient failure that says so.
    fn connect(&self, config: Config, doing: &str) -> Result<Result<Client, postgres::Error>, ProviderError> {
        let timeout = self.login_timeout(&config);
        self.server.within(timeout, doing, move || config.connect(NoTls))
    }

    /// Runs one admin statement; `Ok(false)` when it failed with one of the `tolerated` codes.
    fn run(&self, client: &mut Client, doing: &str, sql: &str, tolerated: &[SqlState]) -> Result<bool, ProviderError> {
        match client.batch_execute(sql) {
            Ok(()) => Ok(true),
            Err(err) if err.code().is_some_and(|code| tolerated.contains(code)) => Ok(false),
            Err(err) => Err(self.failure(doing, &err)),
        }
    }

    /// Opens an admin connection and looks up what exists. No lock is taken: the engine's
    /// claim lets one call run for an addon at a time, every statement tolerates a racing
    /// twin, and a lock in a database every role may connect to is one a tenant can hold.
    fn opened(&self, name: &str) -> Result<(Client, Found), ProviderError> {
        let mut client = self.admin()?;
        let found = self.lookup(&mut client, name)?;
        Ok((client, found))
    }

    /// Looks up the addon's role and database, and the admin user's superuser bit.
    fn lookup(&self, client: &mut Client, name: &str) -> Result<Found, ProviderError> {
        let row = client
            .query_one(
                "SELECT coalesce((SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER), false), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1), \
                 coalesce((SELECT datistemplate FROM pg_catalog.pg_database WHERE datname = $1), false)",
                &[&name],
            )
            .map_err(|err| self.failure("can't look up roles and databases", &err))?;
        let column = |i| row.try_get(i).map_err(|err| self.failure("can't look up roles and databases", &err));
        Ok(Found { superuser: column(0)?, role: column(1)?, database: column(2)?, template: column(3)? })
    }

    /// Drops database `name`, first taking back the template mark its owner may have put
    /// on it (a template can't be dropped).
    fn drop_database(
        &self,
        client: &mut Client,
        watcher: &mut Client,
        name: &str,
        found: Found,
    ) -> Result<(), ProviderError> {
        let ident = quote_ident(name);
        if found.template {
            let plain = format!("ALTER DATABASE {ident} IS_TEMPLATE false");
            let doing = format!("can't take back the template mark of database {name}");
            self.run_unblocked(client, watcher, &doing, &plain, &[SqlState::UNDEFINED_DATABASE])?;
        }
        let statement = format!("DROP DATABASE IF EXISTS {ident}");
        self.run_unblocked(client, watcher, &format!("can't drop database {name}"), &statement, &[]).map(drop)
    }

    /// Creates the database owned by the role, closed to everyone else.
    fn ensure_database(&self, client: &mut Client, name: &str, found: Found) -> Result<(), ProviderError> {
        let ident = quote_ident(name);
        if !found.superuser {
            // CREATE DATABASE ... OWNER needs the admin user to be a member of the owner.
            self.run(client, &format!("can't join role {name}"), &format!("GRANT {ident} TO CURRENT_USER"), &[])?;
        }
        if !found.database {
            let create = format!("CREATE DATABASE {ident} OWNER {ident}");
            self.run(client, &format!("can't create database {name}"), &create, ALREADY_EXISTS)?;
        }
        let access =
            format!("REVOKE CONNECT ON DATABASE {ident} FROM PUBLIC; GRANT CONNECT ON DATABASE {ident} TO {ident}");
        self.run(client, &format!("can't restrict connections to database {name}"), &access, &[]).map(drop)
    }

    /// The role and database name of an addon, `addons_<id>`: derived from the id alone.
    fn name(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        super::resource_name(&addon).map_err(|err| self.permanent(&err.to_string()))
    }

    /// Words a failed statement: the server, what failed, the server's reason, what to do.
    /// No message is built from SQL text, so neither password can reach one.
    fn failure(&self, doing: &str, err: &postgres::Error) -> ProviderError {
        self.server.error(sort(err), doing, &describe(err), admin_hint(err))
    }

    /// A permanent error that names the server.
    fn permanent(&self, text: &str) -> ProviderError {
        self.server.error(Sort::Permanent, "", text, "")
    }
}

impl Provider for Postgres {
    /// The owner role (which never logs in), the database, and the login of the addon's
    /// own app (`addons_<id>_0_0`, a member of the owner), each made or converged.
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let name = self.name(addon)?;
        let (mut client, found) = self.opened(&name)?;
        self.ensure_owner(&mut client, &name, found)?;
        if addon.source.is_none() {
            // Else the copier makes the database, as a copy.
            self.ensure_database(&mut client, &name, found)?;
        }
        let (login, password) = self.app_login(&mut client, addon)?;
        self.ensure_login(&mut client, &name, &login, &password, found)?;
        Ok(match addon.source {
            Some(_) => {
                format!("created role {name} and login {login} on {}; its database will be a copy", self.server.place())
            }
            None => format!("created role and database {name} and login {login} on {}", self.server.place()),
        })
    }

    /// Ready once the app's login can really log in to the database with its password.
    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let name = self.name(addon)?;
        let mut admin = self.admin()?;
        let (login, password) = self.app_login(&mut admin, addon)?;
        let mut config = self.config()?;
        config.user(&login).password(password).dbname(&name);
        let doing = format!("can't log in as role {login}");
        let err = match self.connect(config, &doing)?.and_then(|mut client| client.batch_execute("SELECT 1")) {
            Ok(()) => return Ok(Readiness::Ready),
            Err(err) => err,
        };
        if sort(&err) == Sort::Transient {
            return Err(self.failure(&doing, &err));
        }
        let found = self.lookup(&mut admin, &name)?;
        if !found.role || !found.database || !self.role_exists(&mut admin, &login)? {
            return Ok(Readiness::NotReady { retry_after: RETRY_AFTER });
        }
        let reason = describe(&err);
        Err(self.permanent(&format!(
            "can't log in as role {login} to database {name}: {reason}; check that the server's pg_hba.conf \
             accepts password logins for it from this host"
        )))
    }

    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let name = self.name(addon)?;
        let (login, password) = self.app_login(&mut self.admin()?, addon)?;
        let url = self.server.app_url(addon.params, &login, &password, &format!("/{name}"))?;
        Ok(vec![("DATABASE_URL".to_string(), url)])
    }

    /// Stops the role from logging in, before anything another session could hold up; ends
    /// the sessions in the way; drops the database; then takes back what the role holds in
    /// every database and drops it. Gone stays gone.
    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let name = self.name(addon)?;
        let (mut client, found) = self.opened(&name)?;
        let mut watcher = self.admin()?;
        let logins = self.credential_roles(&mut client, &addon, &name)?;
        let mut roles = logins.clone();
        if found.role {
            roles.push(name.clone());
        }
        // A copier still at work would make the database again after it is dropped.
        self.end_copier(&mut client, &name)?;
        for role in &roles {
            let nologin = format!("ALTER ROLE {} NOLOGIN", quote_ident(role));
            let doing = format!("can't stop role {role} from logging in");
            self.run_unblocked(&mut client, &mut watcher, &doing, &nologin, &[SqlState::UNDEFINED_OBJECT])?;
            self.join(&mut client, role, found)?;
        }
        self.end_logins(&mut client, &logins)?;
        self.end_sessions(&mut client, &name)?;
        self.drop_database(&mut client, &mut watcher, &name, found)?;
        for role in &roles {
            self.drop_role(&mut client, &mut watcher, role)?;
        }
        let place = self.server.place();
        let others = match logins.len() {
            0 => String::new(),
            n => format!(" and {}", crate::names::plural(n as u64, "other login role")),
        };
        Ok(if found.role || found.database || !logins.is_empty() {
            format!("dropped database and role {name}{others} on {place}")
        } else {
            format!("database and role {name} were already gone from {place}")
        })
    }

    fn health(&self) -> Result<String, ProviderError> {
        let mut client = self.admin()?;
        let row = client
            .query_one(
                "SELECT pg_catalog.current_setting('server_version'), rolsuper OR (rolcreaterole AND rolcreatedb) \
                 FROM pg_catalog.pg_roles WHERE rolname = CURRENT_USER",
                &[],
            )
            .map_err(|err| self.failure("can't read the server version", &err))?;
        let failed = |err| self.failure("can't read the server version", &err);
        let (version, able): (String, bool) = (row.try_get(0).map_err(failed)?, row.try_get(1).map_err(failed)?);
        if !able {
            return Err(self.permanent(
                "the admin user can't create roles and databases; give it CREATEROLE and CREATEDB, \
                 or name a superuser in providers.postgres.url",
            ));
        }
        let version = version.split_whitespace().next().unwrap_or_default();
        Ok(format!("PostgreSQL {version} at {}", self.server.display_url()))
    }

    /// "postgres 7716424062433863855": the cluster's system identifier, from pg_control_system().
    fn server_identity(&self) -> Result<Option<String>, ProviderError> {
        let doing = "can't read the server's system identifier";
        let row = self
            .admin()?
            .query_one("SELECT system_identifier::text FROM pg_catalog.pg_control_system()", &[])
            .map_err(|err| self.failure(doing, &err))?;
        let id: String = row.try_get(0).map_err(|err| self.failure(doing, &err))?;
        Ok(Some(format!("postgres {id}")))
    }

    fn capabilities(&self) -> Capabilities<'_> {
        Capabilities {
            credentials: Some(self),
            verifier: Some(self),
            copies: Copies::By(self),
            read_only: ReadOnly::Logins,
            backups: Backups::By(self),
        }
    }
}

/// Transient when retrying could help: the connection failed or dropped, or a lock or
/// resource was busy.
fn sort(err: &postgres::Error) -> Sort {
    let transient = match err.code().map(SqlState::code) {
        // Connection exceptions (08), serialization failure, deadlock, lock timeout, too many
        // connections, starting up or shutting down, statement timeout, object in use, I/O error.
        Some(code) => {
            code.starts_with("08")
                || ["40001", "40P01", "55P03", "53300", "57P01", "57P02", "57P03", "57014", "55006", "58000", "58030"]
                    .contains(&code)
        }
        None => err.is_closed() || std::error::Error::source(err).is_some_and(|source| source.is::<std::io::Error>()),
    };
    if transient {
        Sort::Transient
    } else {
        Sort::Permanent
    }
}

/// The server's own words for a database error; the library's words and cause otherwise.
fn describe(err: &postgres::Error) -> String {
    match (err.as_db_error(), std::error::Error::source(err)) {
        (Some(db), _) => db.message().to_string(),
        (None, Some(source)) => format!("{err}: {source}"),
        (None, None) => err.to_string(),
    }
}

/// What the operator can do about a failure on the admin connection ("" when nothing).
fn admin_hint(err: &postgres::Error) -> &'static str {
    match err.code().map(SqlState::code) {
        Some("28P01") => "fix the password in providers.postgres.url in the config file",
        Some("28000") => "fix the user in providers.postgres.url in the config file, or the server's pg_hba.conf",
        Some("3D000") => "fix the database name in providers.postgres.url in the config file",
        Some("42501") => "give the admin user in providers.postgres.url CREATEROLE and CREATEDB, or use a superuser",
        None if sort(err) == Sort::Transient => "is the server running and reachable?",
        None => "check providers.postgres.url in the config file",
        _ => "",
    }
}

/// An SQL identifier, quoted: `"` doubled inside double quotes.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An SQL string literal, quoted as PostgreSQL's `quote_literal` does: `'` doubled, and
/// the `E''` form with doubled backslashes when there are backslashes, so the result
/// reads the same whatever `standard_conforming_strings` says.
fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if quoted.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("addons_0a"), "\"addons_0a\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("pw"), "'pw'");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\'b"), "E'a\\\\''b'");
    }
}
