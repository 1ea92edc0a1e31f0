//! The roles of a postgres addon: the owner, which owns the database and never logs in;
//! the role the addon's own app logs in as (`addons_<id>_0_0`, a member of the owner like
//! every other login, or the owner itself in addons made by earlier versions until a
//! rotation revokes that login); and what a role may do, as `verify` reads it.

use postgres::Client;

use super::{quote_ident, quote_literal, Found, Postgres};
use crate::addon::Resource;
use crate::providers::{Credential, ProviderError};

/// What a role may do, as `verify` reads it; `$2` is the owner.
pub(super) const ROLE_LIMITS: &str =
    "SELECT r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, \
     r.rolbypassrls, coalesce(pg_catalog.pg_has_role(r.oid, (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $2), 'USAGE'), false), \
     coalesce((SELECT 'role=' || $2 = ANY (s.setconfig) FROM pg_catalog.pg_db_role_setting s \
               WHERE s.setrole = r.oid AND s.setdatabase = 0), false) \
     FROM pg_catalog.pg_roles r WHERE r.rolname = $1";

/// The attributes a credential's role must not have, as `ALTER ROLE` options. Only a
/// superuser may name SUPERUSER, REPLICATION and BYPASSRLS at all.
pub(super) fn limits(found: Found) -> &'static str {
    match found.superuser {
        true => "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        false => "NOCREATEDB NOCREATEROLE",
    }
}

/// Whether the addon's own app logs in as the owner `$1` itself, as in addons made by
/// earlier versions: the owner may log in and there is no login role `$2` (`<owner>_0_0`).
const OWNER_LOGS_IN: &str = "SELECT coalesce((SELECT rolcanlogin FROM pg_catalog.pg_roles WHERE rolname = $1), false) \
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $2)";

/// The login role of the addon's own app's first credential (`Credential::ORIGINAL`).
pub(super) fn app_role(owner: &str) -> String {
    format!("{owner}_0_0")
}

/// The role `credential` logs in as: `addons_<id>_<slot>_<generation>`, for the original
/// credential too, unless the addon's app logs in as the owner (`owner_logs_in`).
pub(super) fn role_of(
    addon: Resource<'_>,
    credential: Credential,
    owner: &str,
    owner_logs_in: bool,
) -> Result<String, ProviderError> {
    match credential == Credential::ORIGINAL {
        true if owner_logs_in => Ok(owner.to_string()),
        true => Ok(app_role(owner)),
        false => Ok(credential.login(&addon)?),
    }
}

impl Postgres {
    /// Whether role `name` exists.
    pub(super) fn role_exists(&self, client: &mut Client, name: &str) -> Result<bool, ProviderError> {
        client
            .query_one("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", &[&name])
            .and_then(|row| row.try_get(0))
            .map_err(|err| self.failure("can't look up roles", &err))
    }

    /// One boolean column of a `ROLE_LIMITS` row.
    pub(super) fn flag(&self, row: &postgres::Row, i: usize) -> Result<bool, ProviderError> {
        row.try_get::<_, bool>(i).map_err(|err| self.failure("can't read role limits", &err))
    }

