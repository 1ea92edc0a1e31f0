//! The provider contract, written once and run against every provider: secret and
//! sqlite always; postgres, mysql and redis against the servers named by
//! ADDONS_TEST_POSTGRES_URL, ADDONS_TEST_MYSQL_URL and ADDONS_TEST_REDIS_URL (skipped
//! with a notice when unset, unless ADDONS_TEST_REQUIRE_SERVERS=1).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use addons::addon::{new_seed, Cleanup, Params, Resource};
use addons::config::{self, Settings};
use addons::engine::Engine;
use addons::machine::State;
use addons::names::generate_addon_id;
use addons::providers::{self, Environment, Provider, ProviderError, Readiness};
use addons::store::{now_ms, NewAddon, Store};
use serde_json::Value;

type Vars = BTreeMap<String, String>;

/// What the contract needs to know about a provider's server, checked with its real client.
trait Probe {
    /// Uses the handed-out vars as an app would: writes something and reads it back.
    fn works(&self, vars: &Vars);
    /// Asserts that the first addon's credentials can't reach the second one's resource.
    fn isolated(&self, a: &Vars, b: &Vars);
    /// What exists on the server for this addon id (empty when nothing does).
    fn traces(&self, id: &str) -> Vec<String>;
}

/// A temp dir with its own state and config file, driving the real binary.
struct TestEnv {
    dir: tempfile::TempDir,
}

impl TestEnv {
    fn new(config: &str) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        TestEnv { dir }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_addons"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("ADDONS_STATE", self.state())
            .env("ADDONS_CONFIG", self.dir.path().join("config.toml"))
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "addons {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("addons {args:?}: not JSON ({e})"))
    }

    fn settings(&self) -> Settings {
        let path = self.dir.path().join("config.toml");
        config::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn environment(&self) -> Environment {
        Environment { data_dir: self.dir.path().to_path_buf() }
    }
}

/// The server URL for a provider's tests, or `None` (with a notice) when there is none
/// to test against and servers are not required.
fn server(var: &str, reachable: impl Fn(&str) -> Result<(), String>) -> Option<String> {
    let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    let problem = match std::env::var(var) {
        Err(_) => format!("{var} is not set"),
        Ok(url) => match reachable(&url) {
            Ok(()) => return Some(url),
            Err(err) => format!("the server in {var} does not answer: {err}"),
        },
    };
    assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but {problem}");
    eprintln!("NOTICE: skipping this server test: {problem}");
    None
}

/// Runs the whole contract against one provider.
fn contract(provider: &str, config: &str, probe: &dyn Probe) {
    let env = TestEnv::new(config);
    happy_path_isolation_and_cleanup(&env, provider, probe);
    every_operation_twice_is_once(&env, provider, probe);
    a_provider_error_ends_in_error_with_the_resource_cleaned_up(&env, provider, probe);
}

fn happy_path_isolation_and_cleanup(env: &TestEnv, provider: &str, probe: &dyn Probe) {
    let a = env.json(&["provision", provider, "app-a", "--wait", "--timeout", "60s", "--json"]);
    let b = env.json(&["provision", provider, "app-b", "--wait", "--timeout", "60s", "--json"]);
    for addon in [&a, &b] {
        assert_eq!(addon["state"], "ready", "{addon}");
    }
    let vars = |app: &str| -> Vars { serde_json::from_value(env.json(&["env", app, "--format", "json"])).unwrap() };
    let (vars_a, vars_b) = (vars("app-a"), vars("app-b"));
    let declared = providers::info(provider).unwrap().vars;
    let mut declared = declared.to_vec();
    declared.sort_unstable();
    assert_eq!(vars_a.keys().map(String::as_str).collect::<Vec<_>>(), declared);
    probe.works(&vars_a);
    probe.works(&vars_b);
    probe.isolated(&vars_a, &vars_b);
    probe.isolated(&vars_b, &vars_a);
    let id = |addon: &Value| addon["id"].as_str().unwrap().to_string();
    let name = |addon: &Value| addon["name"].as_str().unwrap().to_string();
    let gone = env.json(&["deprovision", &name(&a), &name(&b), "--wait", "--timeout", "60s", "--json"]);
    for addon in gone.as_array().unwrap() {
        assert_eq!(addon["state"], "deprovisioned");
        assert_eq!(addon["cleanup"], "done");
    }
    for addon in [&a, &b] {
        assert_eq!(probe.traces(&id(addon)), Vec::<String>::new(), "left behind by {}", name(addon));
    }
    assert_eq!(env.json(&["env", "app-a", "--format", "json"]), serde_json::json!({}));
}

