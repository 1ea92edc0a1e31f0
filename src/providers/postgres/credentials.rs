//! Credentials on postgres: the role `addons_<id>` owns the database and everything in it
//! and never logs in; every credential, the addon's own app's first one (`addons_<id>_0_0`)
//! too, is a login role of its own, a member of the owner that becomes it on login (`SET
//! role`), so whatever any credential creates is owned by the one owner and usable by the
//! next. A member may act as the owner and so set the owner's password, which gives it
//! nothing while the owner can't log in; no login can touch another login.
//!
//! Addons made by earlier versions log in as the owner itself: they keep that login until
//! a rotation revokes it, and get no login for another app before (its login could set
//! the password their app logs in with).

use postgres::error::SqlState;
use postgres::Client;

use super::roles::{app_role, limits, role_of, ROLE_LIMITS};
use super::{quote_ident, quote_literal, scram, sort, Found, Postgres};
use crate::addon::Resource;
use crate::providers::credential::{Credential, Drift, DriftKind};
use crate::providers::{Credentials, ProviderError, Sort, Verifier};

/// Every role of an addon's credentials besides the owner: `addons_<id>_<slot>_<generation>`.
const CREDENTIAL_ROLES: &str = "SELECT rolname FROM pg_catalog.pg_roles WHERE rolname LIKE $1 ORDER BY rolname";

impl Postgres {
    /// Makes the login role of a credential, a member of `owner` that becomes it on login,
    /// with the derived password (as a SCRAM verifier). An admin that is not a superuser
    /// joins it, as ending its sessions needs (when they block another addon's cleanup too).
    pub(super) fn ensure_login(
        &self,
        client: &mut Client,
        owner: &str,
        login: &str,
        password: &str,
        found: Found,
    ) -> Result<(), ProviderError> {
        let (role, verifier) = self.create_login(client, login, password, "INHERIT")?;
        let owner_ident = quote_ident(owner);
        let converge = format!(
            "ALTER ROLE {role} LOGIN INHERIT {} PASSWORD {verifier}; GRANT {owner_ident} TO {role}; \
             ALTER ROLE {role} SET role = {}",
            limits(found),
            quote_literal(owner)
        );
        self.run(client, &format!("can't set up role {login}"), &converge, &[])?;
        self.join(client, login, found)
    }

    /// Makes the login role `login` with `password` unless it is there, `inherit`ing
    /// its memberships' rights or not (`INHERIT`, `NOINHERIT`): its quoted name and the
    /// password's verifier, for what the caller then sets whether it was made or found.
    pub(super) fn create_login(
        &self,
        client: &mut Client,
        login: &str,
        password: &str,
        inherit: &str,
    ) -> Result<(String, String), ProviderError> {
        let verifier = quote_literal(&postgres_protocol::password::scram_sha_256(password.as_bytes()));
        let role = quote_ident(login);
        if !self.role_exists(client, login)? {
            let create = format!("CREATE ROLE {role} LOGIN {inherit} PASSWORD {verifier}");
            self.run(client, &format!("can't create role {login}"), &create, super::ALREADY_EXISTS)?;
        }
        Ok((role, verifier))
    }

    /// The roles of every credential of the addon besides the owner, found by name.
    pub(super) fn credential_roles(
        &self,
        client: &mut Client,
        addon: &Resource<'_>,
        owner: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let pattern = format!("{}\\_%", owner.replace('_', "\\_"));
        let rows = client
            .query(CREDENTIAL_ROLES, &[&pattern])
            .map_err(|err| self.failure("can't list the addon's login roles", &err))?;
        let names = rows.iter().map(|row| row.get::<_, String>(0));
        let app = app_role(owner);
        Ok(names.filter(|name| *name == app || Credential::of_login(addon, name).is_some()).collect())
    }

    /// Makes an admin user that is not a superuser a member of `role`, as ending its
    /// sessions, `REASSIGN OWNED` and `DROP OWNED` need it to be.
    pub(super) fn join(&self, client: &mut Client, role: &str, found: Found) -> Result<(), ProviderError> {
        if found.superuser {
            return Ok(());
        }
        let grant = format!("GRANT {} TO CURRENT_USER", quote_ident(role));
        self.run(client, &format!("can't join role {role}"), &grant, &[SqlState::UNDEFINED_OBJECT]).map(drop)
    }

