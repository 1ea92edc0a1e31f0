//! Backups of a mysql addon: `mariadb-dump` of its database as the admin (one consistent
//! snapshot of its InnoDB tables, routines, triggers and events), and the restore into a
//! fresh database swapped in at the end. MySQL commits every DDL statement on its own,
//! so no restore is one transaction there: the backup is replayed into
//! `<database>_restore`, and only once it is whole are the tables moved, all of them in
//! one `RENAME TABLE` (which the server makes atomic): the addon's tables out to
//! `<database>_old`, the backup's in. A restore that fails or is killed before that
//! statement leaves the old data in place; the next worker drops what a dead one left.
//! The swap moves tables (and sequences) only: a backup or database holding views,
//! routines, triggers or events is refused before the swap, with nothing changed.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{ident, percent_decoded, Admin, Mysql};
use crate::addon::Resource;
use crate::credential::Credential;
use crate::providers::{resource_name, Backer, ProviderError};

/// What a database may hold besides tables, which one `RENAME TABLE` can't move.
const NOT_TABLES: &str = "SELECT (SELECT count(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?) \
     + (SELECT count(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?) \
     + (SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?) \
     + (SELECT count(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)";

/// The first of `names` on PATH (MariaDB's tools, else MySQL's of the same use).
fn tool_named(names: &[&'static str]) -> &'static str {
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    names.iter().copied().find(|name| on_path(name)).unwrap_or(names[0])
}

impl Mysql {
    /// A client tool logged in as the admin: its password in its environment, never on
    /// its command line.
    fn tool(&self, names: &[&'static str]) -> Result<Command, ProviderError> {
        let url = &self.server.url;
        let mut command = Command::new(tool_named(names));
        command.arg("--no-defaults").arg(format!("--user={}", percent_decoded(url.username())));
        match &self.server.socket {
            Some(socket) => command.arg(format!("--socket={}", socket.display())),
            None => command.args([
                format!("--host={}", self.server.host()?),
                format!("--port={}", self.server.port()),
                "--protocol=TCP".to_string(),
            ]),
        };
        command.env_remove("MYSQL_HOST").env_remove("MYSQL_TCP_PORT").env_remove("MYSQL_UNIX_PORT");
        command.env("MYSQL_PWD", percent_decoded(url.password().unwrap_or("")));
        Ok(command)
    }

    /// How many views, routines, triggers and events database `name` holds.
    fn not_tables(&self, admin: &mut Admin<'_>, name: &str) -> Result<u64, ProviderError> {
        let count: Vec<u64> = admin.column(NOT_TABLES, (name, name, name, name), "looking at what a database holds")?;
        Ok(count.first().copied().unwrap_or(0))
    }

    /// The tables (and sequences) of database `name`.
    fn tables_of(&self, admin: &mut Admin<'_>, name: &str) -> Result<Vec<String>, ProviderError> {
        admin.column(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME",
            (name,),
            "listing the tables",
        )
    }
}

impl Backer for Mysql {
    fn backup_suffix(&self) -> &'static str {
        "sql"
    }

    fn backup(&self, addon: Resource<'_>, file: &Path) -> Result<String, ProviderError> {
        let name = resource_name(&addon)?;
        let out =
            std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().write(true).create_new(true), 0o600)
                .open(file)
                .map_err(|err| self.permanent(&format!("can't create {}: {err}", file.display())))?;
        let mut dump = self.tool(&["mariadb-dump", "mysqldump"])?;
        dump.args([
            "--single-transaction",
            "--skip-lock-tables",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--no-create-db",
            "--skip-comments",
        ])
        .arg(&name)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::piped());
        let running = crate::providers::server::dies_with_worker(&mut dump)
            .spawn()
            .map_err(|err| self.permanent(&format!("can't run mariadb-dump: {err}")))?;
        crate::failpoint!("backup-started");
        let output = running.wait_with_output().map_err(|err| self.permanent(&format!("mariadb-dump: {err}")))?;
        if !output.status.success() {
            let errors = String::from_utf8_lossy(&output.stderr);
            let last = errors.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("").to_string();
            return Err(ProviderError::Transient(format!("mariadb-dump of {name} failed: {last}")));
        }
        Ok(format!("dumped database {name} with mariadb-dump"))
    }

    fn restore(&self, addon: Resource<'_>, _login: Credential, file: &Path) -> Result<String, ProviderError> {
        let name = resource_name(&addon)?;
        let (fresh, old) = (format!("{name}_restore"), format!("{name}_old"));
        let mut admin = self.admin_waiting(None)?;
        let doing = format!("restoring database {name}");
        // What a dead worker left goes first: the swap had not happened, or was whole.
        admin.run(&format!("DROP DATABASE IF EXISTS {}", ident(&fresh)), &doing)?;
        admin.run(&format!("DROP DATABASE IF EXISTS {}", ident(&old)), &doing)?;
        if self.not_tables(&mut admin, &name)? > 0 {
            return Err(self.permanent(&format!(
                "database {name} holds views, routines, triggers or events, which a restore can't swap out at once; \
                 nothing was changed"
            )));
        }
        let charset: Vec<(String, String)> = admin.rows(
            "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA \
             WHERE SCHEMA_NAME = ?",
            (&name,),
            "reading the database's character set",
        )?;
        let Some((charset, collation)) = charset.into_iter().next() else {
            return Err(self.permanent(&format!("database {name} is gone; there is nothing to restore into")));
        };
        admin.run(&format!("CREATE DATABASE {} CHARACTER SET {charset} COLLATE {collation}", ident(&fresh)), &doing)?;
        let input = std::fs::File::open(file)
            .map_err(|err| self.permanent(&format!("can't read the backup {}: {err}", file.display())))?;
        let mut replay = self.tool(&["mariadb", "mysql"])?;
        replay.args(["--binary-mode", "--batch"]).arg(format!("--database={fresh}"));
        replay.stdin(input).stdout(Stdio::null()).stderr(Stdio::piped());
        let running = crate::providers::server::dies_with_worker(&mut replay)
            .spawn()
            .map_err(|err| self.permanent(&format!("can't run mariadb: {err}")))?;
        crate::failpoint!("restore-started");
        let output = running.wait_with_output().map_err(|err| self.permanent(&format!("mariadb: {err}")))?;
        let drop_fresh =
            |admin: &mut Admin<'_>| admin.run(&format!("DROP DATABASE IF EXISTS {}", ident(&fresh)), &doing);
        if !output.status.success() {
            let errors = String::from_utf8_lossy(&output.stderr);
            let last = errors.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("").to_string();
            drop_fresh(&mut admin)?;
            return Err(ProviderError::Transient(format!("the replay of the backup failed: {last}")));
        }
        if self.not_tables(&mut admin, &fresh)? > 0 {
            drop_fresh(&mut admin)?;
            return Err(self.permanent(
                "the backup holds views, routines, triggers or events, which a restore can't swap in at once; \
                 nothing was changed",
            ));
        }
        let (now, restored) = (self.tables_of(&mut admin, &name)?, self.tables_of(&mut admin, &fresh)?);
        admin.run(&format!("CREATE DATABASE {}", ident(&old)), &doing)?;
        let moves: Vec<String> = now
            .iter()
            .map(|table| format!("{}.{} TO {}.{}", ident(&name), ident(table), ident(&old), ident(table)))
            .chain(
                restored
                    .iter()
                    .map(|table| format!("{}.{} TO {}.{}", ident(&fresh), ident(table), ident(&name), ident(table))),
            )
            .collect();
        crate::failpoint!("restore-before-commit");
        if !moves.is_empty() {
            admin.run(&format!("RENAME TABLE {}", moves.join(", ")), &doing)?;
        }
        drop_fresh(&mut admin)?;
        admin.run(&format!("DROP DATABASE IF EXISTS {}", ident(&old)), &doing)?;
        Ok(format!(
            "restored database {name}: {} swapped in at once",
            crate::names::plural(restored.len() as u64, "table")
        ))
    }
}
