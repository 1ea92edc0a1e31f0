//! The `mysql` provider: a MariaDB or MySQL user and a database that user alone can use,
//! made through the admin URL in the config file.

use std::error::Error as _;
use std::io::{self, ErrorKind};
use std::time::Duration;

use mysql::prelude::{FromRow, FromValue, Queryable};
use mysql::{Conn, DriverError, Error, OptsBuilder, Params};

use super::server::{self, ServerSettings, ServerSpec};
use super::{
    resource_name, Backups, Capabilities, Copies, ParamSpec, Provider, ProviderError, ProviderInfo, ReadOnly,
    Readiness, Sort,
};

mod backup;
mod copy;
mod credentials;
mod names;
mod objects;
use crate::addon::Resource;

/// Registry entry for `mysql`.
pub static INFO: ProviderInfo = ProviderInfo {
    name: "mysql",
    summary: "a MySQL/MariaDB user and a database it alone can use",
    vars: &["DATABASE_URL"],
    params: &[ParamSpec {
        key: server::SCHEME,
        help: "the DATABASE_URL's scheme, for a client that reads its driver there (default mysql)",
        values: SERVER.app_schemes,
    }],
    check_params: |params| server::check_scheme(&SERVER, params),
    example: Some(SERVER.example),
    configure: |section| ServerSettings::configure(section, &SERVER, Mysql::new),
    rotation: super::Rotates::WithOverlap,
    acts_outside: true,
};

/// What `[providers.mysql]` takes.
const SERVER: ServerSpec = ServerSpec {
    name: "mysql",
    schemes: &["mysql", "mariadb"],
    app_schemes: &[
        "mysql",
        "mysql+pymysql",
        "mysql+mysqldb",
        "mysql+mysqlconnector",
        "mysql+asyncmy",
        "mysql+aiomysql",
        "mariadb",
        "mariadb+pymysql",
        "mariadb+mariadbconnector",
    ],
    default_port: 3306,
    example: "[providers.mysql]\nurl = \"mysql://root:PASSWORD@127.0.0.1:3306\"",
};

/// Long enough for `DROP DATABASE` of a big database; short enough that a hung server is noticed.
/// (The driver applies it to the handshake too; a timed-out drop is retried and converges.)
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// DDL waiting on another session's metadata lock fails with 1205 (retried) instead of hanging.
const ADMIN_SESSION_SETUP: &str = "SET SESSION lock_wait_timeout = 10";
/// Server error codes worth retrying: lock wait timeout, deadlock, too many connections (server,
/// user), server shutting down, connection killed (MariaDB), and the client's lost-connection codes.
const TRANSIENT_CODES: &[u16] = &[1205, 1213, 1040, 1203, 1053, 1927, 2006, 2013];
/// Access denied to a database, to a table, for lack of a global privilege, or to kill a session.
const PRIVILEGE_CODES: &[u16] = &[1044, 1142, 1227, 1095];
/// Wrong user or password (1698: MariaDB's answer for some unknown users and socket-only logins).
const ACCESS_DENIED_CODES: &[u16] = &[1045, 1698];
const UNKNOWN_THREAD: u16 = 1094;

/// Talks to the server named in the config file.
pub struct Mysql {
    server: ServerSettings,
}

impl Mysql {
    /// Builds the provider from its `[providers.mysql]` settings; connects only when asked to work.
    pub fn new(server: ServerSettings) -> Self {
        Mysql { server }
    }

    fn permanent(&self, what: &str) -> ProviderError {
        self.server.error(Sort::Permanent, "", what, "")
    }

