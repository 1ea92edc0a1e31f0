//! Credentials on mysql: one user per credential (`addons_<id>` for the original,
//! `addons_<id>_<slot>_<generation>` for the others), each on every account host with the
//! same one grant on the addon's database. Separate users, not MySQL 8's dual passwords
//! (`RETAIN CURRENT PASSWORD`, which MariaDB lacks): a user can be dropped and its sessions
//! ended without touching another credential's, which two passwords of one user can't.

use mysql::prelude::Queryable;

use super::objects::{self, Stored};
use super::{account, end_sessions, grant_pattern, ident, password_literal, Admin, Login, Mysql};
use crate::addon::{Resource, ALNUM};
use crate::providers::credential::{Access, Credential, Drift, DriftKind};
use crate::providers::{resource_name, Credentials, ProviderError, Verifier};

/// MySQL 8's longest user name (MariaDB takes 80).
const MAX_USER: usize = 32;

/// The users of every credential of addon `$1` besides the original, by name.
const CREDENTIAL_USERS: &str = "SELECT DISTINCT user FROM mysql.user WHERE user LIKE ? ORDER BY user";

/// Creates `user` on every host with `password`, or sets the password again where it exists.
pub(super) fn create_users(
    admin: &mut Admin<'_>,
    hosts: &[String],
    user: &str,
    password: &str,
) -> Result<(), ProviderError> {
    let literal = password_literal(password)?;
    for host in hosts {
        let account = account(user, host);
        let doing = format!("creating user {account}");
        let create = format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {literal}");
        admin.run(&create, &doing).map_err(|err| err.hiding(password))?;
        let alter = format!("ALTER USER {account} IDENTIFIED BY {literal}");
        admin.run(&alter, &doing).map_err(|err| err.hiding(password))?;
    }
    Ok(())
}

/// Grants `user` on every host all privileges on database `name` alone.
pub(super) fn grant_database(
    admin: &mut Admin<'_>,
    hosts: &[String],
    user: &str,
    name: &str,
) -> Result<(), ProviderError> {
    grant(admin, hosts, (user, Access::ReadWrite), name)
}

/// The one grant of a credential's user on database `name`: all privileges, or SELECT
/// alone for a read-only credential (every table, present and future, and nothing else).
fn own_grant(access: Access, name: &str, account: &str) -> String {
    let privileges = match access {
        Access::ReadWrite => "ALL PRIVILEGES",
        Access::ReadOnly => "SELECT",
    };
    format!("GRANT {privileges} ON {}.* TO {account}", grant_pattern(name))
}

/// Grants `user` on every host its one grant on database `name`.
fn grant(
    admin: &mut Admin<'_>,
    hosts: &[String],
    (user, access): (&str, Access),
    name: &str,
) -> Result<(), ProviderError> {
    for host in hosts {
        let grant = own_grant(access, name, &account(user, host));
        admin.run(&grant, &format!("granting {user} database {name}"))?;
    }
    Ok(())
}

/// Stops `account` from logging in; with `scramble`, its password too becomes one no one
/// holds (the addon's own user, which stays).
fn lock(admin: &mut Admin<'_>, account: &str, scramble: bool) -> Result<(), ProviderError> {
    let doing = format!("stopping {account} from logging in");
    if !scramble {
        return admin.run(&format!("ALTER USER {account} ACCOUNT LOCK"), &doing);
    }
    let password = unknown_password();
    let statement = format!("ALTER USER {account} IDENTIFIED BY {} ACCOUNT LOCK", password_literal(&password)?);
    admin.run(&statement, &doing).map_err(|err| err.hiding(&password))
}

/// The addon's own user `name`@`%` with the grant of its database: made again, locked and
/// with a password no one holds, when an earlier version dropped it with the original login.
fn ensure_owner(admin: &mut Admin<'_>, name: &str) -> Result<(), ProviderError> {
    let (owner, password) = (account(name, "%"), unknown_password());
    let create =
        format!("CREATE USER IF NOT EXISTS {owner} IDENTIFIED BY {} ACCOUNT LOCK", password_literal(&password)?);
    admin.run(&create, &format!("making user {owner} again")).map_err(|err| err.hiding(&password))?;
    grant_database(admin, &["%".to_string()], name, name)
}

/// A password that no one is given, for a user that must log in no more.
fn unknown_password() -> String {
    crate::addon::new_seed().iter().map(|byte| char::from(ALNUM[usize::from(*byte) % ALNUM.len()])).collect()
}

