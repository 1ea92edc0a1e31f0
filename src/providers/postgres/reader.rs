//! Read-only logins on postgres (`attach --read-only`): a login role that is a member of
//! no role (so never of the owner, whose rights it could take with `SET ROLE`), with
//! CONNECT on the addon's database, USAGE on its schemas and SELECT on every table and
//! sequence in them, and the owner's default privileges granting it SELECT on what the
//! owner (every other login acts as it) makes later. It may not create anything: no
//! CREATE on the database or a schema, no temporary tables (TEMPORARY on the database is
//! taken from PUBLIC; the owner's logins keep it as the owner's).

use postgres::Client;

use super::{quote_ident, Found, Postgres};
use crate::providers::ProviderError;

/// The addon's schemas: every one the owner may act for (its own and `public`, which
/// the database's owner owns), none of the system's.
const SCHEMAS: &str = "SELECT n.nspname FROM pg_catalog.pg_namespace n \
     WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' \
     AND pg_catalog.pg_has_role($1, n.nspowner, 'USAGE') ORDER BY 1";

/// What a read-only login `$1` may do beyond reading in the database it is in, with the
/// owner `$2`: each column a count (or a flag) that must be 0 (false).
const WRITE_RIGHTS: &str = "WITH s AS (SELECT n.oid FROM pg_catalog.pg_namespace n \
       WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'), \
     r AS (SELECT c.oid, c.relkind, c.relowner FROM pg_catalog.pg_class c WHERE c.relnamespace IN (SELECT oid FROM s)) \
     SELECT \
     (SELECT count(*) FROM r WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f') AND ( \
        pg_catalog.has_any_column_privilege($1, r.oid, 'INSERT') OR pg_catalog.has_any_column_privilege($1, r.oid, 'UPDATE') \
        OR pg_catalog.has_table_privilege($1, r.oid, 'DELETE') OR pg_catalog.has_table_privilege($1, r.oid, 'TRUNCATE') \
        OR pg_catalog.has_any_column_privilege($1, r.oid, 'REFERENCES') OR pg_catalog.has_table_privilege($1, r.oid, 'TRIGGER'))), \
     (SELECT count(*) FROM r WHERE r.relkind = 'S' AND ( \
        pg_catalog.has_sequence_privilege($1, r.oid, 'UPDATE') OR pg_catalog.has_sequence_privilege($1, r.oid, 'USAGE'))), \
     (SELECT count(*) FROM s WHERE pg_catalog.has_schema_privilege($1, s.oid, 'CREATE')), \
     pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'CREATE'), \
     pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'TEMPORARY'), \
     (SELECT count(*) FROM pg_catalog.pg_default_acl d, pg_catalog.aclexplode(d.defaclacl) a \
        WHERE a.grantee = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) \
        AND a.privilege_type NOT IN ('SELECT', 'USAGE')), \
     (SELECT count(*) FROM r WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f') \
        AND pg_catalog.pg_has_role($2, r.relowner, 'USAGE') AND NOT pg_catalog.has_table_privilege($1, r.oid, 'SELECT')), \
     (SELECT count(*) FROM s WHERE NOT pg_catalog.has_schema_privilege($1, s.oid, 'USAGE'))";

/// The roles `$1` is a member of.
const MEMBERSHIPS: &str = "SELECT r.rolname FROM pg_catalog.pg_auth_members m \
     JOIN pg_catalog.pg_roles r ON r.oid = m.roleid \
     WHERE m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1) ORDER BY 1";

impl Postgres {
    /// Makes (or converges) the read-only login role `login` of the addon owned by
    /// `owner`: password and limits, no membership, no `role` setting, then its rights in
    /// the database, from a clean slate so that a right added by hand goes.
    pub(super) fn ensure_reader(
        &self,
        client: &mut Client,
        owner: &str,
        login: &str,
        password: &str,
        found: Found,
    ) -> Result<(), ProviderError> {
        let (role, verifier) = self.create_login(client, login, password, "NOINHERIT")?;
        let mut converge = format!(
            "ALTER ROLE {role} LOGIN NOINHERIT {} PASSWORD {verifier}; ALTER ROLE {role} RESET ALL; \
             GRANT CONNECT ON DATABASE {} TO {role}",
            super::roles::limits(found),
            quote_ident(owner)
        );
        for member_of in self.memberships(client, login)? {
            converge.push_str(&format!("; REVOKE {} FROM {role}", quote_ident(&member_of)));
        }
        self.run(client, &format!("can't set up role {login}"), &converge, &[])?;
        self.join(client, login, found)?;
        let entered = self.inside(client, owner, |there| self.grant_reading(there, owner, login))?;
        match entered {
            Some(()) => Ok(()),
            None => Err(self.permanent(&format!("can't give role {login} its rights: database {owner} is not there"))),
        }
    }