fn every_operation_twice_is_once(env: &TestEnv, name: &str, probe: &dyn Probe) {
    let provider = providers::build(name, &env.settings(), &env.environment()).unwrap();
    let (id, params, seed) = (generate_addon_id(), Params::new(), new_seed());
    let addon = Resource::new(&id, &params, &seed);
    provider.begin_provision(addon).unwrap();
    let traces = probe.traces(&id);
    provider.begin_provision(addon).unwrap();
    assert_eq!(probe.traces(&id), traces, "a second begin_provision changed what exists");
    let ready = |provider: &dyn Provider| {
        for _ in 0..100 {
            match provider.provision_complete(addon).unwrap() {
                Readiness::Ready => return,
                Readiness::NotReady { retry_after } => {
                    std::thread::sleep(retry_after.min(std::time::Duration::from_millis(200)))
                }
            }
        }
        panic!("{name} never became ready");
    };
    ready(&*provider);
    ready(&*provider);
    let config: Vars = provider.get_config(addon).unwrap().into_iter().collect();
    assert_eq!(provider.get_config(addon).unwrap().into_iter().collect::<Vars>(), config);
    probe.works(&config);
    provider.deprovision(addon).unwrap();
    assert_eq!(probe.traces(&id), Vec::<String>::new());
    provider.deprovision(addon).unwrap();
    assert_eq!(probe.traces(&id), Vec::<String>::new());
}

/// Wraps a real provider; `provision_complete` fails for good, as a server refusing would.
struct RefusesCompletion(Box<dyn Provider>);

impl Provider for RefusesCompletion {
    fn begin_provision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        self.0.begin_provision(addon)
    }
    fn provision_complete(&self, _addon: Resource<'_>) -> Result<Readiness, ProviderError> {
        Err(ProviderError::Permanent("permission denied (injected by the test)".into()))
    }
    fn get_config(&self, addon: Resource<'_>) -> Result<Vec<(String, String)>, ProviderError> {
        self.0.get_config(addon)
    }
    fn deprovision(&self, addon: Resource<'_>) -> Result<String, ProviderError> {
        self.0.deprovision(addon)
    }
    fn health(&self) -> Result<String, ProviderError> {
        self.0.health()
    }
}

fn a_provider_error_ends_in_error_with_the_resource_cleaned_up(env: &TestEnv, name: &str, probe: &dyn Probe) {
    let settings = env.settings();
    let engine = Engine::new(settings.clone(), env.environment(), Arc::new(AtomicBool::new(false)));
    let real = providers::build(name, &settings, &env.environment()).unwrap();
    engine.use_provider(name, Arc::new(RefusesCompletion(real)));
    let mut store = Store::open(&env.state()).unwrap();
    let id = generate_addon_id();
    let addon = store
        .insert_addon(&NewAddon {
            id: id.clone(),
            name: format!("failing-{}", &id[..6]),
            provider: name.into(),
            app: "app-failing".into(),
            prefix: None,
            params: Params::new(),
            seed: new_seed(),
            vars: providers::info(name).unwrap().vars.iter().map(|v| v.to_string()).collect(),
            deadline_at: now_ms() + 60_000,
            claim: engine.token().into(),
            claim_until: engine.claim_until(),
        })
        .unwrap();
    assert!(engine.begin(&mut store, &addon).unwrap().is_none(), "begin_provision itself should succeed");
    let only = [id.clone()];
    let first = engine.tick(&mut store, 1, Some(&only), &|_| {}).unwrap();
    assert_eq!(first.transitions.len(), 1);
    assert_eq!(first.transitions[0].to, State::Error);
    assert!(first.transitions[0].message.contains("permission denied"));
    // The cleanup is due from the moment of the failure; a tick claims what was due before it began.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let second = engine.tick(&mut store, 1, Some(&only), &|_| {}).unwrap();
    assert_eq!(second.transitions.len(), 1, "the orphan cleanup runs on the next tick");
    let addon = store.addon(&id).unwrap();
    assert_eq!((addon.state, addon.cleanup), (State::Error, Cleanup::Done));
    assert_eq!(probe.traces(&id), Vec::<String>::new(), "the orphan was left behind");
    assert!(store.config_vars("app-failing").unwrap().is_empty());
}

