//! Redis isolation beyond key patterns: an addon's ACL user is refused every command that
//! reveals other addons on the same server (counts, statistics, clients, subscribers, scripts)
//! or shares state with them, while an app's own work still runs; and `providers` and
//! `provision` warn about a server whose settings undo the isolation (no ACL file, a `default`
//! user without a password). Against ADDONS_TEST_REDIS_URL, and against private servers this
//! file starts and stops itself.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::Value;

use common::servers::{self, connect_redis, server, traces};
use common::{TestEnv, Vars};

/// What `providers` and `provision` say about a server without an ACL file.
const NO_ACL_FILE: &str = "the Redis server has no ACL file: the addons' ACL users live only in its memory and \
     vanish when it restarts, locking their apps out; set aclfile in its redis.conf (see README, Redis)";

/// What `providers` and `provision` say about a `default` user without a password.
const DEFAULT_NOPASS: &str = "the Redis server's default user has no password: any addon's credentials can AUTH \
     default and reach every key; set one with ACL SETUSER default on >PASSWORD (see README, Redis)";

/// A redis addon provisioned to ready; deprovisioned (and waited for) when dropped, so a
/// failing assertion leaves nothing behind on the server.
struct Addon<'a> {
    env: &'a TestEnv,
    name: String,
    id: String,
    vars: Vars,
    gone: bool,
}

impl<'a> Addon<'a> {
    fn provision(env: &'a TestEnv, app: &str) -> Addon<'a> {
        let addon = env.provision_ready("redis", app, &["--timeout", "60s"]);
        let text = |field: &str| addon[field].as_str().expect("a string field").to_string();
        Addon { env, name: text("name"), id: text("id"), vars: env.vars(app), gone: false }
    }

    fn url(&self) -> &str {
        &self.vars["REDIS_URL"]
    }

    /// `addons:<id>:` followed by `what`.
    fn key(&self, what: &str) -> String {
        format!("{}{what}", self.vars["REDIS_KEY_PREFIX"])
    }

    /// A fresh connection as the addon's user, through the REDIS_URL its app got.
    fn connect(&self) -> redis::Connection {
        let con = connect_redis(self.url()).expect("the handed-out REDIS_URL connects");
        con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        con
    }

    /// Deprovisions it and waits until the provider has removed its user and keys.
    fn deprovision(mut self) {
        self.gone = true;
        let done = self.env.json(["deprovision", &self.name, "--wait", "--timeout", "60s", "--json"]);
        assert_eq!((&done["state"], &done["cleanup"]), (&"deprovisioned".into(), &"done".into()), "{done:#}");
    }
}

impl Drop for Addon<'_> {
    fn drop(&mut self) {
        if !self.gone {
            self.env.run(["deprovision", &self.name, "--wait", "--timeout", "60s"]);
        }
    }
}

/// The config file for a redis server at `url`.
fn config(url: &str) -> String {
    servers::config("redis", url)
}

/// Runs `args` on `con`, each `{hole}` in them replaced by its value in `holes` (what the
/// other addon holds, or names under this addon's own prefix); the reply, or the error.
fn run(con: &mut redis::Connection, args: &[&str], holes: &[(&str, String)]) -> redis::RedisResult<Value> {
    let args: Vec<String> = args
        .iter()
        .map(|arg| holes.iter().fold(arg.to_string(), |arg, (hole, value)| arg.replace(hole, value)))
        .collect();
    redis::cmd(&args[0]).arg(&args[1..]).query(con)
}

