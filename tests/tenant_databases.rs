//! What a tenant sets on its own database can't turn the admin against the server, or hold
//! up another tenant's cleanup. An attacker holding the DATABASE_URL its addon hands out
//! (`addons env APP --format json`) makes its database hostile: its own schema first on the
//! database's search_path, holding functions, views and an operator named like the
//! catalog's that make the attacker a superuser (and more) when a superuser or a
//! CREATEROLE admin runs them; the database's `role` set to itself; then read-only
//! transactions, tiny timeouts, a library that can't load, a template flag, and connections
//! refused every way an owner can. It then drives every path that makes the admin enter
//! that database: another addon's cleanup after the attacker granted it things there, a
//! rotation and a detach (the revoke path), a `provision --from`, its own deprovision; and
//! a source whose data runs code while it is restored. After each, no tenant role has
//! gained an attribute or a membership, and every cleanup finished with nothing left.
//! Runs against the server named by ADDONS_TEST_POSTGRES_URL, as a superuser admin and as
//! one that is not; everything a test makes carries its addon ids and is swept up, also
//! when the test fails.

use crate::common;

use common::servers::{self, connect_postgres, server, traces};
use common::TestEnv;

/// An addon as its tenant sees it.
struct Tenant {
    name: String,
    id: String,
    url: String,
}

impl Tenant {
    /// The role and database name of the addon, `addons_<id>`.
    fn role(&self) -> String {
        format!("addons_{}", self.id)
    }
}

/// Provisions a postgres addon for `app` (with `extra` arguments) and takes its
/// DATABASE_URL as the app would; swept from the start.
fn tenant(env: &TestEnv, sweep: &mut Sweep, app: &str, extra: &[&str]) -> Tenant {
    let mut args = vec!["--timeout", "60s"];
    args.extend_from_slice(extra);
    let addon = env.provision_ready("postgres", app, &args);
    let text = |key: &str| addon[key].as_str().unwrap_or_else(|| panic!("no {key} in {addon}")).to_string();
    sweep.ids.push(text("id"));
    Tenant { name: text("name"), id: text("id"), url: env.vars(app)["DATABASE_URL"].clone() }
}

/// Deprovisions an addon through the binary and asserts that its cleanup finished with
/// nothing of it left.
fn deprovisioned(env: &TestEnv, superuser: &str, tenant: &Tenant) {
    let gone = env.json(["deprovision", &tenant.name, "--wait", "--timeout", "60s", "--json"]);
    assert_eq!((&gone["state"], &gone["cleanup"]), (&"deprovisioned".into(), &"done".into()), "{gone}");
    assert_eq!(traces("postgres", superuser, &tenant.id), Vec::<String>::new(), "left behind by {}", tenant.name);
}

/// Every attribute and membership a role of the tests' addons holds beyond what addons
/// gives it: none of SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS, and no
/// membership but a login's in its own addon's owner role.
fn gained(superuser: &str, ids: &[String]) -> Vec<String> {
    let patterns: Vec<String> = ids.iter().map(|id| format!("addons\\_{id}%")).collect();
    let mut client = connect_postgres(superuser).unwrap();
    let powers = client
        .query(
            "SELECT r.rolname || ' ' || p.power FROM pg_catalog.pg_roles r, LATERAL (VALUES \
               ('SUPERUSER', r.rolsuper), ('CREATEROLE', r.rolcreaterole), ('CREATEDB', r.rolcreatedb), \
               ('REPLICATION', r.rolreplication), ('BYPASSRLS', r.rolbypassrls)) AS p (power, held) \
             WHERE p.held AND r.rolname LIKE ANY ($1)",
            &[&patterns],
        )
        .unwrap();
    let mut found: Vec<String> = powers.iter().map(|row| row.get(0)).collect();
    let memberships = client
        .query(
            "SELECT m.rolname, g.rolname FROM pg_catalog.pg_auth_members a \
             JOIN pg_catalog.pg_roles m ON m.oid = a.member JOIN pg_catalog.pg_roles g ON g.oid = a.roleid \
             WHERE m.rolname LIKE ANY ($1)",
            &[&patterns],
        )
        .unwrap();
    for row in memberships {
        let (member, group): (String, String) = (row.get(0), row.get(1));
        let own_owner =
            ids.iter().any(|id| group == format!("addons_{id}") && member.starts_with(&format!("{group}_")));
        if !own_owner {
            found.push(format!("{member} member of {group}"));
        }
    }
    found.sort();
    found
}

