//! Removing an addon's role for good, whatever other tenants did to it: what other roles
//! granted it is taken back in every database where it holds anything (entered as
//! `entry` says, whatever its owner set there), and a tenant's session that holds a lock
//! in the way is ended instead of waited for.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::Client;

use super::{quote_ident, Postgres, ProviderError};

/// How often a statement that may be blocked is checked on.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// The databases where role `$1` owns objects or holds privileges, from `pg_shdepend`
/// (`''` for shared objects).
const DEPENDENT_DATABASES: &str = "SELECT DISTINCT coalesce(d.datname, '') \
     FROM pg_catalog.pg_shdepend s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid \
     WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass \
     AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) \
     ORDER BY 1";

/// Ends the sessions that block backend `$1` and belong to an addon's role: a tenant may
/// hold a lock on another's role (an open transaction that granted it something) or on an
/// object the role was granted, for as long as it likes. The admin user's sessions and
/// anyone else's are waited for (up to `lock_timeout`).
const END_BLOCKING_TENANTS: &str = "SELECT pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a \
     WHERE a.pid = ANY (pg_catalog.pg_blocking_pids($1)) AND a.usename LIKE 'addons\\_%' AND a.usename <> CURRENT_USER";

impl Postgres {
    /// Runs one admin statement like `run`, ending meanwhile every tenant session that blocks it.
    pub(super) fn run_unblocked(
        &self,
        client: &mut Client,
        watcher: &mut Client,
        doing: &str,
        sql: &str,
        tolerated: &[SqlState],
    ) -> Result<bool, ProviderError> {
        let pid: i32 = client
            .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
            .map_err(|err| self.failure("can't read the admin session's id", &err))?
            .get(0);
        let (done, finished) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(move || done.send(self.run(client, doing, sql, tolerated)));
            loop {
                match finished.recv_timeout(WATCH_EVERY) {
                    Ok(result) => return result,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(self.permanent(&format!("{doing}: the statement's thread ended early")))
                    }
                }
                if let Err(err) = watcher.execute(END_BLOCKING_TENANTS, &[&pid]) {
                    return Err(self.failure("can't end the sessions that block the admin session", &err));
                }
            }
        })
    }

    /// Ends the sessions of role `name` and those connected to its database.
    pub(super) fn end_sessions(&self, client: &mut Client, name: &str) -> Result<(), ProviderError> {
        client
            .execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE (datname = $1 OR usename = $1) AND pid <> pg_catalog.pg_backend_pid()",
                &[&name],
            )
            .map_err(|err| self.failure(&format!("can't end the sessions of {name}"), &err))
            .map(drop)
    }

    /// Takes back what role `name` owns or was granted (by anyone) in every database where
    /// it holds anything, then drops it. A database dropped meanwhile is skipped, and so is
    /// one a superuser owns and closed (the error then names it); one a tenant closed is
    /// opened for this and closed again.
    pub(super) fn drop_role(&self, client: &mut Client, watcher: &mut Client, name: &str) -> Result<(), ProviderError> {
        let ident = quote_ident(name);
        let drop_owned = format!("DROP OWNED BY {ident}");
        let here: String = client
            .query_one("SELECT pg_catalog.current_database()", &[])
            .map_err(|err| self.failure("can't name the admin database", &err))?
            .get(0);
        for database in self.dependent_databases(client, name)? {
            if database.is_empty() || database == here {
                continue;
            }
            let doing = format!("can't take back what role {name} holds in database {database}");
            self.inside(client, &database, |there| {
                self.run_unblocked(there, watcher, &doing, &drop_owned, &[SqlState::UNDEFINED_OBJECT])
            })?;
        }
        // Here too, which also takes back its privileges on shared objects (databases).
        let doing = format!("can't take back what role {name} holds in database {here}");
        self.run_unblocked(client, watcher, &doing, &drop_owned, &[SqlState::UNDEFINED_OBJECT])?;
        let doing = format!("can't drop role {name}");
        match self.run_unblocked(
            client,
            watcher,
            &doing,
            &format!("DROP ROLE IF EXISTS {ident}"),
            &[SqlState::DEPENDENT_OBJECTS_STILL_EXIST],
        )? {
            true => Ok(()),
            false => Err(self.still_held(client, name)),
        }
    }

    /// The error for a role that still can't be dropped: names the databases that hold it.
    fn still_held(&self, client: &mut Client, name: &str) -> ProviderError {
        let places = match self.dependent_databases(client, name) {
            Ok(places) => places,
            Err(err) => return err,
        };
        let places: Vec<String> = places
            .into_iter()
            .map(|database| match database.as_str() {
                "" => "shared objects (databases, tablespaces)".to_string(),
                _ => format!("database {database}"),
            })
            .collect();
        let places = if places.is_empty() { "a database created meanwhile".to_string() } else { places.join(", ") };
        self.permanent(&format!(
            "can't drop role {name}: it still owns objects or holds privileges in {places}; \
             run DROP OWNED BY {} there as a superuser",
            quote_ident(name)
        ))
    }

    /// Where role `name` owns objects or holds privileges: database names (empty for shared
    /// objects).
    fn dependent_databases(&self, client: &mut Client, name: &str) -> Result<Vec<String>, ProviderError> {
        let rows = client
            .query(DEPENDENT_DATABASES, &[&name])
            .map_err(|err| self.failure(&format!("can't find where role {name} holds privileges"), &err))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}