    /// Ends every session logged in as one of `logins`.
    pub(super) fn end_logins(&self, client: &mut Client, logins: &[String]) -> Result<(), ProviderError> {
        client
            .execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE usename = ANY ($1) AND pid <> pg_catalog.pg_backend_pid()",
                &[&logins],
            )
            .map_err(|err| self.failure("can't end the sessions of the addon's logins", &err))
            .map(drop)
    }

    /// The drift of one credential's role `login`, if any: gone, more powerful than made,
    /// a password other than the derived one, or a login that fails.
    fn check_login(
        &self,
        client: &mut Client,
        addon: Resource<'_>,
        credential: Credential,
        login: &str,
        owner: &str,
        found: Found,
    ) -> Result<Option<Drift>, ProviderError> {
        let password = credential.password(&addon);
        let drift = |kind, message| Ok(Some(Drift::of(credential, kind, message)));
        let rows =
            client.query(ROLE_LIMITS, &[&login, &owner]).map_err(|err| self.failure("can't read role limits", &err))?;
        let Some(row) = rows.first() else { return drift(DriftKind::LoginMissing, format!("role {login} is gone")) };
        let mut wrong = Vec::new();
        if !self.flag(row, 0)? {
            wrong.push("may not log in");
        }
        wrong.extend(self.powers(row)?);
        if credential.is_read_only() {
            if self.flag(row, 6)? {
                wrong.push("may act as the owner");
            }
            if self.flag(row, 7)? {
                wrong.push("becomes the owner on login");
            }
        } else if login != owner {
            if !self.flag(row, 6)? {
                wrong.push("not a member of the owner");
            }
            if !self.flag(row, 7)? {
                wrong.push("does not become the owner on login");
            }
        }
        let mut wrong: Vec<String> = wrong.into_iter().map(str::to_string).collect();
        if credential.is_read_only() && found.database {
            wrong.extend(self.reader_changes(client, owner, login)?);
        }
        if !wrong.is_empty() {
            return drift(DriftKind::LimitsChanged, format!("role {login} changed: {}", wrong.join(", ")));
        }
        if found.superuser
            && !self.verifier(client, login)?.is_some_and(|verifier| scram::matches(&verifier, &password))
        {
            return drift(DriftKind::PasswordChanged, format!("role {login} has another password"));
        }
        if !found.database {
            return Ok(None);
        }
        let mut config = self.config()?;
        config.user(login).password(&password).dbname(owner);
        let doing = format!("can't log in as role {login}");
        match self.connect(config, &doing)?.and_then(|mut client| client.batch_execute("SELECT 1")) {
            Ok(()) => Ok(None),
            Err(err) if sort(&err) == Sort::Transient => Err(self.failure(&doing, &err)),
            Err(err) if err.code() == Some(&SqlState::INVALID_PASSWORD) => {
                drift(DriftKind::PasswordChanged, format!("role {login} has another password"))
            }
            Err(err) => {
                drift(DriftKind::LimitsChanged, format!("role {login} can't log in: {}", super::describe(&err)))
            }
        }
    }
}

impl Credentials for Postgres {
    /// The credential's login with the owner's rights (or, for a read-only credential,
    /// the right to read alone: `reader.rs`), and its vars.
    /// An addon whose app logs in as the owner gets a login for its own app only.
    fn ensure(&self, addon: Resource<'_>, credential: Credential) -> Result<Vec<(String, String)>, ProviderError> {
        let owner = self.name(addon)?;
        let (mut client, found) = self.opened(&owner)?;
        let owner_logs_in = self.owner_logs_in(&mut client, &owner)?;
        let (login, password) = (role_of(addon, credential, &owner, owner_logs_in)?, credential.password(&addon));
        if credential != Credential::ORIGINAL && (!found.role || !found.database) {
            return Err(self.permanent(&format!(
                "can't make {credential}: role and database {owner} are not there; provision the addon first"
            )));
        }
        match owner_logs_in {
            true if credential == Credential::ORIGINAL => {
                self.ensure_owner_login(&mut client, &owner, &password, found)?
            }
            true if credential.slot != 0 => {
                return Err(self.permanent(&format!(
                    "can't make a login for another app yet: the addon's own app logs in as role {owner}, the \
                     owner, whose password that login could set; rotate the addon first (addons rotate NAME)"
                )))
            }
            true => self.ensure_login(&mut client, &owner, &login, &password, found)?,
            false if credential.is_read_only() => {
                self.ensure_owner(&mut client, &owner, found)?;
                self.ensure_reader(&mut client, &owner, &login, &password, found)?;
            }
            false => {
                self.ensure_owner(&mut client, &owner, found)?;
                self.ensure_login(&mut client, &owner, &login, &password, found)?;
            }
        }
        let url = self.server.app_url(addon.params, &login, &password, &format!("/{owner}"))?;
        Ok(vec![("DATABASE_URL".to_string(), url)])
    }

