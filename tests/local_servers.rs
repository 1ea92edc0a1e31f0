//! Servers found on this machine the way their own clients find them (no
//! `[providers.NAME]` section), addons bound to the server they were made on, and
//! `providers add`. Runs the real binary against this machine's servers and against a
//! private PostgreSQL cluster and a private Redis started on ports of their own.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value;

use crate::common::cluster::{Cluster, CLUSTER_PASSWORD};
use crate::common::{readers, servers, Run, TestEnv};

/// `addons ARGS` with the machine's servers found as their clients find them, and
/// `vars` in the environment (a client's own variables: PGHOST, REDIS_URL, ...).
fn here(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let mut command = env.bare_command(args);
    command.env_remove("ADDONS_DISCOVER").env("ADDONS_STATE", &env.state);
    command.envs(vars.iter().copied());
    Run::from_output(command.output().expect("run addons"))
}

/// [`here`], which must succeed.
fn here_ok(env: &TestEnv, args: &[&str], vars: &[(&str, &str)]) -> Run {
    let run = here(env, args, vars);
    assert_eq!(run.code, 0, "addons {args:?}:\n{run}");
    run
}

/// The JSON document of `providers --json` for `provider`.
fn listed(env: &TestEnv, provider: &str, vars: &[(&str, &str)]) -> Value {
    let run = here_ok(env, &["providers", "--json"], vars);
    let all: Value = serde_json::from_str(&run.stdout).unwrap();
    all.as_array().unwrap().iter().find(|doc| doc["name"] == provider).unwrap().clone()
}

/// An app's one config var.
fn var(env: &TestEnv, app: &str, key: &str) -> String {
    let run = here_ok(env, &["env", app, "--json"], &[]);
    let vars: Value = serde_json::from_str(&run.stdout).unwrap();
    vars[key].as_str().unwrap_or_else(|| panic!("{key} in {vars}")).to_string()
}

