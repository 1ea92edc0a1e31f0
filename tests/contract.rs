//! The provider contract, written once and run against every provider in the registry:
//! those that need no server always; the server providers against the servers named by
//! their ADDONS_TEST_<NAME>_URL (skipped with a notice when unset, unless
//! ADDONS_TEST_REQUIRE_SERVERS=1). How the contract sees a provider's resource (its
//! probe) is in [`setup`], keyed by registry name: a provider without one fails.

use crate::common;

use std::path::PathBuf;
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

use common::servers::{
    self, connect_mysql, connect_postgres, connect_rabbitmq, connect_redis, rabbitmq_round_trip, server, sqlite_traces,
    traces,
};
use common::{TestEnv, Vars};

/// What the contract needs to know about a provider's server, checked with its real client.
trait Probe {
    /// Uses the handed-out vars as an app would: writes something and reads it back.
    fn works(&self, vars: &Vars);
    /// Asserts that the first addon's credentials can't reach the second one's resource.
    fn isolated(&self, a: &Vars, b: &Vars);
    /// What exists on the server for this addon id (empty when nothing does).
    fn traces(&self, id: &str) -> Vec<String>;
}

/// The settings the binary reads from this environment's config file.
fn settings(env: &TestEnv) -> Settings {
    config::parse(&env.config, &std::fs::read_to_string(&env.config).unwrap()).unwrap()
}

/// The environment the binary gives its providers.
fn environment(env: &TestEnv) -> Environment {
    Environment { data_dir: env.data_dir() }
}

/// The providers this suite runs the contract against: every one in the registry.
pub(crate) fn providers() -> Vec<&'static str> {
    common::providers::names()
}

/// Given the environment of a run: the config file a provider needs there and how to
/// probe its resources.
type Setup = Box<dyn FnOnce(&TestEnv) -> (String, Box<dyn Probe>)>;

/// What the contract needs for `provider`, by registry name; `None` when its server is
/// not there to test against (with a notice). A provider it does not know fails.
fn setup(provider: &'static str) -> Option<Setup> {
    let server = |works: fn(&Vars), isolated: fn(&Vars, &Vars)| -> Option<Setup> {
        let admin = server(provider, "this server test")?;
        Some(Box::new(move |_: &TestEnv| {
            (servers::config(provider, &admin), Box::new(ServerProbe { provider, admin, works, isolated }) as _)
        }))
    };
    match provider {
        "secret" => Some(Box::new(|_: &TestEnv| (String::new(), Box::new(SecretProbe) as _))),
        "sqlite" => Some(Box::new(|env: &TestEnv| {
            let dir = env.root().join("files");
            (format!("[providers.sqlite]\ndir = {:?}\n", dir.display().to_string()), Box::new(SqliteProbe { dir }) as _)
        })),
        "postgres" => server(postgres_works, postgres_isolated),
        "mysql" => server(mysql_works, mysql_isolated),
        "redis" => server(redis_works, redis_isolated),
        "rabbitmq" => server(rabbitmq_works, rabbitmq_isolated),
        "mqtt" => server(mqtt_works, mqtt_isolated),
        "fake" => Some(Box::new(|env: &TestEnv| {
            (
                common::providers::serverless_config("fake"),
                Box::new(FakeProbe { dir: env.data_dir().join("fake") }) as _,
            )
        })),
        other => panic!("tests/contract.rs has no probe for provider {other:?}: add one to setup()"),
    }
}

/// Runs the whole contract against one provider, when it can be tested here.
pub(crate) fn contract(provider: &'static str) {
    let Some(setup) = setup(provider) else { return };
    let env = TestEnv::new();
    let (config, probe) = setup(&env);
    env.write_config(&config);
    let probe = &*probe;
    happy_path_isolation_and_cleanup(&env, provider, probe);
    every_operation_twice_is_once(&env, provider, probe);
    a_provider_error_ends_in_error_with_the_resource_cleaned_up(&env, provider, probe);
    an_attached_app_works_until_detached(&env, provider, probe);
    every_scheme_it_takes_is_handed_out_and_read(&env, provider, probe);
}