    /// Connection options for `user` on the admin URL's server, always over TCP (as an app connects).
    fn options(&self, user: &str, password: &str, database: Option<&str>) -> Result<OptsBuilder, ProviderError> {
        let scheme = self.server.url.scheme();
        if scheme != "mysql" && scheme != "mariadb" {
            return Err(self.permanent("the admin URL must start with mysql:// or mariadb://; fix providers.mysql.url"));
        }
        Ok(OptsBuilder::new()
            .ip_or_hostname(Some(self.server.host()?))
            .tcp_port(self.server.port())
            .prefer_socket(false)
            .user(Some(user))
            .pass(Some(password))
            .db_name(database)
            .tcp_connect_timeout(Some(self.server.connect_timeout()))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT)))
    }

    /// A fresh admin session (one per operation).
    fn admin(&self) -> Result<Admin<'_>, ProviderError> {
        self.admin_waiting(Some(IO_TIMEOUT))
    }

    /// A fresh admin session whose answers may take up to `timeout` (`None`: as long as
    /// they take, for the copier's copies of big tables).
    fn admin_waiting(&self, timeout: Option<Duration>) -> Result<Admin<'_>, ProviderError> {
        let url = &self.server.url;
        let user = percent_decoded(url.username());
        let password = percent_decoded(url.password().unwrap_or(""));
        let options = self.options(&user, &password, None)?.read_timeout(timeout).write_timeout(timeout);
        // A server found by its socket takes the admin there (root by unix_socket).
        let options = options.socket(self.server.socket.as_ref().map(|path| path.display().to_string()));
        let options = options.init(vec![ADMIN_SESSION_SETUP]);
        let doing = "connecting as the admin user";
        let conn = self.login(options, doing)?.map_err(|err| self.fail(doing, &err, Login::Admin))?;
        Ok(Admin { conn, provider: self })
    }

    /// Logs in within `connect_timeout`, every address of the host and the server's
    /// answer included (the driver's timeouts bound one connect or one read each).
    fn login(&self, options: OptsBuilder, doing: &str) -> Result<Result<Conn, Error>, ProviderError> {
        self.server.within(self.server.connect_timeout(), doing, move || Conn::new(options))
    }

    /// Turns a driver error into one line that names the server and says what to do.
    fn fail(&self, doing: &str, err: &Error, login: Login) -> ProviderError {
        let (kind, what) = classify(err);
        let fix = match (kind, login) {
            (Kind::Unreachable, _) => format!("check that the server at {} is up and reachable", self.server.place()),
            (Kind::Busy, _) => "the server is busy: a lock is held or the connections are used up".to_string(),
            (Kind::Denied, Login::Admin) => {
                "fix the user and password in providers.mysql.url in the config file".into()
            }
            (Kind::Denied, Login::App) => {
                "an anonymous user or a host rule may shadow it: see SELECT user, host FROM mysql.user".into()
            }
            (Kind::Lacking, _) => {
                "grant the admin user ALL PRIVILEGES ON *.* WITH GRANT OPTION, or fix providers.mysql.url".into()
            }
            (Kind::Other, _) => "see the server's error log".into(),
        };
        let sort = match kind {
            Kind::Unreachable | Kind::Busy => Sort::Transient,
            Kind::Denied | Kind::Lacking | Kind::Other => Sort::Permanent,
        };
        self.server.error(sort, doing, &what, &fix)
    }

    /// Where to create the user: `%`, plus every host an anonymous user is defined for, because
    /// `''@'localhost'` sorts before `'name'@'%'` and would otherwise take this user's logins.
    fn account_hosts(&self, admin: &mut Admin<'_>) -> Result<Vec<String>, ProviderError> {
        let mut hosts = vec!["%".to_string()];
        let anonymous: Vec<String> =
            admin.column("SELECT DISTINCT host FROM mysql.user WHERE user = ''", (), "finding anonymous users")?;
        for host in anonymous {
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        Ok(hosts)
    }
}

/// Whose login an error came from, which decides the advice.
#[derive(Clone, Copy)]
enum Login {
    Admin,
    App,
}

/// What kind of trouble a driver error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Can't reach the server, or lost it: transient.
    Unreachable,
    /// Lock contention or no free connection: transient.
    Busy,
    /// Wrong user or password: permanent.
    Denied,
    /// The admin user lacks a privilege: permanent.
    Lacking,
    /// Anything else: permanent.
    Other,
}