/// Every command that would show an addon something about the others on its server, or let it
/// change what they share: each must be refused with NOPERM. Commands that would harm the
/// shared test server if the rules ever let them through (FLUSHALL, SHUTDOWN, CLIENT PAUSE,
/// SCRIPT FLUSH, ...) are not run here (tests/contract.rs tries FLUSHALL), nor DEBUG, which
/// Redis 7 refuses to everyone by default before any ACL check.
const REFUSED: &[&[&str]] = &[
    // How many keys every addon holds together, and every statistic of the server.
    &["DBSIZE"],
    &["INFO"],
    &["INFO", "server"],
    &["INFO", "clients"],
    &["INFO", "memory"],
    &["INFO", "persistence"],
    &["INFO", "stats"],
    &["INFO", "replication"],
    &["INFO", "cpu"],
    &["INFO", "commandstats"],
    &["INFO", "latencystats"],
    &["INFO", "errorstats"],
    &["INFO", "cluster"],
    &["INFO", "modules"],
    &["INFO", "keyspace"],
    &["INFO", "all"],
    &["INFO", "everything"],
    &["INFO", "default"],
    &["INFO", "server", "keyspace"],
    &["MEMORY", "STATS"],
    &["MEMORY", "DOCTOR"],
    &["MEMORY", "MALLOC-STATS"],
    &["MEMORY", "PURGE"],
    &["LATENCY", "LATEST"],
    &["LATENCY", "DOCTOR"],
    &["SLOWLOG", "GET"],
    &["LASTSAVE"],
    &["ROLE"],
    &["CONFIG", "GET", "*"],
    // Who else is connected, listening, or named on the server.
    &["CLIENT", "LIST"],
    &["CLIENT", "KILL", "USER", "{user}"],
    &["CLIENT", "UNBLOCK", "1"],
    &["CLIENT", "NO-EVICT", "on"],
    &["CLIENT", "TRACKING", "on", "BCAST"],
    &["ACL", "LIST"],
    &["ACL", "USERS"],
    &["ACL", "GETUSER", "{user}"],
    &["ACL", "LOG"],
    &["MONITOR"],
    &["PUBSUB", "NUMSUB", "{channel}"],
    &["PUBSUB", "NUMPAT"],
    &["PUBSUB", "CHANNELS"],
    &["PUBSUB", "SHARDCHANNELS"],
    &["PUBSUB", "SHARDNUMSUB", "{channel}"],
    &["PUBLISH", "{channel}", "hello"],
    &["SUBSCRIBE", "{channel}"],
    // The other addon's keys, by name or by walking the keyspace.
    &["GET", "{key}"],
    &["OBJECT", "FREQ", "{key}"],
    &["MEMORY", "USAGE", "{key}"],
    &["SCAN", "0"],
    &["RANDOMKEY"],
    &["KEYS", "*"],
    &["CLUSTER", "COUNTKEYSINSLOT", "0"],
    &["CLUSTER", "GETKEYSINSLOT", "0", "10"],
    // The script cache and the function libraries are one for the whole server.
    &["SCRIPT", "LOAD", "return 1"],
    &["SCRIPT", "EXISTS", "{sha}"],
    &["SCRIPT", "KILL"],
    &["EVAL", "return 1", "0"],
    &["EVAL_RO", "return 1", "0"],
    &["EVALSHA", "{sha}", "0"],
    &["EVALSHA_RO", "{sha}", "0"],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "DUMP"],
    &["FUNCTION", "LOAD", "#!lua name={intruder}\nredis.register_function('{intruder}', function() return 1 end)"],
    &["FUNCTION", "DELETE", "{library}"],
    &["FUNCTION", "KILL"],
    &["FCALL", "{function}", "0"],
    &["FCALL_RO", "{function}", "0"],
];

/// What an app does with its own keys and channels: each must still work.
const ALLOWED: &[&[&str]] = &[
    &["PING"],
    &["ECHO", "hello"],
    &["HELLO", "2"],
    &["CLIENT", "SETNAME", "worker-1"],
    &["CLIENT", "GETNAME"],
    &["CLIENT", "ID"],
    &["CLIENT", "INFO"],
    &["SELECT", "0"],
    &["TIME"],
    &["COMMAND", "COUNT"],
    &["ACL", "WHOAMI"],
    &["WAIT", "0", "0"],
    &["SET", "{own}counter", "41"],
    &["INCR", "{own}counter"],
    &["GET", "{own}counter"],
    &["EXPIRE", "{own}counter", "600"],
    &["TTL", "{own}counter"],
    &["EXISTS", "{own}counter"],
    &["TYPE", "{own}counter"],
    &["OBJECT", "ENCODING", "{own}counter"],
    &["MEMORY", "USAGE", "{own}counter"],
    &["RPUSH", "{own}list", "3", "1", "2"],
    &["SORT", "{own}list"],
    &["HSET", "{own}hash", "field", "value"],
    &["XADD", "{own}stream", "*", "field", "value"],
    &["DEL", "{own}list"],
    &["PUBLISH", "{own}events", "hello"],
];