/// The hosts `user` exists on.
fn user_hosts(admin: &mut Admin<'_>, user: &str) -> Result<Vec<String>, ProviderError> {
    admin.column("SELECT host FROM mysql.user WHERE user = ?", (user,), "finding the user's accounts")
}

impl Mysql {
    /// The users of the addon's credentials besides the original, found by name.
    pub(super) fn credential_users(
        &self,
        admin: &mut Admin<'_>,
        addon: &Resource<'_>,
    ) -> Result<Vec<String>, ProviderError> {
        let pattern = format!("{}\\_%", resource_name(addon)?.replace('_', "\\_"));
        let users: Vec<String> = admin.column(CREDENTIAL_USERS, (pattern,), "finding the addon's users")?;
        Ok(users.into_iter().filter(|user| Credential::of_login(addon, user).is_some()).collect())
    }

    /// Ends the sessions of `user` and drops it on every host.
    pub(super) fn drop_user(&self, admin: &mut Admin<'_>, user: &str) -> Result<bool, ProviderError> {
        end_sessions(admin, user)?;
        let hosts = user_hosts(admin, user)?;
        for host in &hosts {
            let account = account(user, host);
            admin.run(&format!("DROP USER IF EXISTS {account}"), &format!("dropping user {account}"))?;
        }
        // A session opened between the kill and the drop would outlive its user.
        end_sessions(admin, user)?;
        Ok(!hosts.is_empty())
    }

    /// Makes every object of the addon's database that `leaving` defines, or that a login
    /// of the addon no longer there defines (one an earlier version dropped), again in place
    /// defined by the addon's own user, made again first when it is gone. Returns how many
    /// it handed over.
    fn hand_over(&self, admin: &mut Admin<'_>, addon: &Resource<'_>, leaving: &str) -> Result<u64, ProviderError> {
        let name = resource_name(addon)?;
        // `SHOW CREATE VIEW` writes names in backquotes, as a view is made again.
        admin.run("SET SESSION sql_mode = '', sql_quote_show_create = 1", "setting the session up")?;
        let objects = objects::list(admin, &name)?;
        let pattern = format!("{}\\_%", name.replace('_', "\\_"));
        let accounts: Vec<(String, String)> = admin.rows(
            "SELECT user, host FROM mysql.user WHERE user = ? OR user LIKE ?",
            (&name, &pattern),
            "finding the addon's users",
        )?;
        let exists = |definer: &str| accounts.iter().any(|(user, host)| definer == format!("{user}@{host}"));
        let handed: Vec<&Stored> = objects
            .iter()
            .filter(|object| Credential::of_login(addon, object.user()).is_some())
            .filter(|object| (object.user() == leaving && leaving != name) || !exists(&object.definer))
            .collect();
        if handed.is_empty() {
            return Ok(0);
        }
        ensure_owner(admin, &name)?;
        let owner = account(&name, "%");
        for object in &handed {
            // Its definer is the own user, just made again.
            if object.definer == format!("{name}@%") {
                continue;
            }
            let statement = object.in_place(admin, &name, &owner, &objects)?;
            object.make(admin, &name, &statement)?;
        }
        Ok(handed.len() as u64)
    }

    /// The drift of one credential's user: gone, holding other grants than its one, or
    /// refused with its derived password.
    fn check_user(
        &self,
        admin: &mut Admin<'_>,
        addon: Resource<'_>,
        credential: Credential,
        name: &str,
        database_gone: bool,
    ) -> Result<Option<Drift>, ProviderError> {
        let user = credential.login(&addon)?;
        let drift = |kind, message| Ok(Some(Drift::of(credential, kind, message)));
        let hosts = user_hosts(admin, &user)?;
        if !hosts.iter().any(|host| host == "%") {
            return drift(DriftKind::LoginMissing, format!("user {user} is gone"));
        }
        for host in &hosts {
            let account = account(&user, host);
            let grants: Vec<String> =
                admin.column(&format!("SHOW GRANTS FOR {account}"), (), &format!("reading the grants of {account}"))?;
            let own = own_grant(credential.access, name, &account);
            // The USAGE line holds the password hash: it is never quoted.
            let usage =
                |grant: &String| grant.starts_with("GRANT USAGE ON *.* TO ") && !grant.contains("WITH GRANT OPTION");
            if !grants.contains(&own) || grants.iter().any(|grant| *grant != own && !usage(grant)) {
                return drift(
                    DriftKind::LimitsChanged,
                    format!("user {account} holds other grants than its database's"),
                );
            }
        }
        if database_gone {
            return Ok(None);
        }
        let password = credential.password(&addon);
        let doing = format!("logging in as {user}");
        let login =
            self.login(self.options(&user, &password, Some(name))?, &doing)?.and_then(|mut c| c.query_drop("SELECT 1"));
        match login {
            Ok(()) => Ok(None),
            Err(err) => match self.fail(&doing, &err, Login::App).hiding(&password) {
                ProviderError::Transient(line) => Err(ProviderError::Transient(line)),
                ProviderError::Permanent(_) if super::classify(&err).0 == super::Kind::Denied => {
                    drift(DriftKind::PasswordChanged, format!("user {user} has another password"))
                }
                ProviderError::Permanent(line) => drift(DriftKind::LimitsChanged, line),
            },
        }
    }
}