/// Sorts a driver error and describes it in words that never hold a secret (the driver's
/// texts hold none; server messages are cut to one line and redacted by the caller that sent one).
fn classify(err: &Error) -> (Kind, String) {
    match err {
        Error::IoError(_) | Error::CodecError(_) => match io_error(err) {
            Some(io) if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                (Kind::Unreachable, format!("no answer within {}s", IO_TIMEOUT.as_secs()))
            }
            Some(io) => (Kind::Unreachable, format!("lost the connection ({io})")),
            None => (Kind::Unreachable, format!("lost the connection ({err})")),
        },
        Error::DriverError(DriverError::ConnectTimeout) => (Kind::Unreachable, "connecting timed out".into()),
        Error::DriverError(DriverError::CouldNotConnect(Some((_, desc, _)))) => {
            (Kind::Unreachable, format!("can't connect ({desc})"))
        }
        Error::DriverError(DriverError::CouldNotConnect(None)) => (Kind::Unreachable, "can't connect".into()),
        Error::MySqlError(server) => {
            let message = server.message.lines().next().unwrap_or("").chars().take(200).collect::<String>();
            let what = format!("server error {} ({message})", server.code);
            let kind = match server.code {
                code if ACCESS_DENIED_CODES.contains(&code) => Kind::Denied,
                code if PRIVILEGE_CODES.contains(&code) => Kind::Lacking,
                code if TRANSIENT_CODES.contains(&code) => Kind::Busy,
                _ => Kind::Other,
            };
            (kind, what)
        }
        other => (Kind::Other, other.to_string().replace('\n', " ")),
    }
}

/// The I/O error under a driver error, also when the packet codec wraps it.
fn io_error(err: &Error) -> Option<&io::Error> {
    match err {
        Error::IoError(io) => Some(io),
        Error::CodecError(codec) => codec.source()?.downcast_ref(),
        _ => None,
    }
}

/// One admin session, and the provider it works for (to word its errors).
struct Admin<'a> {
    conn: Conn,
    provider: &'a Mysql,
}

impl Admin<'_> {
    /// Runs a statement that returns no rows.
    fn run(&mut self, sql: &str, doing: &str) -> Result<(), ProviderError> {
        self.conn.query_drop(sql).map_err(|err| self.provider.fail(doing, &err, Login::Admin))
    }

    /// Runs a query with bound parameters and returns its first column. A value of an
    /// unexpected type is an error, not a panic (the driver's plain `exec` panics).
    fn column<T: FromValue>(
        &mut self,
        sql: &str,
        params: impl Into<Params>,
        doing: &str,
    ) -> Result<Vec<T>, ProviderError> {
        self.rows(sql, params, doing)
    }

    /// Runs a query with bound parameters and returns its rows, each as a tuple, checked
    /// as `column` checks its values.
    fn rows<T: FromRow>(&mut self, sql: &str, params: impl Into<Params>, doing: &str) -> Result<Vec<T>, ProviderError> {
        let rows = self.conn.exec_opt(sql, params).map_err(|err| self.provider.fail(doing, &err, Login::Admin))?;
        rows.into_iter()
            .map(|row| {
                row.map_err(|_| {
                    self.provider.permanent(&format!("{doing}: the server answered with an unexpected value"))
                })
            })
            .collect()
    }
}

/// Quotes a name as a MySQL identifier.
fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `user`@`host`, quoted as identifiers (valid on MySQL and MariaDB).
fn account(user: &str, host: &str) -> String {
    format!("{}@{}", ident(user), ident(host))
}

/// The password as an SQL string literal. It is alphanumeric by construction; anything else is
/// refused rather than escaped, because escaping depends on the server's `NO_BACKSLASH_ESCAPES`.
fn password_literal(password: &str) -> Result<String, ProviderError> {
    if !password.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ProviderError::Permanent("the derived password is not alphanumeric".into()));
    }
    Ok(format!("'{password}'"))
}