/// Runs a client program; its stdout, trimmed, which it must print with success.
fn client(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap_or_else(|err| panic!("{program}: {err}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{program} {args:?}: {stdout}{stderr}");
    stdout.trim().to_string()
}

#[test]
fn an_empty_home_provisions_on_this_machines_servers_and_the_vars_log_in_with_their_clients() {
    let wanted = ["postgres", "mysql", "redis"];
    if wanted.iter().any(|provider| servers::server(provider, "the machine's own servers").is_none()) {
        return;
    }
    let env = TestEnv::on_sqlite_file();
    for provider in wanted {
        let doc = listed(&env, provider, &[]);
        assert_eq!(doc["status"], "ok", "{doc}");
        assert!(doc["found"].is_string(), "{doc}");
        let app = format!("app-{provider}");
        let run = here_ok(&env, &["provision", provider, &app, "--wait"], &[]);
        let note = format!("Note: no [providers.{provider}] section");
        assert_eq!(run.stderr.matches(&note).count(), 1, "{run}");
        // Said once: the next addon on that server does not say it again.
        let again = here_ok(&env, &["provision", provider, &format!("{app}-2"), "--wait"], &[]);
        assert!(!again.stderr.contains(&note), "{again}");
        let listed = here_ok(&env, &["info", run.stdout.trim(), "--json"], &[]);
        let info: Value = serde_json::from_str(&listed.stdout).unwrap();
        let server = info["server"].as_str().unwrap();
        assert!(server.starts_with(&format!("default {provider} ")), "{info}");
    }
    let pg = var(&env, "app-postgres", "DATABASE_URL");
    assert!(pg.starts_with("postgresql://addons_") && pg.contains("@127.0.0.1:5432/"), "{pg}");
    assert!(client("psql", &[&pg, "-Atc", "SELECT current_user"]).starts_with("addons_"));
    if let Some(readers) = readers::readers("psycopg on a found server's DATABASE_URL") {
        let said = readers::stdout_of(readers.select_one(&pg, "psycopg"));
        assert!(said.contains("psycopg 1"), "{said}");
    }
    let my = url::Url::parse(&var(&env, "app-mysql", "DATABASE_URL")).unwrap();
    let port = my.port().unwrap().to_string();
    let password = format!("-p{}", my.password().unwrap());
    let args = ["-h", my.host_str().unwrap(), "-P", &port, "-u", my.username(), &password, &my.path()[1..]];
    let user = client("mariadb", &[&args[..], &["-N", "-e", "SELECT CURRENT_USER()"]].concat());
    assert!(user.starts_with("addons_"), "{user}");
    let redis = var(&env, "app-redis", "REDIS_URL");
    assert_eq!(client("redis-cli", &["-u", &redis, "--no-auth-warning", "PING"]), "PONG");
    for provider in wanted {
        for app in [format!("app-{provider}"), format!("app-{provider}-2")] {
            here_ok(&env, &["deprovision", "--app", &app, "--wait"], &[]);
        }
    }
}

/// The id of addon `name`.
fn id_of(env: &TestEnv, name: &str) -> String {
    let run = here_ok(env, &["info", name, "--json"], &[]);
    serde_json::from_str::<Value>(&run.stdout).unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn pghost_pgport_pgservice_and_pgpass_each_lead_discovery_to_a_private_cluster() {
    let Some(cluster) = Cluster::start() else { return };
    let env = TestEnv::on_sqlite_file();
    let port = cluster.port.to_string();
    let socket = cluster.path("");
    let socket = socket.trim_end_matches('/');
    // PGHOST (a socket directory), PGPORT, PGUSER and PGPASSWORD.
    let vars =
        [("PGHOST", socket), ("PGPORT", port.as_str()), ("PGUSER", "postgres"), ("PGPASSWORD", CLUSTER_PASSWORD)];
    let doc = listed(&env, "postgres", &vars);
    assert_eq!(doc["status"], "ok", "{doc}");
    let how = format!("socket {socket} as role postgres, from PGHOST, PGPORT, PGUSER, PGPASSWORD");
    assert_eq!(doc["found"], how.as_str(), "{doc}");
    // A service in ~/.pg_service.conf, its password in ~/.pgpass.
    let home = env.root();
    std::fs::write(
        home.join(".pg_service.conf"),
        format!("[mine]\nhost=127.0.0.1\nport={port}\nuser=postgres\ndbname=postgres\n"),
    )
    .unwrap();
    std::fs::write(home.join(".pgpass"), format!("127.0.0.1:{port}:*:postgres:{CLUSTER_PASSWORD}\n")).unwrap();
    std::fs::set_permissions(home.join(".pgpass"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let service = [("PGSERVICE", "mine")];
    let doc = listed(&env, "postgres", &service);
    assert_eq!(doc["status"], "ok", "{doc}");
    let found = doc["found"].as_str().unwrap();
    assert!(
        found.starts_with(&format!("127.0.0.1:{port} as role postgres, from service mine and the password in ")),
        "{doc}"
    );
    let before = cluster.roles();
    let made =
        here_ok(&env, &["provision", "postgres", "svc", "--as", "svc", "--name", "on-cluster", "--wait"], &service);
    assert!(made.stderr.contains("using the server found at 127.0.0.1:"), "{made}");
    let id = id_of(&env, "on-cluster");
    assert!(cluster.roles().iter().any(|role| role.contains(&id)), "{:?}", cluster.roles());
    // Without the service, the machine's own server is found: the addon's deprovision
    // is refused, and nothing changes on either server.
    let refused = here(&env, &["deprovision", "on-cluster"], &[]);
    assert_eq!(refused.code, 1, "{refused}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused}");
    assert!(refused.stderr.contains("was made on the postgres provider's default server"), "{refused}");
    here_ok(&env, &["tick"], &[]);
    assert!(cluster.roles().iter().any(|role| role.contains(&id)));
    // Led back there, it goes.
    here_ok(&env, &["deprovision", "on-cluster", "--wait"], &service);
    assert_eq!(cluster.roles(), before);
}

/// A Redis of this test's own on a port of its own, killed on drop.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start() -> Option<PrivateRedis> {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--daemonize", "no", "--save", ""])
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(child) = child else {
            let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
            assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but redis-server is not installed");
            eprintln!("NOTICE: skipping a private redis: redis-server is not installed");
            return None;
        };
        let redis = PrivateRedis { child, port };
        for _ in 0..100 {
            if servers::connect_redis(&redis.url()).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the private redis-server on port {port} did not answer");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The ACL users named like an addon's.
    fn users(&self) -> Vec<String> {
        let mut con = servers::connect_redis(&self.url()).unwrap();
        let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut con).unwrap();
        users.into_iter().filter(|user| user.starts_with("addons_")).collect()
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_addon_on_each_of_two_servers_is_cleaned_up_on_its_own_and_never_on_the_other() {
    let Some(machine) = servers::server("redis", "two redis servers") else { return };
    let Some(private) = PrivateRedis::start() else { return };
    let env = TestEnv::on_sqlite_file();
    let there = private.url();
    let on_private = [("REDIS_URL", there.as_str())];
    let doc = listed(&env, "redis", &on_private);
    assert!(doc["found"].as_str().unwrap().ends_with(", from REDIS_URL"), "{doc}");
    here_ok(&env, &["provision", "redis", "web", "--name", "cache-private", "--wait"], &on_private);
    here_ok(&env, &["provision", "redis", "web", "--as", "other", "--name", "cache-machine", "--wait"], &[]);
    let (private_id, machine_id) = (id_of(&env, "cache-private"), id_of(&env, "cache-machine"));
    assert!(private.users().iter().any(|user| user.contains(&private_id)));
    assert!(!private.users().iter().any(|user| user.contains(&machine_id)));
    let machine_users = || -> Vec<String> {
        let mut con = servers::connect_redis(&machine).unwrap();
        redis::cmd("ACL").arg("USERS").query(&mut con).unwrap()
    };
    assert!(machine_users().iter().any(|user| user.contains(&machine_id)));
    // Each refuses while the config leads to the other server.
    let refused = here(&env, &["deprovision", "cache-private"], &[]);
    assert_eq!((refused.code, refused.stderr.lines().count()), (1, 1), "{refused}");
    let refused = here(&env, &["deprovision", "cache-machine"], &on_private);
    assert_eq!((refused.code, refused.stderr.lines().count()), (1, 1), "{refused}");
    assert!(private.users().iter().any(|user| user.contains(&private_id)));
    assert!(machine_users().iter().any(|user| user.contains(&machine_id)));
    // Each goes from its own server.
    here_ok(&env, &["deprovision", "cache-private", "--wait"], &on_private);
    assert!(private.users().is_empty(), "{:?}", private.users());
    assert!(machine_users().iter().any(|user| user.contains(&machine_id)));
    here_ok(&env, &["deprovision", "cache-machine", "--wait"], &[]);
    assert!(!machine_users().iter().any(|user| user.contains(&machine_id)));
}

#[test]
fn a_state_on_postgresql_refuses_an_unconfigured_server_provider_with_the_section_to_write() {
    let Some(env) = TestEnv::on_postgres("a shared state's refusal of discovery") else { return };
    let mut command = env.command(["provision", "postgres", "myapp"]);
    command.env_remove("ADDONS_DISCOVER");
    let run = Run::from_output(command.output().unwrap());
    assert_eq!(run.code, 2, "{run}");
    let (line, block) = run.stderr.split_once("\n\n").expect("a line, then the lines to paste");
    assert!(line.contains("the postgres provider is not configured, and the state on postgres://"), "{run}");
    assert!(line.contains(&format!("add to {} the lines", default_config(env.root()).display())), "{run}");
    let table: toml::Table = block.parse().expect("the lines to paste are TOML");
    assert!(table["providers"]["postgres"]["url"].as_str().unwrap().starts_with("postgres://"), "{run}");
}

/// The config file under `home`, where the binary looks by default.
fn default_config(home: &Path) -> PathBuf {
    home.join(".config/addons/config.toml")
}

#[test]
fn providers_add_checks_the_server_then_writes_a_section_that_reads_back() {
    if servers::server("mysql", "providers add").is_none() || servers::server("postgres", "providers add").is_none() {
        return;
    }
    let env = TestEnv::on_sqlite_file();
    let config = default_config(env.root());
    // A wrong password is refused before anything is written.
    let refused = here(&env, &["providers", "add", "mysql", "mysql://root:wrong-password@127.0.0.1:3306"], &[]);
    assert_eq!(refused.code, 1, "{refused}");
    assert!(refused.stderr.contains("nothing written to"), "{refused}");
    assert!(!refused.stderr.contains("wrong-password"), "{refused}");
    assert!(!config.exists());
    // So is a login that lacks the rights the provider needs.
    let admin = servers::server("mysql", "providers add").unwrap();
    let mut conn = servers::connect_mysql(&admin).unwrap();
    use mysql::prelude::Queryable as _;
    conn.query_drop("CREATE USER IF NOT EXISTS 'addons_test_weak'@'%' IDENTIFIED BY 'weak-pw'").unwrap();
    conn.query_drop("GRANT SELECT ON *.* TO 'addons_test_weak'@'%'").unwrap();
    let weak = here(&env, &["providers", "add", "mysql", "mysql://addons_test_weak:weak-pw@127.0.0.1:3306"], &[]);
    conn.query_drop("DROP USER 'addons_test_weak'@'%'").unwrap();
    assert_eq!(weak.code, 1, "{weak}");
    assert!(weak.stderr.contains("can't create users and databases"), "{weak}");
    assert!(!config.exists());
    // What the file had is kept.
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "# mine\n[apps.web]\non_change = \"true\"\n").unwrap();
    here_ok(&env, &["providers", "add", "postgres"], &[]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.starts_with("# mine\n[apps.web]\non_change = \"true\"\n\n[providers.postgres]\nurl = "), "{text}");
    assert_eq!(std::fs::metadata(&config).unwrap().permissions().mode() & 0o777, 0o600);
    // Read back with discovery off: the section is what configures the provider now.
    let mut command = env.bare_command(["providers", "--json"]);
    command.env("ADDONS_STATE", &env.state);
    let run = Run::from_output(command.output().unwrap());
    let all: Value = serde_json::from_str(&run.stdout).unwrap();
    let postgres = all.as_array().unwrap().iter().find(|doc| doc["name"] == "postgres").unwrap();
    assert_eq!((&postgres["status"], &postgres["found"]), (&Value::from("ok"), &Value::Null), "{postgres}");
    // A second add of it is refused, and the file is left as it was.
    let again = here(&env, &["providers", "add", "postgres"], &[]);
    assert_eq!(again.code, 2, "{again}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}

#[test]
fn two_configured_servers_keep_their_addons_and_a_changed_default_is_refused_until_it_leads_back() {
    let Some(machine) = servers::server("postgres", "two configured servers") else { return };
    let Some(cluster) = Cluster::start() else { return };
    let env = TestEnv::new();
    let both = |default: &str| {
        format!(
            "[providers.postgres]\nurl = \"{default}\"\n\n[providers.postgres.servers.analytics]\nurl = \"{}\"\n",
            cluster.url()
        )
    };
    env.write_config(&both(&machine));
    let doc = env.json(["providers", "--json"]);
    let postgres = doc.as_array().unwrap().iter().find(|doc| doc["name"] == "postgres").unwrap();
    assert_eq!(postgres["servers"][0]["name"], "analytics", "{postgres}");
    assert_eq!(postgres["servers"][0]["status"], "ok", "{postgres}");
    env.ok(["provision", "postgres", "web", "--name", "on-default", "--wait"]);
    env.ok(["provision", "postgres", "etl", "--name", "on-analytics", "--server", "analytics", "--wait"]);
    // An apply file names the server too.
    let file = env.root().join("addons.toml");
    let apply = "scope = \"reports\"\n[[addon]]\nname = \"from-apply\"\nprovider = \"postgres\"\napp = \"reports\"\nserver = \"analytics\"\n";
    std::fs::write(&file, apply).unwrap();
    env.ok(["apply", "-f", file.to_str().unwrap(), "--wait"]);
    let server = |name: &str| env.info(name)["server"].as_str().unwrap().to_string();
    assert!(server("on-default").starts_with("default postgres "), "{}", server("on-default"));
    assert!(server("on-analytics").starts_with("analytics postgres "), "{}", server("on-analytics"));
    assert!(server("from-apply").starts_with("analytics postgres "), "{}", server("from-apply"));
    let wide = env.ok(["list", "-o", "wide"]).stdout;
    assert!(wide.lines().next().unwrap().contains("SERVER"), "{wide}");
    assert!(
        wide.lines().any(|line| line.starts_with("on-analytics") && line.contains("analytics postgres ")),
        "{wide}"
    );
    let (default_id, analytics_id) = (
        env.info("on-default")["id"].as_str().unwrap().to_string(),
        env.info("on-analytics")["id"].as_str().unwrap().to_string(),
    );
    assert!(!servers::traces("postgres", &machine, &default_id).is_empty());
    assert!(cluster.roles().iter().any(|role| role.contains(&analytics_id)));
    assert!(!cluster.roles().iter().any(|role| role.contains(&default_id)));
    // The default server now leads to the cluster: the old addon's deprovision is refused
    // in one line, and neither server changes, a tick included.
    env.write_config(&both(&cluster.url()));
    let (machine_before, cluster_before) = (servers::traces("postgres", &machine, &default_id), cluster.roles());
    let line = env.fails(1, ["deprovision", "on-default"]);
    assert!(line.contains("addon on-default was made on the postgres provider's default server"), "{line}");
    env.ok(["tick"]);
    assert_eq!(env.info("on-default")["state"], "ready");
    assert_eq!((servers::traces("postgres", &machine, &default_id), cluster.roles()), (machine_before, cluster_before));
    // Led back, each addon goes from its own server.
    env.write_config(&both(&machine));
    env.ok(["deprovision", "on-default", "--wait"]);
    assert!(servers::traces("postgres", &machine, &default_id).is_empty());
    assert!(cluster.roles().iter().any(|role| role.contains(&analytics_id)));
    env.ok(["deprovision", "on-analytics", "from-apply", "--wait"]);
    assert!(cluster.roles().is_empty(), "{:?}", cluster.roles());
}

#[test]
fn an_addon_made_before_servers_were_recorded_records_its_server_at_its_next_step() {
    let Some(url) = servers::server("redis", "an addon without a recorded server") else { return };
    let env = TestEnv::with_config(&servers::config("redis", &url));
    env.ok(["provision", "redis", "web", "--name", "cache", "--wait"]);
    let recorded = env.info("cache")["server"].as_str().unwrap().to_string();
    assert!(recorded.starts_with("default redis 127.0.0.1:6379 "), "{recorded}");
    // As an addon made before the column was: no server.
    env.state_sql("UPDATE addons SET server = NULL");
    assert_eq!(env.info("cache")["server"], Value::Null);
    // A check is a step of its own: it goes to the configured server, and records it.
    env.ok(["check", "cache"]);
    assert_eq!(env.info("cache")["server"], recorded.as_str());
    env.ok(["deprovision", "cache", "--wait"]);
}