#[test]
fn an_addon_is_refused_everything_that_reveals_or_shares_another_addons_state() {
    let Some(admin_url) = server("redis", "the redis isolation test") else { return };
    let env = TestEnv::with_config(&config(&admin_url));
    let a = Addon::provision(&env, "app-a");
    let b = Addon::provision(&env, "app-b");

    // B at work: keys, a subscriber that stays connected, a pattern subscription; and a script
    // and a function in the server's shared cache (loaded by the admin: an addon can't now).
    let mut b_con = b.connect();
    redis::cmd("SET").arg(b.key("secret")).arg("b's value").query::<()>(&mut b_con).unwrap();
    let channel = b.key("jobs");
    let mut b_subscriber = b.connect();
    let mut b_pubsub = b_subscriber.as_pubsub();
    b_pubsub.subscribe(&channel).unwrap();
    b_pubsub.psubscribe(b.key("*")).unwrap();
    let mut admin = connect_redis(&admin_url).unwrap();
    let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(format!("return '{}'", b.id)).query(&mut admin).unwrap();
    let library = format!("addons_test_{}", b.id);
    let code = format!("#!lua name={library}\nredis.register_function('{library}', function() return 1 end)");
    redis::cmd("FUNCTION").arg("LOAD").arg(&code).query::<()>(&mut admin).unwrap();
    let holes = [
        ("{key}", b.key("secret")),
        ("{channel}", channel.clone()),
        ("{sha}", sha),
        ("{library}", library.clone()),
        ("{function}", library.clone()),
        ("{user}", format!("addons_{}", b.id)),
        ("{own}", a.key("")),
        ("{intruder}", format!("addons_test_{}", a.id)),
    ];

    let mut leaks = Vec::new();
    for args in REFUSED {
        match run(&mut a.connect(), args, &holes) {
            Err(err) if err.code() == Some("NOPERM") => {}
            other => leaks.push(format!("{args:?} gave {}", shortened(&format!("{other:?}")))),
        }
    }
    let mut broken = Vec::new();
    for args in ALLOWED {
        if let Err(err) = run(&mut a.connect(), args, &holes) {
            broken.push(format!("{args:?} failed: {err}"));
        }
    }
    // A transaction, and a subscription to its own channel that receives what it publishes.
    let mut con = a.connect();
    let counted: redis::RedisResult<(i64, i64)> =
        redis::pipe().atomic().incr(a.key("tx"), 1).incr(a.key("tx"), 1).query(&mut con);
    if counted != Ok((1, 2)) {
        broken.push(format!("MULTI INCR INCR EXEC gave {counted:?}"));
    }
    let mut a_subscriber = a.connect();
    let mut a_pubsub = a_subscriber.as_pubsub();
    a_pubsub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    a_pubsub.subscribe(a.key("events")).unwrap();
    let published: redis::RedisResult<i64> = redis::cmd("PUBLISH").arg(a.key("events")).arg("hi").query(&mut con);
    let received = a_pubsub.get_message().map(|message| message.get_payload::<String>());
    if published != Ok(1) || !matches!(received, Ok(Ok(ref text)) if text == "hi") {
        broken.push(format!("PUBLISH to its own subscriber gave {published:?}, received {received:?}"));
    }
    // B's subscriber was still listening throughout, so NUMSUB had something to reveal.
    let numsub: Vec<Value> = redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query(&mut admin).unwrap();
    assert_eq!(numsub.get(1), Some(&Value::Int(1)), "B's subscriber was not listening");

    drop((a_pubsub, b_pubsub));
    // Either may be gone already, or never loaded: when the rules let A delete or load one.
    for library in [library, format!("addons_test_{}", a.id)] {
        let _ = redis::cmd("FUNCTION").arg("DELETE").arg(library).query::<()>(&mut admin);
    }
    let ids = [a.id.clone(), b.id.clone()];
    a.deprovision();
    b.deprovision();
    for id in ids {
        assert_eq!(traces("redis", &admin_url, &id), Vec::<String>::new());
    }
    assert!(leaks.is_empty(), "an addon's user ran commands that reach other addons:\n{}", leaks.join("\n"));
    assert!(broken.is_empty(), "an app's own work was refused:\n{}", broken.join("\n"));
}

/// The first 100 characters of a reply, enough to see what leaked.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

