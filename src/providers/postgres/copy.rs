//! `provision --from` on PostgreSQL: the new addon's database made a copy of another's.
//! A template copy when the source has no session (the server copies the files; the
//! source's objects are then given to the new owner), else `pg_dump | pg_restore`: the
//! dump as the admin (its session pinned as `entry` says), the restore logged in as the
//! new owner, so code in the dump runs with its rights alone. The copier's admin sessions
//! carry the application name `addons-copy-<id>` (the sign, to any host, that a copy is at
//! work), and the admin marks the new owner role with a comment once the copy is whole (the
//! sign it is done): only a role with CREATEROLE may comment on a role, so code the restore
//! runs as the new owner can't forge it.

use std::io::Read;
use std::process::{Command, Stdio};

use postgres::error::SqlState;
use postgres::Client;

use super::entry::admin_options;
use super::{quote_ident, quote_literal, Postgres, ProviderError, Sort};
use crate::addon::Resource;
use crate::providers::{Copier, CopyProgress, CopyStatus, CopyUnit};

/// The tools a dump and restore needs on PATH.
const TOOLS: [&str; 2] = ["pg_dump", "pg_restore"];

impl Postgres {
    /// The application name of a copier's sessions.
    fn copier_name(target: &str) -> String {
        format!("addons-copy-{}", target.trim_start_matches("addons_"))
    }

    /// The comment the admin sets on the owner role of a finished copy.
    fn copy_mark(source: &str) -> String {
        format!("addons: a copy of {source}")
    }

    /// Ends every session on database `name` but this one (a restore left by a dead copier).
    fn end_sessions_on(&self, client: &mut Client, name: &str) -> Result<(), ProviderError> {
        client
            .execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
                &[&name],
            )
            .map_err(|err| self.failure(&format!("can't end the sessions on {name}"), &err))
            .map(drop)
    }

    /// Ends the copier of addon `name`: its admin sessions and the dump and restore it runs.
    pub(super) fn end_copier(&self, client: &mut Client, name: &str) -> Result<(), ProviderError> {
        client
            .execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE application_name = $1 AND usename = CURRENT_USER AND pid <> pg_catalog.pg_backend_pid()",
                &[&Self::copier_name(name)],
            )
            .map_err(|err| self.failure(&format!("can't end the copier of {name}"), &err))
            .map(drop)
    }

    /// After a template copy, every object in the copy belongs to the source's roles: give
    /// it all to the new owner. `REASSIGN OWNED` also hands over the source's database
    /// (a shared object), so it is given back in the same transaction.
    fn give_objects(
        &self,
        admin: &mut Client,
        source: Resource<'_>,
        source_name: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        let mut roles = self.credential_roles(admin, &source, source_name)?;
        roles.push(source_name.to_string());
        let old: Vec<String> = roles.iter().map(|role| quote_ident(role)).collect();
        let give = format!(
            "BEGIN; SET LOCAL statement_timeout = 0; REASSIGN OWNED BY {} TO {}; ALTER DATABASE {} OWNER TO {}; COMMIT",
            old.join(", "),
            quote_ident(name),
            quote_ident(source_name),
            quote_ident(source_name)
        );
        let doing = format!("can't give the objects of the copy to {name}");
        let given = self.inside(admin, name, |client| self.run(client, &doing, &give, &[]))?;
        match given {
            Some(_) => Ok(()),
            None => Err(self.server.error(Sort::Transient, &doing, "the copy is gone", "")),
        }
    }

    /// Who the restore logs in as: the new addon's app's login, which becomes its owner,
    /// with its own password, so the code a dump holds (a CHECK constraint, a default, a
    /// function an index calls) runs with that role's rights alone, and no admin
    /// credential reaches pg_restore.
    fn restore_login(&self, addon: Resource<'_>) -> Result<(String, String), ProviderError> {
        self.app_login(&mut self.admin()?, addon)
    }

    /// `pg_dump -Fc source | pg_restore -d target`, the dump as the admin (the pinned
    /// settings of a server of `version` in PGOPTIONS), the restore logged in as
    /// `restore_login`: objects are made by the new owner, with no owner or grants copied.
    /// Passwords go in the tools' environment, never on their command line; no PG
    /// variable of this process's own reaches them.
    fn dump_restore(&self, addon: Resource<'_>, source: &str, copier: &str, version: i32) -> Result<(), ProviderError> {
        let target = self.name(addon)?;
        let (admin, owner) = self.tool_environments(addon, copier, version)?;
        let failed = |tool: &str, err: std::io::Error| self.permanent(&format!("can't run {tool}: {err}"));
        let mut dump = tool("pg_dump", &admin)
            .args(["--format=custom", "--no-owner", "--no-acl", "--dbname", source])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| failed("pg_dump", err))?;
        let output = dump.stdout.take().expect("piped");
        let restore = tool("pg_restore", &owner)
            .args(["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--dbname", &target])
            .stdin(output)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| failed("pg_restore", err))?;
        let mut dump_errors = String::new();
        if let Some(mut stderr) = dump.stderr.take() {
            let _ = stderr.read_to_string(&mut dump_errors);
        }
        let restored = restore.wait_with_output().map_err(|err| failed("pg_restore", err))?;
        let dumped = dump.wait().map_err(|err| failed("pg_dump", err))?;
        let last = |text: &str| text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("").to_string();
        if !restored.status.success() {
            let errors = String::from_utf8_lossy(&restored.stderr);
            return Err(self.server.error(Sort::Permanent, "pg_restore failed", &last(&errors), ""));
        }
        if !dumped.success() {
            return Err(self.server.error(Sort::Permanent, "pg_dump failed", &last(&dump_errors), ""));
        }
        Ok(())
    }

    /// The environments of pg_dump (the admin, with the pinned settings) and of pg_restore
    /// (`restore_login`), on the admin URL's host and port.
    fn tool_environments(
        &self,
        addon: Resource<'_>,
        copier: &str,
        version: i32,
    ) -> Result<(Variables, Variables), ProviderError> {
        let admin = self.admin_environment(copier, version)?;
        let (user, password) = self.restore_login(addon)?;
        let mut owner = self.place_environment(copier)?;
        owner.extend([("PGUSER", user), ("PGPASSWORD", password)]);
        Ok((admin, owner))
    }

    /// The environment of a client tool on the admin URL's host and port, its sessions
    /// named `app_name`: the login is the caller's to add.
    pub(super) fn place_environment(&self, app_name: &str) -> Result<Variables, ProviderError> {
        let config = self.config()?;
        // libpq takes whole seconds, and 2 at the least.
        let timeout = self.login_timeout(&config);
        let timeout = (timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0)).max(2);
        let mut place: Variables =
            vec![("PGAPPNAME", app_name.to_string()), ("PGCONNECT_TIMEOUT", timeout.to_string())];
        match config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(host)) => place.push(("PGHOST", host.clone())),
            Some(postgres::config::Host::Unix(path)) => place.push(("PGHOST", path.display().to_string())),
            None => {}
        }
        if let Some(port) = config.get_ports().first() {
            place.push(("PGPORT", port.to_string()));
        }
        Ok(place)
    }

    /// The environment of a client tool logged in as the admin, with the pinned settings
    /// of a server of `version`.
    pub(super) fn admin_environment(&self, app_name: &str, version: i32) -> Result<Variables, ProviderError> {
        let config = self.config()?;
        let mut admin = self.place_environment(app_name)?;
        if let Some(user) = config.get_user() {
            admin.push(("PGUSER", user.to_string()));
        }
        if let Some(password) = config.get_password() {
            admin.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
        }
        admin.push(("PGOPTIONS", admin_options(config.get_options(), version)));
        Ok(admin)
    }
}

