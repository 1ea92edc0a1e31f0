//! One tenant can't hurt another. Each test acts as an attacker holding the DATABASE_URL an
//! addon hands out (`addons env APP --format json`), against the real servers named by
//! ADDONS_TEST_POSTGRES_URL and ADDONS_TEST_MYSQL_URL, and checks that the tenant can
//! create, reach, lock or pin nothing of another addon, and that deprovision leaves
//! nothing behind. Every object a test makes carries an addon id and is swept up at the
//! end, also when the test fails.

use crate::common;

use addons::addon::{new_seed, Params, Resource};
use addons::config;
use addons::providers::{self, Environment};
use mysql::prelude::Queryable;

use common::servers::{self, connect_mysql, connect_postgres, server, traces};
use common::TestEnv;

/// An addon as its tenant sees it.
struct Tenant {
    name: String,
    id: String,
    url: String,
}

impl Tenant {
    /// The role, user and database name of the addon, `addons_<id>`.
    fn resource(&self) -> String {
        format!("addons_{}", self.id)
    }
}

/// Provisions an addon for `app` and takes its DATABASE_URL as the app would.
fn tenant(env: &TestEnv, provider: &str, app: &str) -> Tenant {
    let addon = env.provision_ready(provider, app, &["--timeout", "60s"]);
    let text = |key: &str| addon[key].as_str().unwrap_or_else(|| panic!("no {key} in {addon}")).to_string();
    Tenant { name: text("name"), id: text("id"), url: env.vars(app)["DATABASE_URL"].clone() }
}

/// Deprovisions an addon through the binary and asserts that nothing of it is left.
fn deprovision(env: &TestEnv, provider: &str, admin: &str, tenant: &Tenant) {
    let gone = env.json(["deprovision", &tenant.name, "--wait", "--timeout", "60s", "--json"]);
    assert_eq!((&gone["state"], &gone["cleanup"]), (&"deprovisioned".into(), &"done".into()), "{gone}");
    assert_eq!(traces(provider, admin, &tenant.id), Vec::<String>::new(), "left behind by {}", tenant.name);
}

/// The same URL on another database.
fn on_database(url: &str, database: &str) -> String {
    let mut url = url::Url::parse(url).expect("a handed-out URL parses");
    url.set_path(&format!("/{database}"));
    url.to_string()
}

/// Removes, as the admin, whatever a test made that carries one of its addon ids, so a
/// failing test leaves the shared servers as it found them.
struct Sweep {
    provider: &'static str,
    admin: String,
    ids: Vec<String>,
}

impl Sweep {
    fn new(provider: &'static str, admin: &str, tenants: &[&Tenant]) -> Sweep {
        Sweep { provider, admin: admin.to_string(), ids: tenants.iter().map(|t| t.id.clone()).collect() }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        if self.provider == "postgres" {
            let Ok(mut admin) = connect_postgres(&self.admin) else { return };
            for id in &self.ids {
                let pattern = format!("%{id}%");
                let _ = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE (datname LIKE $1 OR usename LIKE $1) AND pid <> pg_backend_pid()",
                    &[&pattern],
                );
                let databases = admin.query("SELECT datname FROM pg_database WHERE datname LIKE $1", &[&pattern]);
                for row in databases.unwrap_or_default() {
                    let database: String = row.get(0);
                    let _ = admin.batch_execute(&format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"));
                    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"));
                }
            }
            for id in &self.ids {
                // The owner, and the logins of the addon (its own app's too).
                let logins =
                    admin.query("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", &[&format!("addons\\_{id}\\_%")]);
                let mut roles = vec![format!("addons_{id}")];
                roles.extend(logins.unwrap_or_default().iter().map(|row| row.get::<_, String>(0)));
                for role in roles {
                    let _ = admin.batch_execute(&format!("DROP OWNED BY \"{role}\""));
                    let _ = admin.batch_execute(&format!("DROP ROLE IF EXISTS \"{role}\""));
                }
            }
        } else {
            let Ok(mut admin) = connect_mysql(&self.admin) else { return };
            for id in &self.ids {
                let pattern = format!("%{id}%");
                let users: Vec<String> =
                    admin.exec("SELECT host FROM mysql.user WHERE user LIKE ?", (&pattern,)).unwrap_or_default();
                for host in users {
                    let _ = admin.query_drop(format!("DROP USER IF EXISTS `addons_{id}`@`{host}`"));
                }
                let databases: Vec<String> = admin
                    .exec("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", (&pattern,))
                    .unwrap_or_default();
                for database in databases {
                    let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS `{database}`"));
                }
            }
        }
    }
}