    /// The roles `login` is a member of (a read-only login must be of none).
    pub(super) fn memberships(&self, client: &mut Client, login: &str) -> Result<Vec<String>, ProviderError> {
        let rows =
            client.query(MEMBERSHIPS, &[&login]).map_err(|err| self.failure("can't read role memberships", &err))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// In the addon's database, as its owner: every right of `login` taken back, then
    /// USAGE on the schemas and SELECT on their tables and sequences given, and the same
    /// for what the owner makes later; TEMPORARY taken from PUBLIC.
    fn grant_reading(&self, there: &mut Client, owner: &str, login: &str) -> Result<(), ProviderError> {
        let (role, owner_ident) = (quote_ident(login), quote_ident(owner));
        let rows = there.query(SCHEMAS, &[&owner]).map_err(|err| self.failure("can't list the schemas", &err))?;
        let mut sql = format!(
            "BEGIN; SET LOCAL ROLE {owner_ident}; \
             REVOKE TEMPORARY ON DATABASE {owner_ident} FROM PUBLIC; \
             REVOKE CREATE, TEMPORARY ON DATABASE {owner_ident} FROM {role}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} REVOKE ALL ON TABLES FROM {role}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} REVOKE ALL ON SEQUENCES FROM {role}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} REVOKE ALL ON SCHEMAS FROM {role}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} GRANT SELECT ON TABLES TO {role}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} GRANT SELECT ON SEQUENCES TO {role}; \
             ALTER DEFAULT PRIVILEGES FOR ROLE {owner_ident} GRANT USAGE ON SCHEMAS TO {role};"
        );
        for row in &rows {
            let schema = quote_ident(row.get::<_, &str>(0));
            sql.push_str(&format!(
                " REVOKE ALL ON SCHEMA {schema} FROM {role}; GRANT USAGE ON SCHEMA {schema} TO {role}; \
                 REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC; \
                 REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}; \
                 GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}; \
                 REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role}; \
                 GRANT SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role};"
            ));
        }
        sql.push_str(" COMMIT;");
        let done = self.run(there, &format!("can't give role {login} the right to read database {owner}"), &sql, &[]);
        if done.is_err() {
            let _ = there.batch_execute("ROLLBACK");
        }
        done.map(drop)
    }

    /// What read-only login `login` may do that it must not, in the addon's database:
    /// write rights (on tables, sequences, schemas, the database, or granted for what
    /// is made later), what it can't read, and the roles it is a member of. Empty when
    /// it only reads, as made.
    pub(super) fn reader_changes(
        &self,
        client: &mut Client,
        owner: &str,
        login: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let mut wrong: Vec<String> =
            self.memberships(client, login)?.into_iter().map(|role| format!("a member of role {role}")).collect();
        let checked = self.inside(client, owner, |there| {
            let row = there
                .query_one(WRITE_RIGHTS, &[&login, &owner])
                .map_err(|err| self.failure(&format!("can't read the rights of role {login}"), &err))?;
            let count = |i: usize| row.get::<_, i64>(i);
            let mut found = Vec::new();
            for (i, what) in [(0, "tables"), (1, "sequences")] {
                if count(i) > 0 {
                    found.push(format!("may write {} {what}", count(i)));
                }
            }
            if count(2) > 0 {
                found.push(format!("may create in {} schemas", count(2)));
            }
            if row.get::<_, bool>(3) {
                found.push("may create schemas".to_string());
            }
            if row.get::<_, bool>(4) {
                found.push("may create temporary tables".to_string());
            }
            if count(5) > 0 {
                found.push("is granted more than reading what is made later".to_string());
            }
            if count(6) > 0 {
                found.push(format!("may not read {} tables", count(6)));
            }
            if count(7) > 0 {
                found.push(format!("may not use {} schemas", count(7)));
            }
            Ok(found)
        })?;
        wrong.extend(checked.unwrap_or_default());
        Ok(wrong)
    }
}