impl Copier for Postgres {
    /// The source database is there, and the dump tools are on PATH (the copy falls back to
    /// them when the source is in use, which can't be known in advance).
    fn check_copy(&self, source: Resource<'_>) -> Result<(), ProviderError> {
        let name = self.name(source)?;
        let found = self.lookup(&mut self.admin()?, &name)?;
        if !found.database {
            return Err(self.permanent(&format!("the source database {name} is gone")));
        }
        let missing: Vec<&str> = TOOLS.into_iter().filter(|tool| !on_path(tool)).collect();
        if !missing.is_empty() {
            return Err(self.permanent(&format!(
                "{} not on PATH; a copy of a database in use needs them: install the PostgreSQL client tools",
                missing.join(" and ")
            )));
        }
        Ok(())
    }

    /// Done when the owner role carries the admin's mark; running while a copier's admin
    /// session is open. A tenant can set neither: a comment on a role needs CREATEROLE,
    /// and sessions are told apart by their user, the admin.
    fn copy_status(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<CopyStatus, ProviderError> {
        let (name, source) = (self.name(addon)?, self.name(source)?);
        let row = self
            .admin()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r JOIN pg_catalog.pg_shdescription s \
                   ON s.objoid = r.oid AND s.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass \
                   WHERE r.rolname = $1 AND s.description = $2) \
                 AND EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1), \
                 EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity \
                   WHERE application_name = $3 AND usename = CURRENT_USER)",
                &[&name, &Self::copy_mark(&source), &Self::copier_name(&name)],
            )
            .map_err(|err| self.failure("can't look up the copy", &err))?;
        Ok(match (row.get(0), row.get(1)) {
            (true, _) => CopyStatus::Done,
            (false, true) => CopyStatus::Running,
            (false, false) => CopyStatus::Stopped,
        })
    }

    /// The size of the copy's database on disk out of the source's, as the server counts
    /// them: a restore's tables grow as it writes them. `None` until the copy's database
    /// shows (a template copy's shows only once it is whole).
    fn copy_progress(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<Option<CopyProgress>, ProviderError> {
        let (name, source) = (self.name(addon)?, self.name(source)?);
        let size = "SELECT pg_catalog.pg_database_size(oid) FROM pg_catalog.pg_database WHERE datname = ";
        let row = self
            .admin()?
            .query_one(&format!("SELECT ({size} $1), ({size} $2)"), &[&name, &source])
            .map_err(|err| self.failure("can't look up the size of the copy", &err))?;
        let (done, total): (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
        Ok(done.zip(total).map(|(done, total)| CopyProgress {
            done: done.max(0) as u64,
            total: total.max(0) as u64,
            unit: CopyUnit::Bytes,
        }))
    }

    /// The copier's work: from scratch (a partial copy is dropped), the template way or
    /// by dump and restore, then the mark.
    fn copy(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
        let (name, source_name) = (self.name(addon)?, self.name(source)?);
        let copier = Self::copier_name(&name);
        let mut config = self.admin_config(0)?;
        config.application_name(&copier);
        let doing = "can't connect as the admin user";
        let mut client = self.connect(config, doing)?.map_err(|err| self.failure(doing, &err))?;
        // A copy takes as long as it takes; waiting on a lock is still contention.
        let settings = "SET statement_timeout = 0";
        client.batch_execute(settings).map_err(|err| self.failure("can't set session timeouts", &err))?;
        let others: i64 = client
            .query_one(
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity \
                 WHERE application_name = $1 AND usename = CURRENT_USER AND pid <> pg_catalog.pg_backend_pid()",
                &[&copier],
            )
            .map_err(|err| self.failure("can't look for other copiers", &err))?
            .get(0);
        if others > 0 {
            return Ok(format!("another copier is at work on {name}"));
        }
        if self.copy_status(addon, source)? == CopyStatus::Done {
            return Ok(format!("{name} is already a copy of {source_name}"));
        }
        let found = self.lookup(&mut client, &name)?;
        if !found.role {
            return Err(self.permanent(&format!("role {name} is gone; the copy has no owner")));
        }
        let source_found = self.lookup(&mut client, &source_name)?;
        if !source_found.database {
            return Err(self.permanent(&format!("the source database {source_name} is gone")));
        }
        self.join(&mut client, &name, found)?;
        self.join(&mut client, &source_name, found)?;
        let (ident, source_ident) = (quote_ident(&name), quote_ident(&source_name));
        self.end_sessions_on(&mut client, &name)?;
        // What a partial restore did to its database (its owner's code ran) can't hold up its drop.
        self.drop_database(&mut client, &mut self.admin()?, &name, found)?;
        let idle: bool = client
            .query_one(
                "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity WHERE datname = $1)",
                &[&source_name],
            )
            .map_err(|err| self.failure("can't look at the source's sessions", &err))?
            .get(0);
        let template = format!("CREATE DATABASE {ident} TEMPLATE {source_ident} OWNER {ident}");
        let doing = format!("can't copy database {source_name}");
        let by_template = idle && self.run(&mut client, &doing, &template, &[SqlState::OBJECT_IN_USE])?;
        if !by_template {
            let create = format!("CREATE DATABASE {ident} OWNER {ident}");
            self.run(&mut client, &format!("can't create database {name}"), &create, &[])?;
        }
        let access =
            format!("REVOKE CONNECT ON DATABASE {ident} FROM PUBLIC; GRANT CONNECT ON DATABASE {ident} TO {ident}");
        self.run(&mut client, &format!("can't restrict connections to database {name}"), &access, &[])?;
        crate::failpoint!("copy-started");
        let how = match by_template {
            true => {
                self.give_objects(&mut client, source, &source_name, &name)?;
                "a template copy"
            }
            false => {
                // The source's owner may refuse connections: the dump's door is opened.
                let dumped = self.through_door(&mut client, &source_name, |version| {
                    self.dump_restore(addon, &source_name, &copier, version)
                })?;
                if dumped.is_none() {
                    return Err(self.permanent(&format!("the source database {source_name} is gone")));
                }
                "pg_dump | pg_restore"
            }
        };
        // The restore's code ran as the app's login: whatever it set on that login is undone.
        let (login, password) = self.app_login(&mut client, addon)?;
        self.ensure_owner(&mut client, &name, found)?;
        self.ensure_login(&mut client, &name, &login, &password, found)?;
        crate::failpoint!("after-copy-before-mark");
        let mark = format!("COMMENT ON ROLE {ident} IS {}", quote_literal(&Self::copy_mark(&source_name)));
        self.run(&mut client, &format!("can't mark the copy {name} done"), &mark, &[])?;
        Ok(format!("copied database {source_name} into {name} by {how}"))
    }
}

/// The variables a client tool is run with.
pub(super) type Variables = Vec<(&'static str, String)>;

/// A command for PostgreSQL client tool `program` with `env` and none of the PG variables
/// (a user, a password, options, a service) this process may have been given.
pub(super) fn tool(program: &str, env: &Variables) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(key, value)| (*key, value)));
    command
}

/// Whether an executable named `tool` is in a directory of PATH.
pub(super) fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(tool)).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
    })
}