/// The warnings a redis server deserves, read from its settings.
fn expected_warnings(admin_url: &str) -> Vec<String> {
    let mut admin = connect_redis(admin_url).unwrap();
    let aclfile: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("aclfile").query(&mut admin).unwrap();
    let default: Vec<Value> = redis::cmd("ACL").arg("GETUSER").arg("default").query(&mut admin).unwrap();
    let flags: Vec<String> = redis::from_redis_value(&default[1]).unwrap();
    let mut warnings = Vec::new();
    if aclfile.get(1).is_none_or(String::is_empty) {
        warnings.push(NO_ACL_FILE.to_string());
    }
    if flags.iter().any(|f| f == "on") && flags.iter().any(|f| f == "nopass") {
        warnings.push(DEFAULT_NOPASS.to_string());
    }
    warnings
}

/// The redis row of `providers`, and the warnings of `providers --json`.
fn providers_report(env: &TestEnv) -> (String, Vec<String>) {
    let run = env.ok(["providers"]);
    // The warnings are the redis row's; stderr holds at most the lines that would
    // configure the providers this test leaves out.
    assert!(!run.stderr.contains("warning"), "{run}");
    let row = run.stdout.lines().find(|line| line.starts_with("redis ")).expect("a redis row").to_string();
    let docs = env.json(["providers", "--json"]);
    let mut redis_warnings = Vec::new();
    for doc in docs.as_array().unwrap() {
        let warnings: Vec<String> = serde_json::from_value(doc["warnings"].clone()).expect("a warnings array");
        if doc["name"] == "redis" {
            assert_eq!(doc["answers"], true, "{doc:#}");
            assert!(!doc["status"].as_str().unwrap().contains("warning"), "{doc:#}");
            redis_warnings = warnings;
        } else {
            assert_eq!(warnings, Vec::<String>::new(), "{doc:#}");
        }
    }
    (row, redis_warnings)
}

/// The redis row `providers` prints for a server that answers.
fn expected_row(admin_url: &str, display_url: &str, warnings: &[String]) -> String {
    let info: String = redis::cmd("INFO").arg("server").query(&mut connect_redis(admin_url).unwrap()).unwrap();
    let version = info.lines().find_map(|line| line.strip_prefix("redis_version:")).unwrap().trim();
    let detail = warnings
        .iter()
        .fold(format!("Redis {version} at {display_url}"), |detail, warning| format!("{detail}; warning: {warning}"));
    format!("redis     ok              REDIS_URL,REDIS_KEY_PREFIX  {detail}")
}

#[test]
fn providers_and_provision_warn_about_the_test_servers_acl_settings() {
    let Some(admin_url) = server("redis", "the redis warnings test") else { return };
    let expected = expected_warnings(&admin_url);
    let env = TestEnv::with_config(&config(&admin_url));
    let (row, warnings) = providers_report(&env);
    assert_eq!(row, expected_row(&admin_url, &admin_url, &expected));
    assert_eq!(warnings, expected);
    let stderr: String = expected.iter().map(|warning| format!("warning: {warning}\n")).collect();

    // Shown even under -q, one line each, and nothing else.
    let run = env.ok(["provision", "redis", "web", "-q"]);
    assert_eq!(run.stderr, stderr, "{run}");
    let first = run.stdout.trim_end().to_string();
    // Under --json they stay on stderr; stdout is still one JSON document.
    let run = env.ok(["provision", "redis", "web", "--as", "cache", "--json"]);
    assert_eq!(run.stderr, stderr, "{run}");
    let second = run.json()["name"].as_str().unwrap().to_string();
    env.ok(["deprovision", &first, &second, "--wait", "--timeout", "60s"]);
}

/// A redis-server of this test's own, on a free port, killed when dropped.
struct PrivateServer {
    child: Child,
    port: u16,
    /// Holds its ACL file (when it has one) and anything else it writes.
    dir: tempfile::TempDir,
    /// The default user's password, if it has one.
    password: Option<&'static str>,
}

