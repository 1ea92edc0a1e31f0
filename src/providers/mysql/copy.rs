//! `provision --from` on MySQL/MariaDB: a new database holding a copy of every table (its
//! definition as `SHOW CREATE TABLE` gives it, then its rows), view and routine of the
//! source's, views and routines defined by the new user. The copier holds the named lock
//! `addons-copy-<id>` (the sign a copy is at work). The new user is made locked
//! (`ACCOUNT LOCK`), and unlocking it comes last: the sign the copy is done, which only
//! the admin can give.

use mysql::prelude::Queryable;

use super::{account, credentials, ident, Admin, Login, Mysql};
use crate::addon::Resource;
use crate::providers::{resource_name, CopyStatus, ProviderError};

/// The named lock a copier holds.
fn lock_name(name: &str) -> String {
    format!("addons-copy-{}", name.trim_start_matches("addons_"))
}

impl Mysql {
    /// Done when the user holds its grant on the database; running while a session holds
    /// the copier's lock.
    pub(super) fn copy_status_of(&self, addon: Resource<'_>) -> Result<CopyStatus, ProviderError> {
        let name = resource_name(&addon)?;
        let mut admin = self.admin()?;
        let database: Vec<String> = admin.column(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (&name,),
            "looking up the copy",
        )?;
        if !database.is_empty() && !locked(&mut admin, &name)? {
            return Ok(CopyStatus::Done);
        }
        let holder: Vec<Option<u64>> =
            admin.column("SELECT IS_USED_LOCK(?)", (lock_name(&name),), "looking for the copier")?;
        Ok(match holder.first() {
            Some(Some(_)) => CopyStatus::Running,
            _ => CopyStatus::Stopped,
        })
    }

    /// Ends the session of a copier still at work on `name`.
    pub(super) fn end_copier(&self, admin: &mut Admin<'_>, name: &str) -> Result<(), ProviderError> {
        let holder: Vec<Option<u64>> =
            admin.column("SELECT IS_USED_LOCK(?)", (lock_name(name),), "looking for the copier")?;
        if let Some(Some(id)) = holder.first() {
            // It may have ended meanwhile.
            let _ = admin.conn.query_drop(format!("KILL CONNECTION {id}"));
        }
        Ok(())
    }

    pub(super) fn copy_into(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
        let (name, from) = (resource_name(&addon)?, resource_name(&source)?);
        let mut admin = self.admin_waiting(None)?;
        let locked: Vec<Option<i64>> =
            admin.column("SELECT GET_LOCK(?, 0)", (lock_name(&name),), "taking the copier's lock")?;
        if locked.first() != Some(&Some(1)) {
            return Ok(format!("another copier is at work on {name}"));
        }
        if self.copy_status_of(addon)? == CopyStatus::Done {
            return Ok(format!("{name} is already a copy of {from}"));
        }
        let exists: Vec<String> = admin.column(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (&from,),
            "looking up the source database",
        )?;
        let Some(_) = exists.first() else {
            return Err(self.permanent(&format!("the source database {from} is gone")));
        };
        let target = ident(&name);
        admin.run("SET SESSION foreign_key_checks = 0", "turning off foreign key checks")?;
        // Reads of the source take no row locks: another session's open transaction on it
        // neither blocks the copy nor is blocked by it (each table is copied as committed).
        admin.run("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", "setting the isolation level")?;
        admin.run(&format!("DROP DATABASE IF EXISTS {target}"), &format!("dropping the partial copy {name}"))?;
        let create = format!("CREATE DATABASE {target} CHARACTER SET utf8mb4");
        admin.run(&create, &format!("creating database {name}"))?;
        let hosts = self.account_hosts(&mut admin)?;
        // Views and routines are checked against their definer's rights as they are made.
        credentials::grant_database(&mut admin, &hosts, &name, &name)?;
        admin.run(&format!("USE {target}"), &format!("using database {name}"))?;
        let tables = self.copy_tables(&mut admin, &from, &name)?;
        crate::failpoint!("copy-started");
        let definer = account(&name, "%");
        let views = self.copy_views(&mut admin, &from, &name, &definer)?;
        let routines = self.copy_routines(&mut admin, &from, &name, &definer)?;
        let source_left: Vec<String> = admin.column(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (&from,),
            "looking up the source database",
        )?;
        if source_left.is_empty() {
            return Err(self.permanent(&format!("the source database {from} was dropped during the copy")));
        }
        crate::failpoint!("after-copy-before-mark");
        // '%' last: its account is the one the copy's status looks at.
        let mut accounts: Vec<&String> = hosts.iter().filter(|host| *host != "%").collect();
        accounts.push(&hosts[0]);
        for host in accounts {
            let unlock = format!("ALTER USER {} ACCOUNT UNLOCK", account(&name, host));
            admin.run(&unlock, &format!("letting user {name} log in"))?;
        }
        Ok(format!(
            "copied database {from} into {name}: {}, {}, {}",
            crate::output::plural(tables, "table"),
            crate::output::plural(views, "view"),
            crate::output::plural(routines, "routine")
        ))
    }