// ---- postgres -----------------------------------------------------------------------

/// The admin URL of the postgres test server and a config pointing at it, or `None` (skip).
fn postgres_env(skipping: &str) -> Option<(String, TestEnv)> {
    let admin = server("postgres", skipping)?;
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    Some((admin, env))
}

/// Two postgres tenants, A and B, swept up when dropped.
struct Pair {
    admin: String,
    env: TestEnv,
    a: Tenant,
    b: Tenant,
    _sweep: Sweep,
}

fn postgres_pair() -> Option<Pair> {
    let (admin, env) = postgres_env("the postgres tenant tests")?;
    // Swept as soon as each exists, so a failure to make B still sweeps A.
    let mut sweep = Sweep::new("postgres", &admin, &[]);
    let a = tenant(&env, "postgres", "app-a");
    sweep.ids.push(a.id.clone());
    let b = tenant(&env, "postgres", "app-b");
    sweep.ids.push(b.id.clone());
    Some(Pair { admin, env, a, b, _sweep: sweep })
}

/// Takes the advisory lock earlier versions of the provider took for `victim`'s addon, in
/// the admin database that every role may connect to, as `attacker`; held until dropped.
fn hold_the_old_advisory_lock(attacker: &Tenant, victim: &Tenant) -> postgres::Client {
    let mut session = connect_postgres(&on_database(&attacker.url, "postgres"))
        .expect("a tenant can connect to the admin database (PUBLIC has CONNECT)");
    session.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&victim.resource()]).unwrap();
    session
}

#[test]
fn postgres_a_tenant_cannot_hold_up_anothers_deprovision() {
    let Some(Pair { admin, env, a, b, _sweep }) = postgres_pair() else { return };
    let mut locking = hold_the_old_advisory_lock(&a, &b);
    // A transaction left open after granting B something holds a lock on B's role.
    let mut granting = connect_postgres(&a.url).unwrap();
    granting.batch_execute("CREATE TABLE bait (v int)").unwrap();
    granting.batch_execute(&format!("BEGIN; GRANT SELECT ON bait TO {}", b.resource())).unwrap();

    deprovision(&env, "postgres", &admin, &b);
    locking.batch_execute("SELECT 1").expect("A's session that blocked nothing is left alone");
    let mut again = connect_postgres(&a.url).expect("A still logs in");
    assert_eq!(again.query_one("SELECT count(*) FROM bait", &[]).unwrap().get::<_, i64>(0), 0);
    drop((locking, granting, again));
    deprovision(&env, "postgres", &admin, &a);
}

#[test]
fn postgres_a_role_being_removed_can_not_log_in_while_its_removal_is_held_up() {
    let Some(Pair { admin, env, a, b, _sweep }) = postgres_pair() else { return };
    let _locking = hold_the_old_advisory_lock(&a, &b);
    // No tenant can lock B's database; the admin can, and so holds up its DROP DATABASE.
    let mut stall = connect_postgres(&admin).unwrap();
    let hold = format!("BEGIN; COMMENT ON DATABASE {} IS 'held up by tests/tenants.rs'", b.resource());
    stall.batch_execute(&hold).unwrap_or_else(|err| panic!("{err:?}"));

    let run = env.run(["deprovision", &b.name, "--wait", "--timeout", "8s"]);
    assert_eq!(run.code, 3, "the removal should still be held up:\n{run}");
    assert!(traces("postgres", &admin, &b.id).contains(&format!("database {}", b.resource())));
    let err = connect_postgres(&b.url).map(drop).expect_err("B's role still logs in once its deprovision began");
    let reason = err.as_db_error().map(|db| db.message().to_string()).unwrap_or_else(|| format!("{err:?}"));
    assert!(reason.contains("not permitted to log in"), "{reason}");

    stall.batch_execute("ROLLBACK").unwrap();
    env.ok(["wait", &b.name, "--timeout", "60s"]);
    assert_eq!(traces("postgres", &admin, &b.id), Vec::<String>::new());
    deprovision(&env, "postgres", &admin, &a);
}