/// The contract for every provider, each in a thread of its own (named after it).
#[test]
fn every_provider_meets_the_contract() {
    let failed: Vec<&str> = std::thread::scope(|scope| {
        let running: Vec<_> = providers()
            .into_iter()
            .map(|provider| {
                let thread = std::thread::Builder::new().name(format!("contract::{provider}"));
                (provider, thread.spawn_scoped(scope, move || contract(provider)).expect("start a thread"))
            })
            .collect();
        running.into_iter().filter_map(|(provider, thread)| thread.join().is_err().then_some(provider)).collect()
    });
    assert!(failed.is_empty(), "the contract fails for {failed:?} (each one's panic is above)");
}

/// Attached to a second app, the addon works there too (with a login of its own where
/// the provider makes one); detached, that app's vars go and its login is refused while
/// the owner's works; deprovisioned, nothing of either is left.
fn an_attached_app_works_until_detached(env: &TestEnv, provider: &str, probe: &dyn Probe) {
    let addon = env.json(["provision", provider, "app-e", "--wait", "--timeout", "60s", "--json"]);
    let name = addon["name"].as_str().unwrap();
    let attached = env.json(["attach", name, "app-f", "--wait", "--timeout", "60s", "--json"]);
    assert_eq!(
        attached["attachments"],
        serde_json::json!([{"app": "app-f", "prefix": null, "state": "attached", "read_only": false}])
    );
    let (owner, other) = (env.vars("app-e"), env.vars("app-f"));
    assert_eq!(owner.keys().collect::<Vec<_>>(), other.keys().collect::<Vec<_>>());
    probe.works(&other);
    probe.works(&owner);
    let own_logins = providers::info(provider).unwrap().own_logins();
    assert_eq!(owner != other, own_logins, "{provider}: own logins {own_logins}, but the vars say otherwise");
    let detached = env.json(["detach", name, "app-f", "--wait", "--timeout", "60s", "--json"]);
    assert_eq!(detached["attachments"], serde_json::json!([]));
    assert!(env.vars("app-f").is_empty(), "the detached app kept its vars");
    if own_logins {
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe.works(&other)));
        assert!(refused.is_err(), "{provider}: the detached login still works");
    }
    probe.works(&owner);
    env.ok(["deprovision", name, "--wait", "--timeout", "60s"]);
    assert_eq!(probe.traces(addon["id"].as_str().unwrap()), Vec::<String>::new());
}

/// The SQLAlchemy driver `tests/readers` installs that reads a URL of `scheme`, for the
/// schemes those readers can connect with (the others are checked by their form).
fn installed_driver(scheme: &str) -> Option<&'static str> {
    match scheme {
        "postgresql" | "postgresql+psycopg" => Some("psycopg"),
        "mysql" | "mysql+pymysql" | "mariadb" | "mariadb+pymysql" => Some("pymysql"),
        _ => None,
    }
}

/// A URL of another scheme the suite's own clients read: the scheme up to its `+driver`.
fn without_driver(vars: &Vars, var: &str) -> Vars {
    let mut vars = vars.clone();
    let url = &vars[var];
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let plain = format!("{}://{rest}", scheme.split('+').next().unwrap());
    vars.insert(var.to_string(), plain);
    vars
}