    /// Each base table: its definition, then its rows (generated columns are left to the server).
    fn copy_tables(&self, admin: &mut Admin<'_>, from: &str, name: &str) -> Result<u64, ProviderError> {
        let tables: Vec<String> = admin.column(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_type = 'BASE TABLE' \
             ORDER BY table_name",
            (from,),
            "listing the source's tables",
        )?;
        for table in &tables {
            let doing = format!("reading the definition of table {from}.{table}");
            let row: Option<(String, String)> = admin
                .conn
                .query_first(format!("SHOW CREATE TABLE {}.{}", ident(from), ident(table)))
                .map_err(|err| self.fail(&doing, &err, Login::Admin))?;
            let Some((_, definition)) = row else { continue };
            admin.run(&definition, &format!("creating table {name}.{table}"))?;
            let columns: Vec<String> = admin.column(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? \
                 AND extra NOT LIKE '%GENERATED%' ORDER BY ordinal_position",
                (from, table),
                "listing the table's columns",
            )?;
            let columns: Vec<String> = columns.iter().map(|column| ident(column)).collect();
            let copy = format!(
                "INSERT INTO {}.{} ({cols}) SELECT {cols} FROM {}.{}",
                ident(name),
                ident(table),
                ident(from),
                ident(table),
                cols = columns.join(", ")
            );
            admin.run(&copy, &format!("copying the rows of table {from}.{table}"))?;
        }
        Ok(tables.len() as u64)
    }

    /// Each view, defined by the new user over the new database; a view on a view not yet
    /// made waits for the next round.
    fn copy_views(&self, admin: &mut Admin<'_>, from: &str, name: &str, definer: &str) -> Result<u64, ProviderError> {
        let rows: Vec<mysql::Row> = admin
            .conn
            .exec(
                "SELECT table_name, view_definition, security_type, check_option FROM information_schema.views \
                 WHERE table_schema = ? ORDER BY table_name",
                (from,),
            )
            .map_err(|err| self.fail("listing the source's views", &err, Login::Admin))?;
        let mut left: Vec<(String, String)> = rows
            .into_iter()
            .filter_map(|row| {
                let (view, body, security, check): (String, String, String, String) = mysql::from_row_opt(row).ok()?;
                let body = body.replace(&format!("{}.", ident(from)), &format!("{}.", ident(name)));
                let check = match check.as_str() {
                    "NONE" => String::new(),
                    other => format!(" WITH {other} CHECK OPTION"),
                };
                let sql = format!(
                    "CREATE DEFINER = {definer} SQL SECURITY {security} VIEW {}.{} AS {body}{check}",
                    ident(name),
                    ident(&view)
                );
                Some((view, sql))
            })
            .collect();
        let total = left.len() as u64;
        while !left.is_empty() {
            let before = left.len();
            let mut failed = None;
            left.retain(|(view, sql)| match admin.conn.query_drop(sql) {
                Ok(()) => false,
                Err(err) => {
                    failed = Some(self.fail(&format!("creating view {name}.{view}"), &err, Login::Admin));
                    true
                }
            });
            if left.len() == before {
                return Err(failed.unwrap_or_else(|| self.permanent("a view could not be copied")));
            }
        }
        Ok(total)
    }

