//! The admin in a tenant's database. Its owner may put settings on it (`ALTER DATABASE ...
//! SET search_path, role, default_transaction_read_only`, timeouts, libraries to load),
//! refuse connections (`ALLOW_CONNECTIONS false`, `CONNECTION LIMIT 0`, `REVOKE CONNECT`)
//! and fill it with functions named like the catalog's. An admin session there pins at
//! login every setting that could run the tenant's code or stop the admin, sets the rest
//! of what the database holds back to the server's built-in values, and names everything
//! with its schema; a door the tenant closed is opened for the admin's work and closed again.

use postgres::error::SqlState;
use postgres::{Client, Config};

use super::{quote_ident, Found, Postgres, ProviderError};

/// The settings every admin session sets at login (startup options, which win over what
/// a database or role holds), each with the first server version (`server_version_num`)
/// that knows it: names are looked up in `pg_catalog` alone; no role switch, read-only
/// default, serializable default, library or tenant-chosen timeout applies; statements
/// stay short (waiting on a lock is contention, retried later).
const PINNED: [(&str, &str, i32); 12] = [
    ("search_path", "pg_catalog,pg_temp", 0),
    ("role", "none", 0),
    ("default_transaction_read_only", "off", 0),
    ("default_transaction_isolation", "read\\ committed", 0),
    ("default_transaction_deferrable", "off", 0),
    ("statement_timeout", "60s", 0),
    ("lock_timeout", "5s", 0),
    ("idle_in_transaction_session_timeout", "0", 0),
    ("idle_session_timeout", "0", 140_000),
    ("transaction_timeout", "0", 170_000),
    ("exit_on_error", "off", 0),
    ("local_preload_libraries", "", 0),
];

/// Sets every setting the session took from its database (`ALTER DATABASE ... SET`) and
/// that was not pinned at login back to its built-in value. A superuser-only setting is
/// there only if a superuser let the owner set it; an admin that is not one leaves it.
const FORGET_DATABASE_SETTINGS: &str = "SELECT pg_catalog.set_config(s.name, s.boot_val, false) \
     FROM pg_catalog.pg_settings s WHERE s.source = 'database' AND s.boot_val IS NOT NULL \
     AND (s.context = 'user' OR (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER))";

/// How database `$1` lets the admin in: connections allowed, connection limit, the admin's
/// CONNECT privilege, whether a superuser owns it, its owner, whether the admin is a
/// superuser, and the server version.
const DOOR: &str = "SELECT d.datallowconn, d.datconnlimit, pg_catalog.has_database_privilege(d.oid, 'CONNECT'), \
     o.rolsuper, o.rolname, coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = CURRENT_USER), false), \
     pg_catalog.current_setting('server_version_num')::pg_catalog.int4 \
     FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles o ON o.oid = d.datdba WHERE d.datname = $1";

/// The startup options of an admin session on a server of `version` (0: any version):
/// the pinned settings after any the admin URL gives.
pub(super) fn admin_options(given: Option<&str>, version: i32) -> String {
    let pinned =
        PINNED.iter().filter(|(_, _, since)| version >= *since).map(|(name, value, _)| format!("-c {name}={value}"));
    given.into_iter().map(str::to_string).chain(pinned).collect::<Vec<_>>().join(" ")
}

/// What the admin changed to get into a tenant's database, to be put back after.
pub(super) struct Door {
    database: String,
    /// The owner refused connections (`ALLOW_CONNECTIONS false`).
    reopened: bool,
    /// The owner's connection limit, lifted for an admin that is not a superuser.
    limit: Option<i32>,
    /// The admin had no CONNECT privilege and was given it.
    granted: bool,
    /// `server_version_num`, which the session's options are chosen by.
    pub(super) version: i32,
}

impl Door {
    fn changed(&self) -> bool {
        self.reopened || self.limit.is_some() || self.granted
    }
}

impl Postgres {
    /// Runs `work` in an admin session in `database`, with its door open meanwhile;
    /// `Ok(None)` when the database is gone (or going), or when a superuser owns it and
    /// refuses connections (that is the operator's, and left as it is).
    pub(super) fn inside<T>(
        &self,
        client: &mut Client,
        database: &str,
        work: impl FnOnce(&mut Client) -> Result<T, ProviderError>,
    ) -> Result<Option<T>, ProviderError> {
        let entered = self.through_door(client, database, |version| match self.admin_in(database, version)? {
            Some(mut there) => work(&mut there).map(Some),
            None => Ok(None),
        })?;
        Ok(entered.flatten())
    }

    /// Runs `work` (given the server version) while `database` lets the admin in: what its
    /// owner did to refuse the admin is undone first and redone after, whatever `work` did.
    pub(super) fn through_door<T>(
        &self,
        client: &mut Client,
        database: &str,
        work: impl FnOnce(i32) -> Result<T, ProviderError>,
    ) -> Result<Option<T>, ProviderError> {
        let Some(door) = self.open_door(client, database)? else { return Ok(None) };
        let done = work(door.version);
        let closed = self.close_door(client, &door);
        let done = done?;
        closed?;
        Ok(Some(done))
    }