/// Every scheme a provider's `scheme` param takes (as its registry entry declares them)
/// starts the URL it hands out, and that URL works; the schemes the installed drivers
/// read are connected with through SQLAlchemy (psycopg, PyMySQL), which runs SELECT 1.
/// A scheme is kept by a rotation, an attachment and a copy (`provision --from`), and a
/// scheme the provider does not take is refused with one line naming those it does,
/// with nothing made.
fn every_scheme_it_takes_is_handed_out_and_read(env: &TestEnv, provider: &str, probe: &dyn Probe) {
    let info = providers::info(provider).unwrap();
    let Some(param) = info.params.iter().find(|param| param.key == "scheme") else { return };
    let var = info.vars.iter().find(|var| var.ends_with("_URL")).expect("a provider with a scheme hands out a URL");
    let readers = common::readers::readers(&format!("reading {provider}'s URLs with SQLAlchemy"));
    let before = env.json(["list", "--json"]);
    let line = env.fails(2, ["provision", provider, "app-s", "--param", "scheme=gopher"]);
    assert!(line.contains("\"gopher\"") && line.contains(&param.values.join(", ")), "{line}");
    assert_eq!(env.json(["list", "--json"]), before, "a refused scheme made something");
    let mut made = Vec::new();
    for (i, scheme) in param.values.iter().enumerate() {
        let app = format!("app-s{i}");
        let addon = env.json([
            "provision",
            provider,
            &app,
            "--param",
            &format!("scheme={scheme}"),
            "--label",
            "schemes=1",
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ]);
        assert_eq!(addon["params"]["scheme"], *scheme);
        made.push(addon["id"].as_str().unwrap().to_string());
        let vars = env.vars(&app);
        assert!(
            vars[*var].starts_with(&format!("{scheme}://")),
            "{scheme}: handed out {}",
            vars[*var].rsplit('@').next().unwrap()
        );
        probe.works(&without_driver(&vars, var));
        if let (Some(readers), Some(driver)) = (&readers, installed_driver(scheme)) {
            let read = common::readers::stdout_of(readers.select_one(&vars[*var], driver));
            assert!(read.lines().all(|line| line.ends_with(" 1")) && read.contains("+"), "{scheme}: {read}");
        }
    }
    // The default is the first it takes; a rotation, an attachment and a copy keep a scheme.
    let plain = env.json([
        "provision",
        provider,
        "app-s-plain",
        "--label",
        "schemes=1",
        "--wait",
        "--timeout",
        "60s",
        "--json",
    ]);
    made.push(plain["id"].as_str().unwrap().to_string());
    assert!(env.vars("app-s-plain")[*var].starts_with(&format!("{}://", param.values[0])));
    let (scheme, app) = (param.values[param.values.len() - 1], format!("app-s{}", param.values.len() - 1));
    let name = env.json(["list", &app, "--json"])[0]["name"].as_str().unwrap().to_string();
    let before = env.vars(&app)[*var].clone();
    env.ok(["rotate", &name, "--grace", "0", "--wait", "--timeout", "60s"]);
    let after = env.vars(&app)[*var].clone();
    assert_ne!(before, after, "the rotation handed out the same login");
    assert!(after.starts_with(&format!("{scheme}://")), "the rotation changed the scheme");
    env.ok(["attach", &name, "app-s-attached", "--wait", "--timeout", "60s"]);
    assert!(env.vars("app-s-attached")[*var].starts_with(&format!("{scheme}://")), "the attachment changed the scheme");
    let built = providers::build(provider, &providers::configure(&settings(env)).unwrap(), &environment(env)).unwrap();
    if matches!(built.capabilities().copies, providers::Copies::By(_)) {
        let copy = env.json([
            "provision",
            provider,
            "app-s-copy",
            "--from",
            &name,
            "--label",
            "schemes=1",
            "--wait",
            "--timeout",
            "60s",
            "--json",
        ]);
        made.push(copy["id"].as_str().unwrap().to_string());
        assert_eq!(copy["params"]["scheme"], scheme, "the copy left its source's scheme");
        assert!(env.vars("app-s-copy")[*var].starts_with(&format!("{scheme}://")));
    }
    env.ok(["deprovision", "--selector", "schemes", "--wait", "--timeout", "60s"]);
    for id in made {
        assert_eq!(probe.traces(&id), Vec::<String>::new(), "left behind by {id}");
    }
}

fn happy_path_isolation_and_cleanup(env: &TestEnv, provider: &str, probe: &dyn Probe) {
    let a = env.json(["provision", provider, "app-a", "--wait", "--timeout", "60s", "--json"]);
    let b = env.json(["provision", provider, "app-b", "--wait", "--timeout", "60s", "--json"]);
    for addon in [&a, &b] {
        assert_eq!(addon["state"], "ready", "{addon}");
    }
    let (vars_a, vars_b) = (env.vars("app-a"), env.vars("app-b"));
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
    let gone = env.json(["deprovision", &name(&a), &name(&b), "--wait", "--timeout", "60s", "--json"]);
    for addon in gone.as_array().unwrap() {
        assert_eq!(addon["state"], "deprovisioned");
        assert_eq!(addon["cleanup"], "done");
    }
    for addon in [&a, &b] {
        assert_eq!(probe.traces(&id(addon)), Vec::<String>::new(), "left behind by {}", name(addon));
    }
    assert_eq!(env.json(["env", "app-a", "--format", "json"]), serde_json::json!({}));
}

