//! `provision --from` on MySQL/MariaDB: a new database holding a copy of everything in the
//! source's: sequences (where they stand), tables (the definition `SHOW CREATE TABLE` gives,
//! then the rows), routines, views, triggers and events, these defined by the new user.
//! Every name qualified by the source's database is qualified by the copy's instead (a
//! default's `nextval`, a view's tables, a routine's statements). What can't be copied so
//! (a system-versioned table's history, a text that names the source another way) is
//! refused, each named, before anything is made. The copier holds the named lock
//! `addons-copy-<id>` (the sign a copy is at work). The new user is made locked
//! (`ACCOUNT LOCK`), and unlocking it comes last: the sign the copy is done, which only
//! the admin can give.

use mysql::prelude::Queryable;

use super::names::{requalified, Lexing};
use super::objects::{self, Kind, Stored};
use super::{account, credentials, ident, Admin, Login, Mysql};
use crate::addon::Resource;
use crate::providers::{resource_name, Copier, CopyProgress, CopyStatus, CopyUnit, ProviderError};

/// The named lock a copier holds.
fn lock_name(name: &str) -> String {
    format!("addons-copy-{}", name.trim_start_matches("addons_"))
}

impl Mysql {
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

    /// Reads from database `from` every statement a copy into `to` makes, objects defined
    /// by `definer`; refuses, naming each, what it would have to leave out or leave
    /// pointing at `from`. Sets the session up for the copy: `SHOW CREATE` writes names in
    /// backquotes, and a copied 0 in an `AUTO_INCREMENT` column stays 0.
    fn plan(&self, admin: &mut Admin<'_>, from: &str, to: &str, definer: &str) -> Result<Plan, ProviderError> {
        let setup = "SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', sql_quote_show_create = 1";
        admin.run(setup, "setting the session up for the copy")?;
        let listed: Vec<(String, String)> = admin.rows(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name",
            (from,),
            "listing the source's tables",
        )?;
        let mut plan = Plan { sequences: Vec::new(), tables: Vec::new(), objects: Vec::new() };
        let mut refused = Vec::new();
        for (table, kind) in listed {
            let shown = match kind.as_str() {
                "BASE TABLE" => self.shown_table(admin, "TABLE", from, &table)?,
                "SEQUENCE" => self.shown_table(admin, "SEQUENCE", from, &table)?,
                "VIEW" => continue,
                "SYSTEM VERSIONED" => {
                    refused.push(format!("table {from}.{table} is system-versioned, and its history can't be copied"));
                    continue;
                }
                other => {
                    refused
                        .push(format!("{from}.{table} is a {} table, which a copy can't make", other.to_lowercase()));
                    continue;
                }
            };
            let Some(statement) = requalified(&shown, from, to, Lexing::of("")) else {
                refused.push(format!("table {from}.{table} names database {from} other than as a qualifier"));
                continue;
            };
            match kind.as_str() {
                "SEQUENCE" => plan.sequences.push((table, statement)),
                _ => plan.tables.push((table, statement)),
            }
        }
        for object in objects::list(admin, from)? {
            match object.copied(admin, from, to, definer) {
                Ok(statement) => plan.objects.push((object, statement)),
                Err(ProviderError::Permanent(why)) => refused.push(why),
                Err(err) => return Err(err),
            }
        }
        match refused.is_empty() {
            true => Ok(plan),
            false => Err(self.permanent(&format!("can't copy all of database {from}: {}", refused.join("; ")))),
        }
    }

    /// What `SHOW CREATE TABLE` (or `SEQUENCE`) gives for `from`.`table`.
    fn shown_table(&self, admin: &mut Admin<'_>, kind: &str, from: &str, table: &str) -> Result<String, ProviderError> {
        let doing = format!("reading the definition of {} {from}.{table}", kind.to_lowercase());
        let row: Option<(String, String)> = admin
            .conn
            .query_first(format!("SHOW CREATE {kind} {}.{}", ident(from), ident(table)))
            .map_err(|err| self.fail(&doing, &err, Login::Admin))?;
        row.map(|(_, definition)| definition)
            .ok_or_else(|| self.permanent(&format!("{doing}: the server did not show it")))
    }

    /// One base table: its definition, then its rows (generated columns are left to the server).
    fn copy_table(
        &self,
        admin: &mut Admin<'_>,
        from: &str,
        name: &str,
        table: &str,
        statement: &str,
    ) -> Result<(), ProviderError> {
        objects::prepared(admin, statement, &format!("creating table {name}.{table}"))?;
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
        admin.run(&copy, &format!("copying the rows of table {from}.{table}"))
    }

    /// Makes the routines first (a view may call a function), then the views (a view on a
    /// view not yet made waits for the next round), then the triggers and events.
    fn make_objects(
        &self,
        admin: &mut Admin<'_>,
        name: &str,
        objects: &[(Stored, String)],
    ) -> Result<(), ProviderError> {
        let is_view = |object: &Stored| matches!(object.kind, Kind::View);
        let is_routine = |object: &Stored| matches!(object.kind, Kind::Routine(_));
        for (object, statement) in objects.iter().filter(|(object, _)| is_routine(object)) {
            object.make(admin, name, statement)?;
        }
        let mut left: Vec<&(Stored, String)> = objects.iter().filter(|(object, _)| is_view(object)).collect();
        while !left.is_empty() {
            let before = left.len();
            let mut failed = None;
            left.retain(|(object, statement)| match object.make(admin, name, statement) {
                Ok(()) => false,
                Err(err) => {
                    failed = Some(err);
                    true
                }
            });
            if left.len() == before {
                return Err(failed.unwrap_or_else(|| self.permanent("a view could not be copied")));
            }
        }
        for (object, statement) in objects.iter().filter(|(object, _)| !is_view(object) && !is_routine(object)) {
            object.make(admin, name, statement)?;
        }
        Ok(())
    }
}

