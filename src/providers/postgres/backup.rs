//! Backups of a postgres addon: `pg_dump -Fc` of its database as the admin (through the
//! door, as a copy's dump), and the restore as one transaction in one session logged in
//! as the addon's own app: everything the owner has is dropped and the backup's objects
//! made again, then committed only once the whole backup went in. The commit is sent by
//! the worker itself, last, so a worker that dies leaves psql without it: the server
//! rolls the restore back and the data is as it was. The tools die with the worker.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};

use super::copy::{on_path, tool, Variables};
use super::roles::role_of;
use super::{Postgres, ProviderError, Sort};
use crate::addon::Resource;
use crate::credential::Credential;
use crate::providers::server::dies_with_worker;
use crate::providers::Backer;

/// The tools a backup and a restore need on PATH.
const TOOLS: [&str; 3] = ["pg_dump", "pg_restore", "psql"];

impl Postgres {
    /// The application name of a backup worker's sessions.
    fn worker_name(name: &str) -> String {
        format!("addons-backup-{}", name.trim_start_matches("addons_"))
    }

    /// Refuses a backup or restore when a tool is missing.
    fn tools_at_hand(&self) -> Result<(), ProviderError> {
        let missing: Vec<&str> = TOOLS.into_iter().filter(|tool| !on_path(tool)).collect();
        match missing.is_empty() {
            true => Ok(()),
            false => Err(self.permanent(&format!(
                "{} not on PATH; backups need them: install the PostgreSQL client tools",
                missing.join(" and ")
            ))),
        }
    }

    /// `pg_dump -Fc` of database `name` into `file`, as the admin.
    fn dump_into(&self, name: &str, file: &Path, version: i32) -> Result<(), ProviderError> {
        let admin = self.admin_environment(&Self::worker_name(name), version)?;
        // Made here, so pg_dump writes into a file only its owner reads.
        std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().write(true).create_new(true), 0o600)
            .open(file)
            .map_err(|err| self.permanent(&format!("can't create {}: {err}", file.display())))?;
        let mut dump = tool("pg_dump", &admin);
        dump.args(["--format=custom", "--no-owner", "--no-acl", "--dbname", name, "--file"]).arg(file);
        let running = dies_with_worker(&mut dump)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| self.permanent(&format!("can't run pg_dump: {err}")))?;
        crate::failpoint!("backup-started");
        let output = running.wait_with_output().map_err(|err| self.permanent(&format!("can't run pg_dump: {err}")))?;
        if !output.status.success() {
            let errors = String::from_utf8_lossy(&output.stderr);
            return Err(self.server.error(Sort::Transient, "pg_dump failed", last_line(&errors), ""));
        }
        Ok(())
    }

    /// The backup's script (pg_restore's) into psql, inside one transaction that first
    /// drops all the owner has; committed last, by this process.
    fn replay(&self, file: &Path, name: &str, login: &Variables) -> Result<(), ProviderError> {
        let failed = |tool: &str, err: std::io::Error| self.permanent(&format!("can't run {tool}: {err}"));
        let mut script = dies_with_worker(&mut tool("pg_restore", &Vec::new()))
            .args(["--no-owner", "--no-acl", "--file=-"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| failed("pg_restore", err))?;
        let mut psql = dies_with_worker(&mut tool("psql", login))
            .args(["--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--dbname", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| failed("psql", err))?;
        let fed = feed(&mut script, &mut psql);
        let script_errors = read_all(script.stderr.take());
        let scripted = script.wait().map_err(|err| failed("pg_restore", err))?;
        let mut input = psql.stdin.take().expect("piped");
        let committed = match (fed, scripted.success()) {
            (Ok(()), true) => {
                crate::failpoint!("restore-before-commit");
                input.write_all(b"COMMIT;\n").and_then(|()| input.flush())
            }
            _ => Ok(()),
        };
        // Without a COMMIT, psql's end rolls the transaction back.
        drop(input);
        let psql_errors = read_all(psql.stderr.take());
        let replayed = psql.wait().map_err(|err| failed("psql", err))?;
        // psql stopping at an error closes the pipe under pg_restore: its error is the cause.
        if !replayed.success() || committed.is_err() {
            return Err(self.server.error(Sort::Transient, "the restore failed", last_line(&psql_errors), ""));
        }
        if !scripted.success() {
            return Err(self.permanent(&format!("pg_restore can't read the backup: {}", last_line(&script_errors))));
        }
        Ok(())
    }
}

impl Backer for Postgres {
    fn backup_suffix(&self) -> &'static str {
        "pgdump"
    }

    /// The dump through the door the owner may have closed, as the admin (joined to the
    /// owner when not a superuser, so every table is readable).
    fn backup(&self, addon: Resource<'_>, file: &Path) -> Result<String, ProviderError> {
        self.tools_at_hand()?;
        let name = self.name(addon)?;
        let (mut client, found) = self.opened(&name)?;
        if !found.database {
            return Err(self.permanent(&format!("database {name} is gone; there is nothing to back up")));
        }
        self.join(&mut client, &name, found)?;
        let dumped = self.through_door(&mut client, &name, |version| self.dump_into(&name, file, version))?;
        match dumped {
            Some(()) => Ok(format!("dumped database {name} with pg_dump -Fc")),
            None => Err(self.permanent(&format!("database {name} is gone; there is nothing to back up"))),
        }
    }

    /// Logged in as `login` of the addon's own app (the generation its vars hold), so
    /// the code the backup holds runs with the owner's rights alone, and no admin
    /// credential reaches the tools.
    fn restore(&self, addon: Resource<'_>, credential: Credential, file: &Path) -> Result<String, ProviderError> {
        self.tools_at_hand()?;
        let name = self.name(addon)?;
        let (mut client, found) = self.opened(&name)?;
        if !found.database {
            return Err(self.permanent(&format!("database {name} is gone; there is nothing to restore into")));
        }
        let owner_logs_in = self.owner_logs_in(&mut client, &name)?;
        let role = role_of(addon, credential, &name, owner_logs_in)?;
        let mut login = self.place_environment(&Self::worker_name(&name))?;
        login.extend([("PGUSER", role), ("PGPASSWORD", credential.password(&addon))]);
        self.replay(file, &name, &login)?;
        Ok(format!("restored database {name} in one transaction"))
    }
}

/// Copies pg_restore's script into psql, after the start of the transaction. A write
/// psql refused (it stopped at an error) ends the feed; its own error says why.
fn feed(script: &mut Child, psql: &mut Child) -> std::io::Result<()> {
    let input = psql.stdin.as_mut().expect("piped");
    input.write_all(b"BEGIN;\nSET LOCAL statement_timeout = 0;\nDROP OWNED BY CURRENT_USER;\n")?;
    let mut output = script.stdout.take().expect("piped");
    let mut buffer = vec![0u8; 1 << 16];
    let mut first = true;
    loop {
        let read = output.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        input.write_all(&buffer[..read])?;
        if std::mem::take(&mut first) {
            crate::failpoint!("restore-started");
        }
    }
}

/// Everything a tool wrote to a pipe.
fn read_all(pipe: Option<impl Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_string(&mut text);
    }
    text
}

/// The last line a tool wrote that says something.
fn last_line(text: &str) -> &str {
    text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("")
}