/// A URL's user or password with its `%XX` escapes decoded.
fn percent_decoded(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

impl Provider for Mysql {
    /// Creates (or converges) the user on every account host, the database, and the grant.
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let name = resource_name(&addon)?;
        let password = addon.password();
        let mut admin = self.admin()?;
        let hosts = self.account_hosts(&mut admin)?;
        credentials::create_users(&mut admin, &hosts, &name, &password)?;
        if addon.source.is_some() {
            // The copier makes the database, and lets the user log in once it is whole.
            for host in &hosts {
                let lock = format!("ALTER USER {} ACCOUNT LOCK", account(&name, host));
                admin.run(&lock, &format!("locking user {name} until its copy is done"))?;
            }
            return Ok(format!("created user {name} on {}; its database will be a copy", self.server.place()));
        }
        let create = format!("CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4", ident(&name));
        admin.run(&create, &format!("creating database {name}"))?;
        credentials::grant_database(&mut admin, &hosts, &name, &name)?;
        take_back_wildcard_grants(&mut admin, &name)?;
        Ok(format!("creating database {name} on {}", self.server.place()))
    }

    /// Ready once the new user can log in to the new database and run a query.
    fn provision_complete(&self, addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        let name = resource_name(&addon)?;
        let password = addon.password();
        let doing = format!("logging in as {name}");
        let fail = |err: Error| self.fail(&doing, &err, Login::App).hiding(&password);
        let mut conn = self.login(self.options(&name, &password, Some(&name))?, &doing)?.map_err(fail)?;
        conn.query_drop("SELECT 1").map_err(fail)?;
        Ok(Readiness::Ready)
    }

    /// `DATABASE_URL`, pointing at `public_host` when it is set.
    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        let name = resource_name(&addon)?;
        let url = self.server.app_url(addon.params, &name, &addon.password(), &format!("/{name}"))?;
        Ok(vec![("DATABASE_URL".to_string(), url)])
    }

    /// Ends the user's sessions and drops every account of the user (and with them every
    /// grant), so nothing can make more databases; then drops the database, and every
    /// database the unescaped grant of earlier versions let the user create.
    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let name = resource_name(&addon)?;
        let mut admin = self.admin()?;
        // A copier still at work would make the database again after it is dropped.
        self.end_copier(&mut admin, &name)?;
        let others = self.credential_users(&mut admin, &addon)?;
        for user in others.iter().chain([&name]) {
            self.drop_user(&mut admin, user)?;
        }
        admin.run(&format!("DROP DATABASE IF EXISTS {}", ident(&name)), &format!("dropping database {name}"))?;
        // What a restore's worker killed half-way left (backup.rs).
        for left in [format!("{name}_restore"), format!("{name}_old")] {
            admin.run(&format!("DROP DATABASE IF EXISTS {}", ident(&left)), &format!("dropping database {left}"))?;
        }
        let strays = wildcard_databases(&mut admin, &name)?;
        for database in &strays {
            admin.run(
                &format!("DROP DATABASE IF EXISTS {}", ident(database)),
                &format!("dropping database {database}"),
            )?;
        }
        let mut message = format!("dropping database {name} and user {name} on {}", self.server.place());
        if !others.is_empty() {
            message.push_str(&format!(", and users {}", others.join(", ")));
        }
        if !strays.is_empty() {
            let names = strays.join(", ");
            message.push_str(&format!(
                ", and database {names}, which earlier versions' unescaped grant let the user make"
            ));
        }
        Ok(message)
    }

    /// "MariaDB 10.11.19 at mysql://root@127.0.0.1:3306".
    fn health(&self) -> Result<String, ProviderError> {
        let mut admin = self.admin()?;
        let version: Vec<String> = admin.column("SELECT VERSION()", (), "asking the server's version")?;
        let version = version.into_iter().next().unwrap_or_default();
        let number = version.split('-').next().unwrap_or_default();
        let product = if version.contains("MariaDB") { "MariaDB" } else { "MySQL" };
        // Making a user, a database and the user's grants on it takes these, grantable.
        let rights: Vec<i64> = admin.column(
            "SELECT COUNT(DISTINCT PRIVILEGE_TYPE) FROM information_schema.USER_PRIVILEGES \
             WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', \
             SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''') \
             AND PRIVILEGE_TYPE IN ('CREATE USER', 'CREATE', 'DROP') AND IS_GRANTABLE = 'YES'",
            (),
            "asking the admin user's rights",
        )?;
        if rights.first().copied().unwrap_or_default() < 3 {
            return Err(self.permanent(
                "the admin user can't create users and databases and grant rights on them; \
                 grant it ALL PRIVILEGES ON *.* WITH GRANT OPTION, or name another user in providers.mysql.url",
            ));
        }
        Ok(format!("{product} {number} at {}", self.server.display_url()))
    }

    /// "mysql UUID" from `@@server_uuid`, or "mysql HOSTNAME:PORT" on MariaDB, which has none.
    fn server_identity(&self) -> Result<Option<String>, ProviderError> {
        let mut admin = self.admin()?;
        let doing = "reading the server's identity";
        let has_uuid: Vec<i64> = admin.column(
            "SELECT COUNT(*) FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME = 'SERVER_UUID'",
            (),
            doing,
        )?;
        let sql = match has_uuid.first() {
            Some(n) if *n > 0 => "SELECT CAST(@@server_uuid AS CHAR)",
            _ => "SELECT CONCAT(@@hostname, ':', @@port)",
        };
        let id: Vec<String> = admin.column(sql, (), doing)?;
        Ok(id.into_iter().next().map(|id| format!("mysql {id}")))
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

/// The database part of a grant for database `name` alone. In a grant, `_` and `%` are
/// wildcards: unescaped, `addons_<id>` would also let the user create `addonsX<id>`.
fn grant_pattern(name: &str) -> String {
    ident(&name.replace('\\', "\\\\").replace('_', "\\_").replace('%', "\\%"))
}

/// Revokes the unescaped grant that earlier versions of this provider gave (it matches more
/// than the addon's database) wherever the user still holds it, so a provision converges.
fn take_back_wildcard_grants(admin: &mut Admin<'_>, name: &str) -> Result<(), ProviderError> {
    let hosts: Vec<String> = admin.column(
        "SELECT host FROM mysql.db WHERE user = ? AND db = ?",
        (name, name),
        "finding grants that match more than the user's database",
    )?;
    for host in hosts {
        let account = account(name, &host);
        let revoke = format!("REVOKE ALL PRIVILEGES ON {}.* FROM {account}", ident(name));
        admin.run(&revoke, &format!("taking back the wildcard grant of {account}"))?;
    }
    Ok(())
}

/// The databases besides `name` that the unescaped grant `name`.* matched (`_` matching any
/// one character): only the addon's user could have made them, with its own id in the name.
fn wildcard_databases(admin: &mut Admin<'_>, name: &str) -> Result<Vec<String>, ProviderError> {
    admin.column(
        "SELECT schema_name FROM information_schema.schemata \
         WHERE schema_name LIKE BINARY ? AND schema_name <> BINARY ? ORDER BY schema_name",
        (name, name),
        "finding databases the user made beside its own",
    )
}

/// Kills every session of the user; a session that ended meanwhile ("unknown thread") is fine.
fn end_sessions(admin: &mut Admin<'_>, name: &str) -> Result<(), ProviderError> {
    let ids: Vec<u64> = admin.column(
        "SELECT id FROM information_schema.processlist WHERE user = ?",
        (name,),
        "listing the user's sessions",
    )?;
    for id in ids {
        match admin.conn.query_drop(format!("KILL CONNECTION {id}")) {
            Err(Error::MySqlError(server)) if server.code == UNKNOWN_THREAD => {}
            result => result.map_err(|err| admin.provider.fail("ending the user's sessions", &err, Login::Admin))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_backticks() {
        assert_eq!(ident("a`b"), "`a``b`");
        assert_eq!(account("addons_0123456789abcdef", "%"), "`addons_0123456789abcdef`@`%`");
        assert_eq!(grant_pattern("addons_0a"), "`addons\\_0a`");
        assert_eq!(grant_pattern("a%b\\c"), "`a\\%b\\\\c`");
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decoded("p%40ss%2Fw%zz%4"), "p@ss/w%zz%4");
    }

    #[test]
    fn server_codes_sort_into_kinds() {
        let server = |code| Error::MySqlError(mysql::MySqlError { state: "HY000".into(), message: "m".into(), code });
        assert_eq!(classify(&server(1045)).0, Kind::Denied);
        assert_eq!(classify(&server(1698)).0, Kind::Denied);
        assert_eq!(classify(&server(1227)).0, Kind::Lacking);
        assert_eq!(classify(&server(1213)).0, Kind::Busy);
        assert_eq!(classify(&server(1064)).0, Kind::Other);
        assert_eq!(classify(&Error::DriverError(DriverError::ConnectTimeout)).0, Kind::Unreachable);
        let timeout = Error::IoError(io::Error::from(ErrorKind::WouldBlock));
        assert_eq!(classify(&timeout), (Kind::Unreachable, "no answer within 30s".to_string()));
    }

    #[test]
    fn secrets_are_redacted_from_messages() {
        let err = ProviderError::Permanent("near 'IDENTIFIED BY 'Abc123''".into());
        assert_eq!(err.hiding("Abc123"), ProviderError::Permanent("near 'IDENTIFIED BY '****''".into()));
    }
}