    /// Lets the admin into `database`: connections allowed again, for an admin that is not
    /// a superuser the connection limit lifted and CONNECT granted. `None` when the database
    /// is gone, or a superuser owns it and refuses connections.
    fn open_door(&self, client: &mut Client, database: &str) -> Result<Option<Door>, ProviderError> {
        let doing = format!("can't look at database {database}");
        let rows = client.query(DOOR, &[&database]).map_err(|err| self.failure(&doing, &err))?;
        let Some(row) = rows.first() else { return Ok(None) };
        let column = |i| row.try_get::<_, bool>(i).map_err(|err| self.failure(&doing, &err));
        let (allowed, may_connect, owned_by_superuser, superuser) = (column(0)?, column(2)?, column(3)?, column(5)?);
        let limit: i32 = row.try_get(1).map_err(|err| self.failure(&doing, &err))?;
        let owner: String = row.try_get(4).map_err(|err| self.failure(&doing, &err))?;
        let version: i32 = row.try_get(6).map_err(|err| self.failure(&doing, &err))?;
        let mut door = Door { database: database.to_string(), reopened: false, limit: None, granted: false, version };
        if owned_by_superuser {
            return Ok(allowed.then_some(door));
        }
        door.reopened = !allowed;
        door.limit = (!superuser && limit >= 0).then_some(limit);
        door.granted = !may_connect;
        if !door.changed() {
            return Ok(Some(door));
        }
        // ALTER DATABASE and GRANT on it need its owner's rights.
        self.join(client, &owner, Found { superuser, role: true, database: true, template: false })?;
        let ident = quote_ident(database);
        let mut open = Vec::new();
        if door.reopened {
            open.push(format!("ALTER DATABASE {ident} ALLOW_CONNECTIONS true"));
        }
        if door.limit.is_some() {
            open.push(format!("ALTER DATABASE {ident} CONNECTION LIMIT -1"));
        }
        if door.granted {
            open.push(format!("GRANT CONNECT ON DATABASE {ident} TO CURRENT_USER"));
        }
        let doing = format!("can't let the admin user into database {database}");
        match self.run_door(client, &doing, &open.join("; "))? {
            true => Ok(Some(door)),
            false => Ok(None),
        }
    }

    /// Puts back what `open_door` changed.
    fn close_door(&self, client: &mut Client, door: &Door) -> Result<(), ProviderError> {
        if !door.changed() {
            return Ok(());
        }
        let ident = quote_ident(&door.database);
        let mut close = Vec::new();
        if door.granted {
            close.push(format!("REVOKE CONNECT ON DATABASE {ident} FROM CURRENT_USER"));
        }
        if let Some(limit) = door.limit {
            close.push(format!("ALTER DATABASE {ident} CONNECTION LIMIT {limit}"));
        }
        if door.reopened {
            close.push(format!("ALTER DATABASE {ident} ALLOW_CONNECTIONS false"));
        }
        let doing = format!("can't put back how database {} refuses connections", door.database);
        self.run_door(client, &doing, &close.join("; ")).map(drop)
    }

    /// Runs statements on a database's entry in one transaction, ending any tenant session
    /// that holds them up (an owner's open `ALTER DATABASE`); `false` when it is gone.
    fn run_door(&self, client: &mut Client, doing: &str, sql: &str) -> Result<bool, ProviderError> {
        let mut watcher = self.admin()?;
        self.run_unblocked(client, &mut watcher, doing, sql, &[SqlState::UNDEFINED_DATABASE])
    }

    /// An admin session in `database`, immune to what its owner set there; `None` when
    /// that database is gone or going.
    pub(super) fn admin_in(&self, database: &str, version: i32) -> Result<Option<Client>, ProviderError> {
        let mut config = self.admin_config(version)?;
        config.dbname(database);
        let doing = format!("can't connect to database {database} as the admin user");
        let mut client = match self.connect(config, &doing)? {
            Ok(client) => client,
            Err(err) if is_going(&err) => return Ok(None),
            Err(err) => return Err(self.failure(&doing, &err)),
        };
        client
            .batch_execute(FORGET_DATABASE_SETTINGS)
            .map_err(|err| self.failure(&format!("can't set aside the settings of database {database}"), &err))?;
        Ok(Some(client))
    }

    /// The admin connection settings for a server of `version` (0: not known yet): the
    /// URL's, with the pinned settings as startup options.
    pub(super) fn admin_config(&self, version: i32) -> Result<Config, ProviderError> {
        let mut config = self.config()?;
        let options = admin_options(config.get_options(), version);
        config.options(&options);
        Ok(config)
    }
}

/// Whether a login failed because its database was dropped, or is being dropped (or was
/// closed again since the door was opened: the next try opens it again).
fn is_going(err: &postgres::Error) -> bool {
    [SqlState::UNDEFINED_DATABASE, SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE]
        .iter()
        .any(|code| err.code() == Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_pin_what_the_server_knows_after_what_the_url_gives() {
        let old = admin_options(Some("-c work_mem=8MB"), 130_000);
        assert!(old.starts_with("-c work_mem=8MB -c search_path=pg_catalog,pg_temp -c role=none "), "{old}");
        assert!(old.ends_with(" -c local_preload_libraries="), "{old}");
        assert!(!old.contains("idle_session_timeout"), "{old}");
        let new = admin_options(None, 170_000);
        assert!(new.contains(" -c idle_session_timeout=0 -c transaction_timeout=0 "), "{new}");
        assert!(new.contains(" -c default_transaction_isolation=read\\ committed "), "{new}");
    }
}