    /// Stops the login, ends its sessions, hands what it created to the owner, and drops
    /// it. The original credential also takes the login away from the owner, which an
    /// addon made by an earlier version logs in as (the owner stays, without a password).
    fn revoke(&self, addon: Resource<'_>, credential: Credential) -> Result<String, ProviderError> {
        let owner = self.name(addon)?;
        let login = role_of(addon, credential, &owner, false)?;
        let ident = quote_ident(&login);
        let (mut client, found) = self.opened(&owner)?;
        let mut watcher = self.admin()?;
        let mut owner_stopped = false;
        if credential == Credential::ORIGINAL {
            let stop = format!("ALTER ROLE {} NOLOGIN PASSWORD NULL", quote_ident(&owner));
            let doing = format!("can't stop role {owner} from logging in");
            owner_stopped =
                self.run_unblocked(&mut client, &mut watcher, &doing, &stop, &[SqlState::UNDEFINED_OBJECT])?;
            self.end_logins(&mut client, std::slice::from_ref(&owner))?;
        }
        let doing = format!("can't stop role {login} from logging in");
        let stop = format!("ALTER ROLE {ident} NOLOGIN");
        if !self.run_unblocked(&mut client, &mut watcher, &doing, &stop, &[SqlState::UNDEFINED_OBJECT])? {
            return Ok(match owner_stopped {
                true => format!("role {owner} no longer logs in; it still owns database {owner}"),
                false => format!("role {login} was already gone from {}", self.server.place()),
            });
        }
        self.join(&mut client, &login, found)?;
        self.end_logins(&mut client, std::slice::from_ref(&login))?;
        let reassign = format!("REASSIGN OWNED BY {ident} TO {}", quote_ident(&owner));
        let doing = format!("can't hand what role {login} made to role {owner}");
        self.inside(&mut client, &owner, |there| {
            self.run_unblocked(there, &mut watcher, &doing, &reassign, &[SqlState::UNDEFINED_OBJECT])
        })?;
        self.drop_role(&mut client, &mut watcher, &login)?;
        Ok(format!("dropped role {login} on {}", self.server.place()))
    }
}

impl Verifier for Postgres {
    /// The resource and each credential's login, against what was made.
    fn verify(&self, addon: Resource<'_>, credentials: &[Credential]) -> Result<Vec<Drift>, ProviderError> {
        let owner = self.name(addon)?;
        let (mut client, found) = self.opened(&owner)?;
        let mut drift = Vec::new();
        if !found.database {
            drift.push(Drift::resource(DriftKind::ResourceMissing, format!("database {owner} is gone")));
        } else {
            let row = client
                .query_one(
                    "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = $1",
                    &[&owner],
                )
                .map_err(|err| self.failure("can't read the database's owner", &err))?;
            let holder: String = row.get(0);
            if holder != owner {
                let message = format!("database {owner} is owned by role {holder}, not {owner}");
                drift.push(Drift::resource(DriftKind::LimitsChanged, message));
            }
        }
        let owner_logs_in = self.owner_logs_in(&mut client, &owner)?;
        if !owner_logs_in {
            let changes = self.owner_changes(&mut client, &owner, found)?;
            if !changes.is_empty() {
                let message = format!("role {owner}, the owner, changed: {}", changes.join(", "));
                drift.push(Drift::resource(DriftKind::LimitsChanged, message));
            }
        }
        for &credential in credentials {
            let login = role_of(addon, credential, &owner, owner_logs_in)?;
            if let Some(found) = self.check_login(&mut client, addon, credential, &login, &owner, found)? {
                drift.push(found);
            }
        }
        Ok(drift)
    }

    /// Makes the database again (empty, when it was lost) and gives it back to its owner.
    fn remake_resource(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        let owner = self.name(addon)?;
        let (mut client, found) = self.opened(&owner)?;
        let owner_logs_in = self.owner_logs_in(&mut client, &owner)?;
        if !owner_logs_in {
            self.ensure_owner(&mut client, &owner, found)?;
        }
        self.ensure_database(&mut client, &owner, found)?;
        let alter = format!("ALTER DATABASE {0} OWNER TO {0}", quote_ident(&owner));
        self.run(&mut client, &format!("can't give database {owner} back to its owner"), &alter, &[])?;
        Ok(match owner_logs_in {
            true => format!("database {owner} is there, owned by role {owner}"),
            false => format!("database {owner} is there, owned by role {owner}, which does not log in"),
        })
    }

    /// Makes the login role again as `ensure` makes it: password, membership and limits.
    fn remake_login(&self, addon: Resource<'_>, credential: Credential) -> Result<(), ProviderError> {
        self.ensure(addon, credential).map(drop)
    }
}