impl PrivateServer {
    /// Starts one; `acl_file` is its ACL file's first content (None: no ACL file), `password`
    /// the default user's (set with requirepass when there is no ACL file to hold it).
    fn start(acl_file: Option<&str>, password: Option<&'static str>) -> PrivateServer {
        let mut dir = tempfile::tempdir().unwrap();
        if let Some(content) = acl_file {
            std::fs::write(dir.path().join("users.acl"), content).unwrap();
        }
        // Other tests may run servers of their own: take the first port where one comes up.
        for port in 16390..16490 {
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let child = spawn(dir.path(), port, acl_file.is_some(), password);
            let mut server = PrivateServer { child, port, dir, password };
            if server.answers() {
                return server;
            }
            let _ = server.child.kill();
            let _ = server.child.wait();
            dir = std::mem::replace(&mut server.dir, tempfile::tempdir().unwrap());
        }
        panic!("no private redis-server came up on ports 16390-16489");
    }

    /// Waits until the server answers PING; false when its process ended first.
    fn answers(&mut self) -> bool {
        for _ in 0..200 {
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            let pinged = connect_redis(&self.url()).and_then(|mut con| redis::cmd("PING").query::<String>(&mut con));
            if pinged.is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Kills it and starts it again on the same port with the same files.
    fn restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn(self.dir.path(), self.port, self.acl_file().exists(), self.password);
        assert!(self.answers(), "the private redis-server did not come back");
    }

    fn acl_file(&self) -> PathBuf {
        self.dir.path().join("users.acl")
    }

    /// Its admin URL, as the default user.
    fn url(&self) -> String {
        match self.password {
            Some(password) => format!("redis://default:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs redis-server in the foreground, saving nothing but its ACL file (users.acl in `dir`).
fn spawn(dir: &Path, port: u16, acl_file: bool, password: Option<&str>) -> Child {
    let mut command = Command::new("redis-server");
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    command.args(["--daemonize", "no", "--dir"]).arg(dir);
    if acl_file {
        command.arg("--aclfile").arg(dir.join("users.acl"));
    } else if let Some(password) = password {
        command.args(["--requirepass", password]);
    }
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command.spawn().expect("start redis-server (is it on PATH?)")
}

#[test]
fn a_private_server_is_warned_about_until_it_has_an_acl_file_and_a_default_password() {
    // redis-server is installed where the test server runs.
    if server("redis", "the private redis-server test").is_none() {
        return;
    }
    const PASSWORD: &str = "s3cret-default";
    let with_password = format!("user default on >{PASSWORD} ~* &* +@all\n");
    let cases: [(Option<&str>, Option<&'static str>, &[&str]); 4] = [
        (None, None, &[NO_ACL_FILE, DEFAULT_NOPASS]),
        (None, Some(PASSWORD), &[NO_ACL_FILE]),
        (Some("user default on nopass ~* &* +@all\n"), None, &[DEFAULT_NOPASS]),
        (Some(&with_password), Some(PASSWORD), &[]),
    ];
    for (acl_file, password, expected) in cases {
        let case = format!("ACL file {acl_file:?}, default password {password:?}");
        let mut private = PrivateServer::start(acl_file, password);
        let env = TestEnv::with_config(&config(&private.url()));
        let expected: Vec<String> = expected.iter().map(|warning| warning.to_string()).collect();
        let (row, warnings) = providers_report(&env);
        let shown = addons::masking::mask_url_password(&private.url());
        assert_eq!(row, expected_row(&private.url(), &shown, &expected), "{case}");
        assert_eq!(warnings, expected, "{case}");
        if !expected.is_empty() {
            continue;
        }
        // Nothing to warn about: provision -q prints the name alone, and the addon's user is
        // saved in the ACL file, so its app still logs in after a restart.
        let run = env.ok(["provision", "redis", "web", "-q", "--wait", "--timeout", "60s"]);
        assert_eq!(run.stderr, "", "{case}: {run}");
        let addon = env.info(run.stdout.trim_end());
        let user = format!("addons_{}", addon["id"].as_str().unwrap());
        assert!(std::fs::read_to_string(private.acl_file()).unwrap().contains(&user), "{case}");
        private.restart();
        let vars = env.vars("web");
        let pong: String = redis::cmd("PING").query(&mut connect_redis(&vars["REDIS_URL"]).unwrap()).unwrap();
        assert_eq!(pong, "PONG", "{case}");
        env.ok(["deprovision", addon["name"].as_str().unwrap(), "--wait", "--timeout", "60s"]);
        assert!(!std::fs::read_to_string(private.acl_file()).unwrap().contains(&user), "{case}");
    }
}