/// The login roles of slot `slot` of addon `id`: `addons_<id>_<slot>_<generation>`.
fn slot_logins(superuser: &str, id: &str, slot: u32) -> Vec<String> {
    let pattern = format!("addons\\_{id}\\_{slot}\\_%");
    let rows = connect_postgres(superuser)
        .unwrap()
        .query("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname LIKE $1 ORDER BY 1", &[&pattern])
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// What the attacker set on its database itself, as `pg_database` holds it: connections
/// allowed, connection limit, template flag, privileges; and its settings.
fn database_as_set(superuser: &str, database: &str) -> String {
    let row = connect_postgres(superuser)
        .unwrap()
        .query_one(
            "SELECT d.datallowconn::text || ' ' || d.datconnlimit || ' ' || d.datistemplate::text || ' ' || \
               coalesce(d.datacl::text, '-') || ' ' || coalesce((SELECT s.setconfig::text \
               FROM pg_catalog.pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '-') \
             FROM pg_catalog.pg_database d WHERE d.datname = $1",
            &[&database],
        )
        .unwrap();
    row.get(0)
}

/// Removes, as the superuser, whatever a test made that carries one of its addon ids,
/// hostile databases and any power a role gained included.
struct Sweep {
    superuser: String,
    ids: Vec<String>,
    roles: Vec<String>,
}

impl Sweep {
    fn new(superuser: &str) -> Sweep {
        Sweep { superuser: superuser.to_string(), ids: Vec::new(), roles: Vec::new() }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let Ok(mut admin) = connect_postgres(&self.superuser) else { return };
        for id in &self.ids {
            let pattern = format!("%{id}%");
            let _ = admin.execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
                 WHERE (datname LIKE $1 OR usename LIKE $1) AND pid <> pg_catalog.pg_backend_pid()",
                &[&pattern],
            );
            let databases =
                admin.query("SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE $1", &[&pattern]);
            for row in databases.unwrap_or_default() {
                let database: String = row.get(0);
                let _ = admin.batch_execute(&format!(
                    "ALTER DATABASE \"{database}\" IS_TEMPLATE false; \
                     ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"
                ));
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"));
            }
        }
        let mut roles = self.roles.clone();
        for id in &self.ids {
            let rows =
                admin.query("SELECT rolname FROM pg_catalog.pg_roles WHERE rolname LIKE $1", &[&format!("%{id}%")]);
            roles.extend(rows.unwrap_or_default().iter().map(|row| row.get::<_, String>(0)));
        }
        for role in roles {
            let _ = admin.batch_execute(&format!(
                "ALTER ROLE \"{role}\" NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS NOLOGIN"
            ));
            let _ = admin.batch_execute(&format!("DROP OWNED BY \"{role}\"; DROP ROLE IF EXISTS \"{role}\""));
        }
    }
}

/// The superuser URL of the test server, the admin URL the config names (the superuser's,
/// or a role that is only CREATEROLE and CREATEDB), and an env pointing at the latter.
struct Setup {
    superuser: String,
    env: TestEnv,
    sweep: Sweep,
}

/// `lesser`: the config names an admin that is not a superuser, made for the test.
fn setup(lesser: bool) -> Option<Setup> {
    let superuser = server("postgres", "the hostile tenant database tests")?;
    let mut sweep = Sweep::new(&superuser);
    let admin = match lesser {
        false => superuser.clone(),
        true => {
            let role = format!("lesser_{}", addons::names::generate_addon_id());
            sweep.roles.push(role.clone());
            let statement = format!("CREATE ROLE \"{role}\" LOGIN CREATEROLE CREATEDB PASSWORD 'lesser'");
            connect_postgres(&superuser).unwrap().batch_execute(&statement).unwrap();
            let mut url = url::Url::parse(&superuser).unwrap();
            url.set_username(&role).unwrap();
            url.set_password(Some("lesser")).unwrap();
            url.to_string()
        }
    };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    Some(Setup { superuser, env, sweep })
}