    /// Each procedure and function, as `SHOW CREATE` gives it, defined by the new user.
    fn copy_routines(
        &self,
        admin: &mut Admin<'_>,
        from: &str,
        name: &str,
        definer: &str,
    ) -> Result<u64, ProviderError> {
        let rows: Vec<mysql::Row> = admin
            .conn
            .exec(
                "SELECT routine_name, routine_type FROM information_schema.routines WHERE routine_schema = ?",
                (from,),
            )
            .map_err(|err| self.fail("listing the source's routines", &err, Login::Admin))?;
        let routines: Vec<(String, String)> =
            rows.into_iter().filter_map(|row| mysql::from_row_opt(row).ok()).collect();
        for (routine, kind) in &routines {
            let doing = format!("reading the definition of {} {from}.{routine}", kind.to_lowercase());
            let row: Option<mysql::Row> = admin
                .conn
                .query_first(format!("SHOW CREATE {kind} {}.{}", ident(from), ident(routine)))
                .map_err(|err| self.fail(&doing, &err, Login::Admin))?;
            let definition: Option<String> = row.and_then(|row| row.get_opt(2)?.ok());
            let Some(definition) = definition else {
                return Err(self.permanent(&format!("{doing}: the server did not show it")));
            };
            let definition =
                with_definer(&definition, definer).replace(&format!("{}.", ident(from)), &format!("{}.", ident(name)));
            admin.run(&definition, &format!("creating {} {name}.{routine}", kind.to_lowercase()))?;
        }
        Ok(routines.len() as u64)
    }
}

/// Whether user `name`@`%` is locked (or missing): `SHOW CREATE USER` says so on MySQL and MariaDB.
fn locked(admin: &mut Admin<'_>, name: &str) -> Result<bool, ProviderError> {
    let shown: Result<Option<String>, _> = admin.conn.query_first(format!("SHOW CREATE USER {}", account(name, "%")));
    match shown {
        Ok(Some(text)) => Ok(text.contains("ACCOUNT LOCK")),
        Ok(None) => Ok(true),
        // No such user (1396 and kin): not a finished copy.
        Err(mysql::Error::MySqlError(_)) => Ok(true),
        Err(err) => Err(admin.provider.fail("looking up the copy's user", &err, Login::Admin)),
    }
}

/// A `CREATE ... DEFINER=`user`@`host` ...` statement with another definer.
fn with_definer(statement: &str, definer: &str) -> String {
    let Some(start) = statement.find("DEFINER=") else { return statement.to_string() };
    let rest = &statement[start + "DEFINER=".len()..];
    // `user`@`host`: two quoted names and the @ between them.
    let mut quotes = 0;
    let end = rest
        .char_indices()
        .find(|(_, c)| {
            if *c == '`' {
                quotes += 1;
            }
            quotes == 4
        })
        .map_or(rest.len(), |(i, _)| i + 1);
    format!("{}DEFINER={definer}{}", &statement[..start], &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definer_is_replaced() {
        let statement = "CREATE DEFINER=`addons_aa`@`%` FUNCTION `f`() RETURNS int(11)\nRETURN 42";
        assert_eq!(
            with_definer(statement, "`addons_bb`@`%`"),
            "CREATE DEFINER=`addons_bb`@`%` FUNCTION `f`() RETURNS int(11)\nRETURN 42"
        );
    }
}