// ---- secret -------------------------------------------------------------------------

struct SecretProbe;

impl Probe for SecretProbe {
    fn works(&self, vars: &Vars) {
        let key = &vars["SECRET_KEY"];
        assert_eq!(key.len(), 100);
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        assert_ne!(a["SECRET_KEY"], b["SECRET_KEY"]);
    }
    fn traces(&self, _id: &str) -> Vec<String> {
        Vec::new()
    }
}

#[test]
fn secret_provider_meets_the_contract() {
    contract("secret", "", &SecretProbe);
}

// ---- sqlite -------------------------------------------------------------------------

struct SqliteProbe {
    dir: PathBuf,
}

fn sqlite_path(vars: &Vars) -> PathBuf {
    PathBuf::from(vars["DATABASE_URL"].strip_prefix("sqlite://").expect("a sqlite:// URL"))
}

impl Probe for SqliteProbe {
    fn works(&self, vars: &Vars) {
        let path = sqlite_path(vars);
        assert!(path.is_absolute() && path.starts_with(&self.dir), "{}", path.display());
        let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES ('hello');").unwrap();
        let v: String = conn.query_row("SELECT v FROM t LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(v, "hello");
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        assert_ne!(sqlite_path(a), sqlite_path(b));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(sqlite_path(a)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "other users can read the database file");
    }
    fn traces(&self, id: &str) -> Vec<String> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| self.dir.join(format!("{id}.db{suffix}")))
            .filter(|path| path.exists())
            .map(|path| path.display().to_string())
            .collect()
    }
}

#[test]
fn sqlite_provider_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    let config = format!("[providers.sqlite]\ndir = {:?}\n", files.display().to_string());
    contract("sqlite", &config, &SqliteProbe { dir: files });
}

// ---- postgres -----------------------------------------------------------------------

struct PostgresProbe {
    admin: String,
}

fn pg(url: &str) -> Result<postgres::Client, postgres::Error> {
    postgres::Client::connect(url, postgres::NoTls)
}