/// Functions, views and an operator named like the catalog's, in schema `trap`: each
/// first calls `trap.escalate()`, which tries to make `{role}` a superuser (and more)
/// after `SET ROLE NONE`, then does what the real one does. Run by the tenant itself, every
/// attempt fails quietly.
const LOOKALIKES: &str = r#"
CREATE SCHEMA trap;
CREATE FUNCTION trap.attempt(statement text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN EXECUTE statement; EXCEPTION WHEN OTHERS THEN NULL; END $$;
CREATE FUNCTION trap.escalate() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM trap.attempt('SET ROLE NONE');
  PERFORM trap.attempt('ALTER ROLE {role} SUPERUSER');
  PERFORM trap.attempt('ALTER ROLE {role} CREATEROLE');
  PERFORM trap.attempt('ALTER ROLE {role} CREATEDB');
  PERFORM trap.attempt('ALTER ROLE {role} REPLICATION');
  PERFORM trap.attempt('ALTER ROLE {role} BYPASSRLS');
  PERFORM trap.attempt('GRANT pg_read_server_files, pg_execute_server_program TO {role}');
  PERFORM trap.attempt('GRANT pg_signal_backend TO {role}');
  RETURN true;
END $$;
CREATE FUNCTION trap.pg_backend_pid() RETURNS integer LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.pg_backend_pid(); END $$;
CREATE FUNCTION trap.current_database() RETURNS name LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.current_database(); END $$;
CREATE FUNCTION trap.pg_terminate_backend(integer) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.pg_terminate_backend($1); END $$;
CREATE FUNCTION trap.pg_terminate_backend(integer, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.pg_terminate_backend($1, $2); END $$;
CREATE FUNCTION trap.pg_blocking_pids(integer) RETURNS integer[] LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.pg_blocking_pids($1); END $$;
CREATE FUNCTION trap.current_setting(text) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.current_setting($1); END $$;
CREATE FUNCTION trap.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.set_config($1, $2, $3); END $$;
CREATE FUNCTION trap.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.pg_get_userbyid($1); END $$;
CREATE FUNCTION trap.has_database_privilege(name, text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN pg_catalog.has_database_privilege($1, $2, $3); END $$;
CREATE FUNCTION trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM trap.escalate(); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.texteq);
CREATE VIEW trap.pg_stat_activity AS SELECT * FROM pg_catalog.pg_stat_activity WHERE trap.escalate();
CREATE VIEW trap.pg_settings AS SELECT * FROM pg_catalog.pg_settings WHERE trap.escalate();
CREATE VIEW trap.pg_roles AS SELECT * FROM pg_catalog.pg_roles WHERE trap.escalate();
CREATE VIEW trap.pg_database AS SELECT * FROM pg_catalog.pg_database WHERE trap.escalate();
CREATE VIEW trap.pg_shdepend AS SELECT * FROM pg_catalog.pg_shdepend WHERE trap.escalate();
CREATE VIEW trap.pg_locks AS SELECT * FROM pg_catalog.pg_locks WHERE trap.escalate();
"#;

/// Settings on the database that break or block a session that does not override them,
/// then some that change how statements read (the admin sets them aside too).
const BREAKERS: [&str; 15] = [
    "default_transaction_read_only = on",
    "statement_timeout = 1",
    "lock_timeout = 1",
    "idle_in_transaction_session_timeout = 1",
    "idle_session_timeout = 1",
    "exit_on_error = on",
    "local_preload_libraries = 'addons_no_such_library'",
    "default_transaction_isolation = serializable",
    "default_transaction_deferrable = on",
    "standard_conforming_strings = off",
    "row_security = off",
    "transform_null_equals = on",
    "DateStyle = 'SQL, DMY'",
    "check_function_bodies = off",
    "temp_tablespaces = 'addons_no_such_tablespace'",
];

/// What the attacker's own new sessions override, to live with its breakers.
const OWN_SESSION: &str = "-c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0 \
     -c idle_in_transaction_session_timeout=0 -c idle_session_timeout=0 -c exit_on_error=off \
     -c local_preload_libraries= -c default_transaction_isolation=read\\ committed";

/// The ways a database's owner can refuse connections to it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    AllowConnections,
    ConnectionLimit,
    RevokeConnect,
}

const REFUSALS: [Refusal; 3] = [Refusal::AllowConnections, Refusal::ConnectionLimit, Refusal::RevokeConnect];

impl Refusal {
    /// The statement that refuses connections to `database`, and the one that takes that back.
    fn statements(self, database: &str) -> (String, String) {
        match self {
            Refusal::AllowConnections => (
                format!("ALTER DATABASE {database} ALLOW_CONNECTIONS false"),
                format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"),
            ),
            Refusal::ConnectionLimit => (
                format!("ALTER DATABASE {database} CONNECTION LIMIT 0"),
                format!("ALTER DATABASE {database} CONNECTION LIMIT -1"),
            ),
            Refusal::RevokeConnect => (
                format!("REVOKE CONNECT ON DATABASE {database} FROM PUBLIC, {database}"),
                format!("GRANT CONNECT ON DATABASE {database} TO {database}"),
            ),
        }
    }
}

/// The attacker: its addon, a session in its own database opened before the database
/// turned hostile (settings apply to new sessions, and new ones may be refused), and one in
/// the admin database (which every role may connect to), from where it can refuse
/// connections to its own.
struct Attacker {
    tenant: Tenant,
    inside: postgres::Client,
    outside: postgres::Client,
    outside_url: String,
}

impl Attacker {
    fn new(tenant: Tenant, superuser: &str) -> Attacker {
        let inside = connect_postgres(&tenant.url).unwrap();
        let mut outside_url = url::Url::parse(&tenant.url).unwrap();
        outside_url.set_path(url::Url::parse(superuser).unwrap().path());
        let outside = connect_postgres(outside_url.as_str()).unwrap();
        Attacker { tenant, inside, outside, outside_url: outside_url.to_string() }
    }

    fn run(&mut self, sql: &str) {
        self.inside.batch_execute(sql).unwrap_or_else(|err| panic!("{sql}: {err:?}"));
    }

    fn run_outside(&mut self, sql: &str) {
        self.outside.batch_execute(sql).unwrap_or_else(|err| panic!("{sql}: {err:?}"));
    }

    /// Plants the lookalikes and puts them first on the database's search_path, and makes
    /// the database's sessions start as the attacker's role.
    fn plant_lookalikes(&mut self) {
        let role = self.tenant.role();
        self.run(&LOOKALIKES.replace("{role}", &role));
        self.run(&format!(
            "ALTER DATABASE {role} SET search_path = trap, pg_catalog, public; ALTER DATABASE {role} SET role = {role}"
        ));
    }

    /// Sets every breaker on the database, and makes it a template (which can't be dropped).
    fn break_sessions(&mut self) {
        let role = self.tenant.role();
        for setting in BREAKERS {
            self.run(&format!("ALTER DATABASE {role} SET {setting}"));
        }
        self.run(&format!("ALTER DATABASE {role} IS_TEMPLATE true"));
    }

    fn refuse(&mut self, refusal: Refusal) {
        self.run_outside(&refusal.statements(&self.tenant.role()).0);
    }

    fn allow(&mut self, refusal: Refusal) {
        self.run_outside(&refusal.statements(&self.tenant.role()).1);
    }

    /// A session that has refused connections once more in a transaction left open: it
    /// holds the database's row, so the admin's ALTER DATABASE waits for it.
    fn hold_the_refusal(&self) -> postgres::Client {
        let mut holding = connect_postgres(&self.outside_url).unwrap();
        let (refuse, _) = Refusal::AllowConnections.statements(&self.tenant.role());
        holding.batch_execute(&format!("BEGIN; {refuse}")).unwrap();
        holding
    }

    /// Grants `victim` what takes the admin into the attacker's database to take it back:
    /// privileges, default privileges, a policy; and leaves a transaction open that holds
    /// a lock on the table granted.
    fn grant_to(&mut self, victim: &Tenant) -> postgres::Client {
        let (table, victim) = (format!("bait_{}", victim.id), victim.role());
        self.run(&format!(
            "CREATE TABLE public.{table} (v int); GRANT SELECT ON public.{table} TO {victim}; \
             GRANT USAGE ON SCHEMA trap TO {victim}; \
             ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {victim}; \
             ALTER TABLE public.{table} ENABLE ROW LEVEL SECURITY; \
             CREATE POLICY readers ON public.{table} TO {victim} USING (true)"
        ));
        let mut config: postgres::Config = self.tenant.url.parse().unwrap();
        config.options(OWN_SESSION);
        let mut holding = config.connect(postgres::NoTls).unwrap();
        holding.batch_execute(&format!("BEGIN; LOCK TABLE public.{table} IN ACCESS EXCLUSIVE MODE")).unwrap();
        holding
    }
}

/// A fresh victim, granted things in the attacker's database, is deprovisioned: its
/// cleanup finishes and nothing of it is left, the attacker's database is as the attacker
/// set it, and no role gained anything.
fn victims_cleanup_finishes(setup: &mut Setup, attacker: &mut Attacker, app: &str, refusals: &[Refusal]) {
    let victim = tenant(&setup.env, &mut setup.sweep, app, &[]);
    let _holding = attacker.grant_to(&victim);
    for &refusal in refusals {
        attacker.refuse(refusal);
    }
    let holding_row = refusals.contains(&Refusal::AllowConnections).then(|| attacker.hold_the_refusal());
    let database = attacker.tenant.role();
    let before = database_as_set(&setup.superuser, &database);
    deprovisioned(&setup.env, &setup.superuser, &victim);
    assert_eq!(database_as_set(&setup.superuser, &database), before, "{refusals:?}: the attacker's settings changed");
    if let Some(mut holding_row) = holding_row {
        assert!(holding_row.batch_execute("SELECT 1").is_err(), "the session in the admin's way was not ended");
    }
    assert_eq!(
        gained(&setup.superuser, &setup.sweep.ids),
        Vec::<String>::new(),
        "after {app}'s cleanup ({refusals:?})"
    );
    for &refusal in refusals {
        attacker.allow(refusal);
    }
}

/// The paths where the admin runs statements in a tenant's database, against lookalikes
/// first on its search_path: another addon's cleanup, a rotation and a detach.
fn no_tenant_code_runs_as_the_admin(lesser: bool) {
    let Some(mut setup) = setup(lesser) else { return };
    let mut attacker =
        Attacker::new(tenant(&setup.env, &mut setup.sweep, "attacker", &["--name", "attacker-db"]), &setup.superuser);
    setup.env.ok(["attach", "attacker-db", "borrower", "--wait", "--timeout", "60s"]);
    attacker.plant_lookalikes();
    let superuser = setup.superuser.clone();

    victims_cleanup_finishes(&mut setup, &mut attacker, "victim", &[]);

    let id = attacker.tenant.id.clone();
    let (env, ids) = (&setup.env, &setup.sweep.ids);
    env.ok(["rotate", "attacker-db", "--app", "borrower", "--grace", "0", "--wait", "--timeout", "60s"]);
    assert_eq!(gained(&superuser, ids), Vec::<String>::new(), "after the rotation");
    assert_eq!(slot_logins(&superuser, &id, 1), [format!("addons_{id}_1_1")], "the rotated login is gone");

    env.ok(["detach", "attacker-db", "borrower", "--wait", "--timeout", "60s"]);
    assert_eq!(gained(&superuser, ids), Vec::<String>::new(), "after the detach");
    assert_eq!(slot_logins(&superuser, &id, 1), Vec::<String>::new(), "the detached login is gone");

    // A read-only app's login is made, rotated, checked and removed there as well, and
    // is a member of no role at any point.
    let reader_memberships = |generation: u32| {
        let login = format!("addons_{id}_2_{generation}");
        let rows = connect_postgres(&superuser)
            .unwrap()
            .query(
                "SELECT g.rolname FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles g ON g.oid = a.roleid \
                 WHERE a.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)",
                &[&login],
            )
            .unwrap();
        rows.iter().map(|row| row.get::<_, String>(0)).collect::<Vec<_>>()
    };
    env.ok(["attach", "attacker-db", "reader", "--read-only", "--wait", "--timeout", "60s"]);
    assert_eq!(gained(&superuser, ids), Vec::<String>::new(), "after the read-only attach");
    assert_eq!(reader_memberships(0), Vec::<String>::new());
    env.ok(["rotate", "attacker-db", "--app", "reader", "--grace", "0", "--wait", "--timeout", "60s"]);
    assert_eq!(slot_logins(&superuser, &id, 2), [format!("addons_{id}_2_1")], "the rotated read-only login is gone");
    assert_eq!(reader_memberships(1), Vec::<String>::new());
    let checked = env.json(["check", "attacker-db", "--json"]);
    assert!(checked[0]["error"].is_null(), "the check of a hostile database failed: {checked:#}");
    assert_eq!(gained(&superuser, ids), Vec::<String>::new(), "after the read-only login's check");
    env.ok(["detach", "attacker-db", "reader", "--wait", "--timeout", "60s"]);
    assert_eq!(slot_logins(&superuser, &id, 2), Vec::<String>::new(), "the detached read-only login is gone");

    let Attacker { tenant, inside, outside, .. } = attacker;
    drop((inside, outside));
    deprovisioned(env, &superuser, &tenant);
    assert_eq!(gained(&superuser, ids), Vec::<String>::new(), "after the attacker's own deprovision");
}

#[test]
fn postgres_no_tenant_code_runs_as_the_admin_on_a_cleanup_rotation_or_detach() {
    no_tenant_code_runs_as_the_admin(false);
}

#[test]
fn postgres_no_tenant_code_runs_as_an_admin_that_is_not_a_superuser() {
    no_tenant_code_runs_as_the_admin(true);
}

/// A database that breaks or refuses every session it can: another addon's cleanup still
/// finishes (each refusal alone, then all together), so does a detach, a copy of it is
/// still made, and its own deprovision still removes it.
fn a_hostile_database_holds_up_nothing(lesser: bool) {
    let Some(mut setup) = setup(lesser) else { return };
    let mut attacker =
        Attacker::new(tenant(&setup.env, &mut setup.sweep, "attacker", &["--name", "attacker-db"]), &setup.superuser);
    attacker.run("CREATE TABLE public.kept (v text); INSERT INTO public.kept VALUES ('copied')");
    // An attached app's login that made a table as itself: its detach must hand it over.
    setup.env.ok(["attach", "attacker-db", "borrower", "--wait", "--timeout", "60s"]);
    let borrower = setup.env.vars("borrower")["DATABASE_URL"].clone();
    connect_postgres(&borrower).unwrap().batch_execute("SET ROLE NONE; CREATE TABLE public.borrowed (v int)").unwrap();
    attacker.plant_lookalikes();
    attacker.break_sessions();
    let fresh = connect_postgres(&attacker.tenant.url).map(drop);
    assert!(fresh.is_err(), "a session that does not override the database's settings should fail to start");

    for (i, refusal) in REFUSALS.into_iter().enumerate() {
        victims_cleanup_finishes(&mut setup, &mut attacker, &format!("victim-{i}"), &[refusal]);
    }
    victims_cleanup_finishes(&mut setup, &mut attacker, "victim-all", &REFUSALS);

    for refusal in REFUSALS {
        attacker.refuse(refusal);
    }
    let database = attacker.tenant.role();
    let before = database_as_set(&setup.superuser, &database);
    setup.env.ok(["detach", "attacker-db", "borrower", "--wait", "--timeout", "60s"]);
    assert_eq!(slot_logins(&setup.superuser, &attacker.tenant.id, 1), Vec::<String>::new(), "the login is gone");
    assert_eq!(database_as_set(&setup.superuser, &database), before, "the attacker's settings changed");
    assert_eq!(gained(&setup.superuser, &setup.sweep.ids), Vec::<String>::new(), "after the detach");

    // The attacker's session stays open on its database: the copy is made by dump and restore.
    let copy = tenant(&setup.env, &mut setup.sweep, "copy", &["--name", "copy-db", "--from", "attacker-db"]);
    let log = setup.env.json(["log", "copy-db", "--json"]).to_string();
    assert!(log.contains("by pg_dump | pg_restore"), "{log}");
    assert_eq!(database_as_set(&setup.superuser, &database), before, "the attacker's settings changed");
    let mut client = connect_postgres(&copy.url).unwrap();
    let kept: String = client.query_one("SELECT v FROM public.kept", &[]).unwrap().get(0);
    assert_eq!(kept, "copied");
    drop(client);
    assert_eq!(gained(&setup.superuser, &setup.sweep.ids), Vec::<String>::new(), "after the copy");

    deprovisioned(&setup.env, &setup.superuser, &copy);
    let Attacker { tenant, inside, outside, .. } = attacker;
    drop((inside, outside));
    deprovisioned(&setup.env, &setup.superuser, &tenant);
    assert_eq!(gained(&setup.superuser, &setup.sweep.ids), Vec::<String>::new(), "after the attacker's deprovision");
}

#[test]
fn postgres_a_hostile_database_holds_up_no_cleanup_copy_or_removal() {
    a_hostile_database_holds_up_nothing(false);
}

#[test]
fn postgres_a_hostile_database_holds_up_nothing_for_an_admin_that_is_not_a_superuser() {
    a_hostile_database_holds_up_nothing(true);
}

/// Tenant code that runs while a copy is restored: a CHECK constraint's function tries to
/// step back to the session's user and make the source's role a superuser, and records
/// who it ran as.
const RESTORE_TRAP: &str = r#"
CREATE TABLE public.witnesses (database name, login name, acting name);
CREATE FUNCTION public.witness(v integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  BEGIN EXECUTE 'SET ROLE NONE'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'ALTER ROLE {role} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'ALTER ROLE {role} CREATEROLE'; EXCEPTION WHEN OTHERS THEN NULL; END;
  BEGIN EXECUTE 'GRANT pg_read_server_files TO {role}'; EXCEPTION WHEN OTHERS THEN NULL; END;
  INSERT INTO public.witnesses VALUES (pg_catalog.current_database(), session_user, current_user);
  RETURN v > 0;
END $$;
CREATE TABLE public.guarded (v integer CHECK (public.witness(v)));
INSERT INTO public.guarded VALUES (1), (2);
"#;

/// `provision --from` of a source in use restores its dump as the copy's own role: code in
/// the data runs as that role alone, and no role gains anything.
fn restore_runs_as_the_copys_role(lesser: bool) {
    let Some(mut setup) = setup(lesser) else { return };
    let source = tenant(&setup.env, &mut setup.sweep, "source", &["--name", "source-db"]);
    let mut session = connect_postgres(&source.url).unwrap();
    session.batch_execute(&RESTORE_TRAP.replace("{role}", &source.role())).unwrap();
    // A session open on the source: the copy is made by dump and restore.
    let copy = tenant(&setup.env, &mut setup.sweep, "copy", &["--name", "copy-db", "--from", "source-db"]);
    let log = setup.env.json(["log", "copy-db", "--json"]).to_string();
    assert!(log.contains("by pg_dump | pg_restore"), "{log}");
    assert_eq!(gained(&setup.superuser, &setup.sweep.ids), Vec::<String>::new(), "after the copy");
    let mut client = connect_postgres(&copy.url).unwrap();
    let rows = client
        .query(
            "SELECT DISTINCT login::text, acting::text FROM public.witnesses \
             WHERE database = pg_catalog.current_database()",
            &[],
        )
        .unwrap();
    let ran_as: Vec<(String, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    // The app's login, which becomes the copy's owner; the trap's SET ROLE NONE steps back to it.
    let login = format!("{}_0_0", copy.role());
    assert_eq!(ran_as, [(login.clone(), login)], "who the restore ran the source's code as");
    let guarded: i64 = client.query_one("SELECT count(*) FROM public.guarded", &[]).unwrap().get(0);
    assert_eq!(guarded, 2);
    drop((client, session));
    deprovisioned(&setup.env, &setup.superuser, &copy);
    deprovisioned(&setup.env, &setup.superuser, &source);
}

#[test]
fn postgres_a_copy_is_restored_as_its_own_role() {
    restore_runs_as_the_copys_role(false);
}

#[test]
fn postgres_a_copy_is_restored_as_its_own_role_for_an_admin_that_is_not_a_superuser() {
    restore_runs_as_the_copys_role(true);
}