#[test]
fn postgres_what_a_tenant_grants_another_does_not_pin_its_role() {
    let Some(Pair { admin, env, a, b, _sweep }) = postgres_pair() else { return };
    let mut client = connect_postgres(&a.url).unwrap();
    let grants = format!(
        "CREATE TABLE shared (v int); INSERT INTO shared VALUES (1); GRANT SELECT ON shared TO {b}; \
         CREATE SCHEMA lent; GRANT USAGE ON SCHEMA lent TO {b}; \
         ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO {b}; \
         ALTER DEFAULT PRIVILEGES IN SCHEMA lent GRANT ALL ON SEQUENCES TO {b}; \
         CREATE SEQUENCE counter; GRANT USAGE ON SEQUENCE counter TO {b}; \
         CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'; GRANT EXECUTE ON FUNCTION one() TO {b}; \
         ALTER TABLE shared ENABLE ROW LEVEL SECURITY; CREATE POLICY readers ON shared TO {b} USING (true); \
         GRANT CONNECT ON DATABASE {a} TO {b}",
        a = a.resource(),
        b = b.resource()
    );
    client.batch_execute(&grants).unwrap();
    // A transaction left open after changing the table B may read: taking back B's
    // privilege on it would wait for that transaction to end.
    client.batch_execute("BEGIN; ALTER TABLE shared ADD COLUMN w int").unwrap();

    deprovision(&env, "postgres", &admin, &b);
    let mut again = connect_postgres(&a.url).expect("A still logs in");
    assert_eq!(again.query_one("SELECT * FROM shared", &[]).unwrap().len(), 1, "the open change was rolled back");
    assert_eq!(again.query_one("SELECT v FROM shared", &[]).unwrap().get::<_, i32>(0), 1);
    assert_eq!(again.query_one("SELECT one() + nextval('counter')::int", &[]).unwrap().get::<_, i32>(0), 2);
    drop((client, again));
    deprovision(&env, "postgres", &admin, &a);
}