    /// The powers no role of an addon may hold, among those a `ROLE_LIMITS` row shows.
    pub(super) fn powers(&self, row: &postgres::Row) -> Result<Vec<&'static str>, ProviderError> {
        let mut held = Vec::new();
        for (i, power) in [(1, "superuser"), (2, "CREATEROLE"), (3, "CREATEDB"), (4, "REPLICATION"), (5, "BYPASSRLS")] {
            if self.flag(row, i)? {
                held.push(power);
            }
        }
        Ok(held)
    }

    /// The stored password verifier of `role` (`None`: no password); only a superuser reads it.
    pub(super) fn verifier(&self, client: &mut Client, role: &str) -> Result<Option<String>, ProviderError> {
        let rows = client
            .query("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1", &[&role])
            .map_err(|err| self.failure("can't read the role's password verifier", &err))?;
        rows.first()
            .map_or(Ok(None), |row| row.try_get(0))
            .map_err(|err| self.failure("can't read the role's password verifier", &err))
    }

    /// Whether the addon's own app logs in as the owner role itself: an addon made by an
    /// earlier version whose first login was not revoked by a rotation yet.
    pub(super) fn owner_logs_in(&self, client: &mut Client, owner: &str) -> Result<bool, ProviderError> {
        client
            .query_one(OWNER_LOGS_IN, &[&owner, &app_role(owner)])
            .and_then(|row| row.try_get(0))
            .map_err(|err| self.failure("can't read how the addon's app logs in", &err))
    }

    /// The login of the addon's own app's first credential and its password: what
    /// `get_config` hands out and what a copy is restored as.
    pub(super) fn app_login(
        &self,
        client: &mut Client,
        addon: Resource<'_>,
    ) -> Result<(String, String), ProviderError> {
        let owner = self.name(addon)?;
        let owner_logs_in = self.owner_logs_in(client, &owner)?;
        Ok((role_of(addon, Credential::ORIGINAL, &owner, owner_logs_in)?, addon.password()))
    }

    /// Makes the owner role, which never logs in; an owner that may log in, holds a
    /// password or a power is made so again, ending any tenant session that holds its
    /// row (a member's open transaction that set its password).
    pub(super) fn ensure_owner(&self, client: &mut Client, owner: &str, found: Found) -> Result<(), ProviderError> {
        let ident = quote_ident(owner);
        if !found.role {
            let create = format!("CREATE ROLE {ident} NOLOGIN");
            if self.run(client, &format!("can't create role {owner}"), &create, super::ALREADY_EXISTS)? {
                return Ok(());
            }
        }
        if self.owner_changes(client, owner, found)?.is_empty() {
            return Ok(());
        }
        let alter = format!("ALTER ROLE {ident} NOLOGIN PASSWORD NULL {}", limits(found));
        let doing = format!("can't stop role {owner} from logging in");
        self.run_unblocked(client, &mut self.admin()?, &doing, &alter, &[]).map(drop)
    }

    /// What the owner role of an addon whose app does not log in as it may do and must
    /// not: log in, hold a password (seen only by an admin that is a superuser; useless
    /// without the login), or hold a power. Empty when the role is not there.
    pub(super) fn owner_changes(
        &self,
        client: &mut Client,
        owner: &str,
        found: Found,
    ) -> Result<Vec<&'static str>, ProviderError> {
        let rows =
            client.query(ROLE_LIMITS, &[&owner, &owner]).map_err(|err| self.failure("can't read role limits", &err))?;
        let Some(row) = rows.first() else { return Ok(Vec::new()) };
        let mut wrong = Vec::new();
        if self.flag(row, 0)? {
            wrong.push("may log in");
        }
        if found.superuser && self.verifier(client, owner)?.is_some() {
            wrong.push("has a password");
        }
        wrong.extend(self.powers(row)?);
        Ok(wrong)
    }

    /// The owner role of an addon whose app logs in as it is made to log in again (a
    /// repair), with its password (as a SCRAM verifier) and limits restored.
    pub(super) fn ensure_owner_login(
        &self,
        client: &mut Client,
        owner: &str,
        password: &str,
        found: Found,
    ) -> Result<(), ProviderError> {
        let verifier = quote_literal(&postgres_protocol::password::scram_sha_256(password.as_bytes()));
        let alter = format!("ALTER ROLE {} LOGIN PASSWORD {verifier} {}", quote_ident(owner), limits(found));
        self.run(client, &format!("can't restore role {owner}"), &alter, &[]).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addon::{new_seed, Params};

    #[test]
    fn the_apps_first_login_is_a_role_of_its_own_unless_it_logs_in_as_the_owner() {
        let (params, seed) = (Params::new(), new_seed());
        let addon = Resource::new("0123456789abcdef", &params, &seed);
        let owner = "addons_0123456789abcdef";
        let role = |credential, owner_logs_in| role_of(addon, credential, owner, owner_logs_in).unwrap();
        assert_eq!(role(Credential::ORIGINAL, false), "addons_0123456789abcdef_0_0");
        assert_eq!(role(Credential::ORIGINAL, true), owner);
        for owner_logs_in in [false, true] {
            assert_eq!(role(Credential::new(0, 1), owner_logs_in), "addons_0123456789abcdef_0_1");
            assert_eq!(role(Credential::new(2, 0), owner_logs_in), "addons_0123456789abcdef_2_0");
        }
    }
}