impl Credentials for Mysql {
    /// The credential's login with the owner's rights (SELECT alone for a read-only
    /// credential), and its vars.
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError> {
        let name = resource_name(&addon)?;
        let (user, password) = (credential.login(&addon)?, credential.password(&addon));
        if user.len() > MAX_USER {
            return Err(self.permanent(&format!(
                "can't make {credential}: its user name {user} is longer than the {MAX_USER} characters MySQL takes"
            )));
        }
        let mut admin = self.admin()?;
        let hosts = self.account_hosts(&mut admin)?;
        create_users(&mut admin, &hosts, &user, &password)?;
        grant(&mut admin, &hosts, (&user, credential.access), &name)?;
        let url = self.server.app_url(addon.params, &user, &password, &format!("/{name}"))?;
        Ok(vec![("DATABASE_URL".to_string(), url)])
    }

    /// The login is locked and its sessions ended, so it defines
    /// nothing more; what it made (views, triggers, routines, events run as their definer)
    /// is handed to the addon's own user; then it is dropped. The original login is that
    /// own user: it stays, locked and with a password no one holds, until the addon goes.
    fn revoke(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        let (name, user) = (resource_name(&addon)?, credential.login(&addon)?);
        let original = credential == Credential::ORIGINAL;
        let mut admin = self.admin()?;
        let hosts = user_hosts(&mut admin, &user)?;
        for host in &hosts {
            lock(&mut admin, &account(&user, host), original)?;
        }
        end_sessions(&mut admin, &user)?;
        let handed = self.hand_over(&mut admin, &addon, &user)?;
        let place = self.server.place();
        let mut message = match (original, hosts.is_empty()) {
            (true, false) => format!("user {user} on {place} logs in no more; it stays, as the addon's own user"),
            (false, false) if self.drop_user(&mut admin, &user)? => format!("dropped user {user} on {place}"),
            _ => format!("user {user} was already gone from {place}"),
        };
        if handed > 0 {
            message.push_str(&format!("; {} it made handed to user {name}", crate::names::plural(handed, "object")));
        }
        Ok(message)
    }
}

impl Verifier for Mysql {
    /// The resource and each credential's login, against what was made.
    fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        let name = resource_name(&addon)?;
        let mut admin = self.admin()?;
        let mut drift = Vec::new();
        let databases: Vec<String> = admin.column(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
            (&name,),
            "looking for the database",
        )?;
        if databases.is_empty() {
            drift.push(Drift::resource(DriftKind::ResourceMissing, format!("database {name} is gone")));
        }
        for &credential in credentials {
            if let Some(found) = self.check_user(&mut admin, addon, credential, &name, databases.is_empty())? {
                drift.push(found);
            }
        }
        Ok(drift)
    }

    /// Makes the database again, empty, when it was lost.
    fn remake_resource(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let name = resource_name(&addon)?;
        let create = format!("CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4", ident(&name));
        self.admin()?.run(&create, &format!("creating database {name}"))?;
        Ok(format!("database {name} is there"))
    }

    /// Takes back every grant of the credential's user on every host, then makes it again
    /// as `ensure` makes it, so no grant added by hand is left.
    fn remake_login(&self, addon: Resource<'_>, credential: Credential) -> Result<(), ProviderError> {
        let user = credential.login(&addon)?;
        let mut admin = self.admin()?;
        for host in user_hosts(&mut admin, &user)? {
            let account = account(&user, &host);
            let revoke = format!("REVOKE ALL PRIVILEGES, GRANT OPTION FROM {account}");
            admin.run(&revoke, &format!("taking back the grants of {account}"))?;
        }
        self.ensure(addon, credential).map(drop)
    }
}