#[test]
fn postgres_a_role_that_can_not_be_dropped_names_the_databases_that_hold_it() {
    let Some((admin, env)) = postgres_env("the postgres tenant tests") else { return };
    let b = tenant(&env, "postgres", "app-b");
    let _sweep = Sweep::new("postgres", &admin, &[&b]);
    // A database no one can connect to, where B holds a privilege: nothing can take it back.
    let closed = format!("tenants_closed_{}", b.id);
    let mut client = connect_postgres(&admin).unwrap();
    client.batch_execute(&format!("CREATE DATABASE {closed}")).unwrap();
    let mut inside = connect_postgres(&on_database(&admin, &closed)).unwrap();
    inside.batch_execute(&format!("CREATE TABLE t (v int); GRANT SELECT ON t TO {}", b.resource())).unwrap();
    drop(inside);
    client.batch_execute(&format!("ALTER DATABASE {closed} ALLOW_CONNECTIONS false")).unwrap();

    // The cleanup fails for good until someone acts, so the wait stops and says what blocks it.
    let run = env.run(["deprovision", &b.name, "--wait", "--timeout", "60s"]);
    let expected =
        format!("can't drop role {}: it still owns objects or holds privileges in database {closed};", b.resource());
    assert_eq!(run.code, 1, "the role can't be dropped yet:\n{run}");
    assert!(run.stderr.contains(&expected), "{run}");
    let message = env.info(&b.name)["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains(&expected), "{message}");

    client.batch_execute(&format!("ALTER DATABASE {closed} ALLOW_CONNECTIONS true")).unwrap();
    env.ok(["wait", &b.name, "--timeout", "60s"]);
    assert_eq!(traces("postgres", &admin, &b.id), Vec::<String>::new());
    client.batch_execute(&format!("DROP DATABASE {closed}")).unwrap();
}

// ---- mysql --------------------------------------------------------------------------

/// The admin URL of the mysql test server and a config pointing at it, or `None` (skip).
fn mysql_env(skipping: &str) -> Option<(String, TestEnv)> {
    let admin = server("mysql", skipping)?;
    let env = TestEnv::with_config(&servers::config("mysql", &admin));
    Some((admin, env))
}

/// Every database on the server whose name holds the addon id, as the admin sees them.
fn databases_with_id(admin: &str, id: &str) -> Vec<String> {
    let mut conn = connect_mysql(admin).unwrap();
    conn.exec("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?", (format!("%{id}%"),))
        .unwrap()
}

/// Deprovisions a mysql addon and asserts that no database with its id is left, whatever its name.
fn deprovision_with_every_database(env: &TestEnv, admin: &str, tenant: &Tenant) {
    deprovision(env, "mysql", admin, tenant);
    assert_eq!(databases_with_id(admin, &tenant.id), Vec::<String>::new());
}

/// Names the unescaped grant `addons_<id>`.* matched (`_` is a wildcard), and names beside it.
fn names_beyond(id: &str) -> [String; 4] {
    [format!("addonsX{id}"), format!("addons-{id}"), format!("addons_{id}x"), format!("addons_{id}_2")]
}

/// Replaces the addon's grant by the unescaped one that earlier versions gave.
fn grant_the_old_way(admin: &str, name: &str) {
    let mut conn = connect_mysql(admin).unwrap();
    // An addons that already granted the old way has no escaped grant to take back (1141).
    match conn.query_drop(format!("REVOKE ALL PRIVILEGES ON `{}`.* FROM `{name}`@`%`", name.replace('_', "\\_"))) {
        Err(mysql::Error::MySqlError(err)) if err.code == 1141 => {}
        result => result.unwrap(),
    }
    conn.query_drop(format!("GRANT ALL PRIVILEGES ON `{name}`.* TO `{name}`@`%`")).unwrap();
}

/// Tries to create each database as the tenant; returns those it could create.
fn created_by(conn: &mut mysql::Conn, names: &[String]) -> Vec<String> {
    names.iter().filter(|name| conn.query_drop(format!("CREATE DATABASE `{name}`")).is_ok()).cloned().collect()
}

#[test]
fn mysql_a_tenant_can_create_no_database_beyond_its_own() {
    let Some((admin, env)) = mysql_env("the mysql tenant tests") else { return };
    let a = tenant(&env, "mysql", "app-a");
    let _sweep = Sweep::new("mysql", &admin, &[&a]);
    let mut conn = connect_mysql(&a.url).unwrap();
    assert_eq!(created_by(&mut conn, &names_beyond(&a.id)), Vec::<String>::new());
    let mut seen: Vec<String> = conn.query("SHOW DATABASES").unwrap();
    seen.sort();
    assert_eq!(seen, [a.resource(), "information_schema".to_string()]);
    drop(conn);
    deprovision_with_every_database(&env, &admin, &a);
}

#[test]
fn mysql_deprovision_removes_what_an_old_wildcard_grant_let_a_tenant_create() {
    let Some((admin, env)) = mysql_env("the mysql tenant tests") else { return };
    let a = tenant(&env, "mysql", "app-a");
    let _sweep = Sweep::new("mysql", &admin, &[&a]);
    grant_the_old_way(&admin, &a.resource());
    let mut conn = connect_mysql(&a.url).unwrap();
    let stray = format!("addonsX{}", a.id);
    let made = created_by(&mut conn, std::slice::from_ref(&stray));
    assert_eq!(made, [stray.as_str()], "the old grant should let the user make it");
    conn.query_drop(format!("CREATE TABLE `{stray}`.kept (v TEXT)")).unwrap();
    conn.query_drop(format!("INSERT INTO `{stray}`.kept VALUES ('data')")).unwrap();
    drop(conn);
    deprovision_with_every_database(&env, &admin, &a);
}

#[test]
fn mysql_provisioning_again_takes_back_an_old_wildcard_grant() {
    let Some((admin, env)) = mysql_env("the mysql tenant tests") else { return };
    let settings =
        providers::configure(&config::parse(&env.config, &std::fs::read_to_string(&env.config).unwrap()).unwrap())
            .unwrap();
    let provider = providers::build("mysql", &settings, &Environment { data_dir: env.data_dir() }).unwrap();
    let (id, params, seed) = (addons::names::generate_addon_id(), Params::new(), new_seed());
    let addon = Resource::new(&id, &params, &seed);
    let a = Tenant { name: String::new(), id: id.clone(), url: String::new() };
    let _sweep = Sweep::new("mysql", &admin, &[&a]);
    provider.begin_provision(addon).unwrap();
    grant_the_old_way(&admin, &a.resource());
    provider.begin_provision(addon).unwrap();

    let url = provider.get_config(addon).unwrap().remove(0).1;
    let mut conn = connect_mysql(&url).unwrap();
    assert_eq!(created_by(&mut conn, &names_beyond(&id)), Vec::<String>::new());
    let grants: Vec<String> = conn.query("SHOW GRANTS").unwrap();
    let wildcard = format!("ON `{}`.*", a.resource());
    assert!(!grants.iter().any(|grant| grant.contains(&wildcard)), "the wildcard grant is still held");
    drop(conn);
    provider.deprovision(addon).unwrap();
    assert_eq!(traces("mysql", &admin, &id), Vec::<String>::new());
    assert_eq!(databases_with_id(&admin, &id), Vec::<String>::new());
}