fn every_operation_twice_is_once(env: &TestEnv, name: &str, probe: &dyn Probe) {
    let provider = providers::build(name, &providers::configure(&settings(env)).unwrap(), &environment(env)).unwrap();
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
    let settings = settings(env);
    let configs = providers::configure(&settings).unwrap();
    let real = providers::build(name, &configs, &environment(env)).unwrap();
    let engine = Engine::new(settings, configs, environment(env), Arc::new(AtomicBool::new(false)));
    engine.use_provider(name, Arc::new(RefusesCompletion(real)));
    let mut store = Store::open(&env.state).unwrap();
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
            lease: engine.lease(),
            labels: Default::default(),
            expires_at: None,
            source_id: None,
            backup_schedule: None,
            server: None,
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

// ---- sqlite -------------------------------------------------------------------------

struct SqliteProbe {
    dir: PathBuf,
}

fn sqlite_path(vars: &Vars) -> PathBuf {
    PathBuf::from(vars["DATABASE_URL"].strip_prefix("sqlite:///").expect("a sqlite:/// URL"))
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
        sqlite_traces(&self.dir, id)
    }
}

// ---- fake ---------------------------------------------------------------------------

/// The fake provider's resources: files named by addon id in its directory, each holding
/// the URL handed out.
struct FakeProbe {
    dir: PathBuf,
}

impl Probe for FakeProbe {
    fn works(&self, vars: &Vars) {
        let url = &vars["FAKE_URL"];
        let id = url.strip_prefix("fake://fake.example/").unwrap_or_else(|| panic!("FAKE_URL is {url}"));
        assert_eq!(std::fs::read_to_string(self.dir.join(id)).ok().as_ref(), Some(url), "no resource for {url}");
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        assert_ne!(a["FAKE_URL"], b["FAKE_URL"]);
    }
    fn traces(&self, id: &str) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .map(|entry| entry.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(id))
            .collect()
    }
}

// ---- the server providers ----------------------------------------------------------

/// A server provider's probe: how an app uses its vars, and its server's admin URL.
struct ServerProbe {
    provider: &'static str,
    admin: String,
    works: fn(&Vars),
    isolated: fn(&Vars, &Vars),
}

impl Probe for ServerProbe {
    fn works(&self, vars: &Vars) {
        (self.works)(vars)
    }
    fn isolated(&self, a: &Vars, b: &Vars) {
        (self.isolated)(a, b)
    }
    fn traces(&self, id: &str) -> Vec<String> {
        traces(self.provider, &self.admin, id)
    }
}

// ---- postgres -----------------------------------------------------------------------

fn postgres_works(vars: &Vars) {
    let mut client = connect_postgres(&vars["DATABASE_URL"]).expect("the handed-out DATABASE_URL connects");
    client.batch_execute("CREATE TABLE IF NOT EXISTS t (v TEXT); INSERT INTO t VALUES ('hello')").unwrap();
    let row = client.query_one("SELECT v FROM t LIMIT 1", &[]).unwrap();
    assert_eq!(row.get::<_, String>(0), "hello");
}

fn postgres_isolated(a: &Vars, b: &Vars) {
    let mut cross = url::Url::parse(&a["DATABASE_URL"]).unwrap();
    let other_db = url::Url::parse(&b["DATABASE_URL"]).unwrap().path().to_string();
    cross.set_path(&other_db);
    let err = connect_postgres(cross.as_str()).map(drop).expect_err("one addon's role connected to another's database");
    assert!(format!("{err:?}").contains("permission denied") || format!("{err:?}").contains("28"), "{err:?}");
}

// ---- mysql --------------------------------------------------------------------------

fn mysql_works(vars: &Vars) {
    use mysql::prelude::Queryable;
    let mut conn = connect_mysql(&vars["DATABASE_URL"]).expect("the handed-out DATABASE_URL connects");
    conn.query_drop("CREATE TABLE IF NOT EXISTS t (v TEXT)").unwrap();
    conn.query_drop("INSERT INTO t VALUES ('hello')").unwrap();
    let v: Option<String> = conn.query_first("SELECT v FROM t LIMIT 1").unwrap();
    assert_eq!(v.as_deref(), Some("hello"));
}