impl Copier for Mysql {
    /// The source is there and holds nothing the copy would have to leave out.
    fn check_copy(&self, source: Resource<'_>) -> Result<(), ProviderError> {
        let name = resource_name(&source)?;
        let mut admin = self.admin()?;
        if !exists(&mut admin, &name)? {
            return Err(self.permanent(&format!("the source database {name} is gone")));
        }
        self.plan(&mut admin, &name, &name, &account(&name, "%")).map(drop)
    }

    /// Done when the user holds its grant on the database; running while a session holds
    /// the copier's lock.
    fn copy_status(&self, addon: Resource<'_>, _source: Resource<'_>) -> Result<CopyStatus, ProviderError> {
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

    /// The rows in the copy's tables out of the rows in the source's, as the server
    /// counts them (InnoDB's count moves as an `INSERT ... SELECT` goes; the sizes it
    /// reports wait for its statistics).
    fn copy_progress(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<Option<CopyProgress>, ProviderError> {
        let (name, from) = (resource_name(&addon)?, resource_name(&source)?);
        let count = "CAST(COALESCE(SUM(CASE WHEN table_schema = ? THEN table_rows END), 0) AS UNSIGNED)";
        let counted: Vec<(u64, u64)> = self.admin()?.rows(
            &format!(
                "SELECT {count}, {count} FROM information_schema.tables \
                 WHERE table_schema IN (?, ?) AND table_type = 'BASE TABLE'"
            ),
            (&name, &from, &name, &from),
            "counting the rows of the copy",
        )?;
        Ok(counted.first().map(|&(done, total)| CopyProgress { done, total, unit: CopyUnit::Rows }))
    }

    /// `copy` (run by the copier): reads what to make from the source, then makes the
    /// database, its sequences, tables and rows, and its objects, and unlocks the user last.
    fn copy(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
        let (name, from) = (resource_name(&addon)?, resource_name(&source)?);
        let mut admin = self.admin_waiting(None)?;
        let locked: Vec<Option<i64>> =
            admin.column("SELECT GET_LOCK(?, 0)", (lock_name(&name),), "taking the copier's lock")?;
        if locked.first() != Some(&Some(1)) {
            return Ok(format!("another copier is at work on {name}"));
        }
        if self.copy_status(addon, source)? == CopyStatus::Done {
            return Ok(format!("{name} is already a copy of {from}"));
        }
        if !exists(&mut admin, &from)? {
            return Err(self.permanent(&format!("the source database {from} is gone")));
        }
        let target = ident(&name);
        let definer = account(&name, "%");
        let plan = self.plan(&mut admin, &from, &name, &definer)?;
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
        for (sequence, statement) in &plan.sequences {
            objects::prepared(&mut admin, statement, &format!("creating sequence {name}.{sequence}"))?;
        }
        for (table, statement) in &plan.tables {
            self.copy_table(&mut admin, &from, &name, table, statement)?;
        }
        crate::failpoint!("copy-started");
        // Read after the rows: no value a copied row holds is drawn again.
        for (sequence, _) in &plan.sequences {
            copy_sequence_value(&mut admin, &from, &name, sequence)?;
        }
        self.make_objects(&mut admin, &name, &plan.objects)?;
        if !exists(&mut admin, &from)? {
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
        let plural = crate::names::plural;
        let count =
            |kind: fn(&Kind) -> bool| plan.objects.iter().filter(|(object, _)| kind(&object.kind)).count() as u64;
        Ok(format!(
            "copied database {from} into {name}: {}, {}, {}, {}, {}, {}",
            plural(plan.tables.len() as u64, "table"),
            plural(plan.sequences.len() as u64, "sequence"),
            plural(count(|kind| matches!(kind, Kind::View)), "view"),
            plural(count(|kind| matches!(kind, Kind::Routine(_))), "routine"),
            plural(count(|kind| matches!(kind, Kind::Trigger(_))), "trigger"),
            plural(count(|kind| matches!(kind, Kind::Event(_))), "event"),
        ))
    }
}

/// What a copy makes, in order, read from the source before anything is made.
struct Plan {
    /// Each sequence's name and `CREATE SEQUENCE`.
    sequences: Vec<(String, String)>,
    /// Each base table's name and `CREATE TABLE`.
    tables: Vec<(String, String)>,
    /// Each view, trigger, routine and event, and the statement that makes it.
    objects: Vec<(Stored, String)>,
}

/// Whether database `name` is there.
fn exists(admin: &mut Admin<'_>, name: &str) -> Result<bool, ProviderError> {
    let found: Vec<String> = admin.column(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
        (name,),
        "looking up the source database",
    )?;
    Ok(!found.is_empty())
}

/// Sets sequence `to`.`sequence` where `from`.`sequence` stands: its next value is the
/// source's next value not handed out yet (as `mariadb-dump` copies it), in the same round.
fn copy_sequence_value(admin: &mut Admin<'_>, from: &str, to: &str, sequence: &str) -> Result<(), ProviderError> {
    let doing = format!("reading where sequence {from}.{sequence} stands");
    let read = format!("SELECT next_not_cached_value, cycle_count FROM {}.{}", ident(from), ident(sequence));
    let row: Option<(i64, i64)> =
        admin.conn.query_first(read).map_err(|err| admin.provider.fail(&doing, &err, Login::Admin))?;
    let Some((next, round)) = row else {
        return Err(admin.provider.permanent(&format!("{doing}: the server did not show it")));
    };
    let set = format!("SELECT SETVAL({}.{}, {next}, 0, {round})", ident(to), ident(sequence));
    admin.run(&set, &format!("setting sequence {to}.{sequence}"))
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