impl Probe for PostgresProbe {
    fn works(&self, vars: &Vars) {
        let mut client = pg(&vars["DATABASE_URL"]).expect("the handed-out DATABASE_URL connects");
        client.batch_execute("CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES ('hello')").unwrap();
        let row = client.query_one("SELECT v FROM t LIMIT 1", &[]).unwrap();
        assert_eq!(row.get::<_, String>(0), "hello");
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        let mut cross = url::Url::parse(&a["DATABASE_URL"]).unwrap();
        let other_db = url::Url::parse(&b["DATABASE_URL"]).unwrap().path().to_string();
        cross.set_path(&other_db);
        let err = pg(cross.as_str()).map(drop).expect_err("one addon's role connected to another's database");
        assert!(format!("{err:?}").contains("permission denied") || format!("{err:?}").contains("28"), "{err:?}");
    }
    fn traces(&self, id: &str) -> Vec<String> {
        let name = format!("addons_{id}");
        pg(&self.admin)
            .unwrap()
            .query(
                "SELECT 'role ' || rolname FROM pg_roles WHERE rolname = $1 \
                 UNION ALL SELECT 'database ' || datname FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

#[test]
fn postgres_provider_meets_the_contract() {
    let Some(admin) = server("ADDONS_TEST_POSTGRES_URL", |url| pg(url).map(drop).map_err(|e| e.to_string())) else {
        return;
    };
    let config = format!("[providers.postgres]\nurl = {admin:?}\n");
    contract("postgres", &config, &PostgresProbe { admin });
}

// ---- mysql --------------------------------------------------------------------------

struct MysqlProbe {
    admin: String,
}

fn my(url: &str) -> Result<mysql::Conn, mysql::Error> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    mysql::Conn::new(mysql::Opts::from_url(&url)?)
}

impl Probe for MysqlProbe {
    fn works(&self, vars: &Vars) {
        use mysql::prelude::Queryable;
        let mut conn = my(&vars["DATABASE_URL"]).expect("the handed-out DATABASE_URL connects");
        conn.query_drop("CREATE TABLE IF NOT EXISTS t (v TEXT)").unwrap();
        conn.query_drop("INSERT INTO t VALUES ('hello')").unwrap();
        let v: Option<String> = conn.query_first("SELECT v FROM t LIMIT 1").unwrap();
        assert_eq!(v.as_deref(), Some("hello"));
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        use mysql::prelude::Queryable;
        let mut conn = my(&a["DATABASE_URL"]).unwrap();
        let other_db = url::Url::parse(&b["DATABASE_URL"]).unwrap().path().trim_start_matches('/').to_string();
        let err = conn.query_drop(format!("SELECT * FROM `{other_db}`.t")).expect_err("cross-database read worked");
        assert!(format!("{err}").to_lowercase().contains("denied"), "{err}");
    }
    fn traces(&self, id: &str) -> Vec<String> {
        use mysql::prelude::Queryable;
        let name = format!("addons_{id}");
        let mut conn = my(&self.admin).unwrap();
        let mut found: Vec<String> =
            conn.exec("SELECT CONCAT('user ', user, '@', host) FROM mysql.user WHERE user = ?", (&name,)).unwrap();
        let dbs: Vec<String> = conn
            .exec(
                "SELECT CONCAT('database ', schema_name) FROM information_schema.schemata WHERE schema_name = ?",
                (&name,),
            )
            .unwrap();
        found.extend(dbs);
        found
    }
}

#[test]
fn mysql_provider_meets_the_contract() {
    let Some(admin) = server("ADDONS_TEST_MYSQL_URL", |url| my(url).map(drop).map_err(|e| e.to_string())) else {
        return;
    };
    let config = format!("[providers.mysql]\nurl = {admin:?}\n");
    contract("mysql", &config, &MysqlProbe { admin });
}

// ---- redis --------------------------------------------------------------------------

struct RedisProbe {
    admin: String,
}

fn rd(url: &str) -> redis::RedisResult<redis::Connection> {
    redis::Client::open(url)?.get_connection_with_timeout(std::time::Duration::from_secs(5))
}

impl Probe for RedisProbe {
    fn works(&self, vars: &Vars) {
        let mut conn = rd(&vars["REDIS_URL"]).expect("the handed-out REDIS_URL connects");
        let key = format!("{}greeting", vars["REDIS_KEY_PREFIX"]);
        redis::cmd("SET").arg(&key).arg("hello").query::<()>(&mut conn).unwrap();
        let v: String = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
        assert_eq!(v, "hello");
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        let mut conn = rd(&a["REDIS_URL"]).unwrap();
        let key = format!("{}greeting", b["REDIS_KEY_PREFIX"]);
        let err = redis::cmd("GET").arg(&key).query::<Option<String>>(&mut conn).expect_err("read another's key");
        assert!(format!("{err}").contains("NOPERM"), "{err}");
        let err = redis::cmd("FLUSHALL").query::<()>(&mut conn).expect_err("FLUSHALL was allowed");
        assert!(format!("{err}").contains("NOPERM"), "{err}");
    }
    fn traces(&self, id: &str) -> Vec<String> {
        let mut conn = rd(&self.admin).unwrap();
        let user = format!("addons_{id}");
        let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut conn).unwrap();
        let mut found: Vec<String> =
            users.into_iter().filter(|u| *u == user).map(|u| format!("ACL user {u}")).collect();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("addons:{id}:*")).query(&mut conn).unwrap();
        found.extend(keys.into_iter().map(|k| format!("key {k}")));
        found
    }
}

#[test]
fn redis_provider_meets_the_contract() {
    let Some(admin) = server("ADDONS_TEST_REDIS_URL", |url| rd(url).map(drop).map_err(|e| e.to_string())) else {
        return;
    };
    let config = format!("[providers.redis]\nurl = {admin:?}\n");
    contract("redis", &config, &RedisProbe { admin });
}