fn mysql_isolated(a: &Vars, b: &Vars) {
    use mysql::prelude::Queryable;
    let mut conn = connect_mysql(&a["DATABASE_URL"]).unwrap();
    let database =
        |vars: &Vars| url::Url::parse(&vars["DATABASE_URL"]).unwrap().path().trim_start_matches('/').to_string();
    let (own, other_db) = (database(a), database(b));
    let err = conn.query_drop(format!("SELECT * FROM `{other_db}`.t")).expect_err("cross-database read worked");
    assert!(format!("{err}").to_lowercase().contains("denied"), "{err}");
    // Nothing beyond its own database: none seen, none granted, none it can create.
    let mut seen: Vec<String> = conn.query("SHOW DATABASES").unwrap();
    seen.sort();
    assert_eq!(seen, [own.clone(), "information_schema".to_string()], "the addon's user sees other databases");
    let grants: Vec<String> = conn.query("SHOW GRANTS").unwrap();
    let own_grant = format!("GRANT ALL PRIVILEGES ON `{}`.* TO ", own.replace('_', "\\_"));
    for grant in grants.iter().map(|grant| grant.split(" IDENTIFIED BY").next().unwrap_or_default()) {
        assert!(grant.starts_with("GRANT USAGE ON *.* TO ") || grant.starts_with(&own_grant), "granted: {grant}");
    }
    let id = own.trim_start_matches("addons_");
    for beyond in [format!("addonsX{id}"), format!("addons_{id}x"), format!("{other_db}x")] {
        if conn.query_drop(format!("CREATE DATABASE `{beyond}`")).is_ok() {
            conn.query_drop(format!("DROP DATABASE `{beyond}`")).unwrap();
            panic!("the addon's user could create database {beyond}");
        }
    }
}

// ---- redis --------------------------------------------------------------------------

fn redis_works(vars: &Vars) {
    let mut conn = connect_redis(&vars["REDIS_URL"]).expect("the handed-out REDIS_URL connects");
    let key = format!("{}greeting", vars["REDIS_KEY_PREFIX"]);
    redis::cmd("SET").arg(&key).arg("hello").query::<()>(&mut conn).unwrap();
    let v: String = redis::cmd("GET").arg(&key).query(&mut conn).unwrap();
    assert_eq!(v, "hello");
}

// ---- rabbitmq -----------------------------------------------------------------------

fn rabbitmq_works(vars: &Vars) {
    rabbitmq_round_trip(&vars["RABBITMQ_URL"]).expect("the handed-out RABBITMQ_URL publishes and gets");
}

fn rabbitmq_isolated(a: &Vars, b: &Vars) {
    let mut url = url::Url::parse(&a["RABBITMQ_URL"]).unwrap();
    url.set_path(url::Url::parse(&b["RABBITMQ_URL"]).unwrap().path());
    let err = connect_rabbitmq(url.as_str()).map(drop).expect_err("opened another addon's vhost");
    assert!(err.to_string().contains("ACCESS_REFUSED") || err.to_string().contains("access"), "{err}");
    let mut url = url::Url::parse(&a["RABBITMQ_URL"]).unwrap();
    url.set_path("/%2F");
    connect_rabbitmq(url.as_str()).map(drop).expect_err("opened the default vhost");
}

// ---- mqtt ---------------------------------------------------------------------------

fn mqtt_works(vars: &Vars) {
    common::mosquitto::round_trip(&vars["MQTT_URL"], &vars["MQTT_TOPIC_PREFIX"])
        .expect("the handed-out MQTT_URL publishes and receives under MQTT_TOPIC_PREFIX");
}

fn mqtt_isolated(a: &Vars, b: &Vars) {
    assert_ne!(a["MQTT_TOPIC_PREFIX"], b["MQTT_TOPIC_PREFIX"]);
    let mut session = common::mosquitto::connect(&a["MQTT_URL"], None).expect("the handed-out MQTT_URL connects");
    for filter in [format!("{}#", b["MQTT_TOPIC_PREFIX"]), "#".to_string(), "addons/#".to_string()] {
        assert_eq!(session.subscribe(&filter), Ok(false), "one addon's client subscribed to {filter}");
    }
}

fn redis_isolated(a: &Vars, b: &Vars) {
    let mut conn = connect_redis(&a["REDIS_URL"]).unwrap();
    let key = format!("{}greeting", b["REDIS_KEY_PREFIX"]);
    let err = redis::cmd("GET").arg(&key).query::<Option<String>>(&mut conn).expect_err("read another's key");
    assert!(format!("{err}").contains("NOPERM"), "{err}");
    let err = redis::cmd("FLUSHALL").query::<()>(&mut conn).expect_err("FLUSHALL was allowed");
    assert!(format!("{err}").contains("NOPERM"), "{err}");
}
