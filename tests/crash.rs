//! Crash safety, driven through the real binary built with the `failpoints` feature: a
//! SIGKILL at every failpoint, for every provider this machine can run, loses no state
//! and leaks no resource; SIGTERM and SIGINT let the step in hand finish and be
//! recorded; a killed tick's claim expires and the next tick finishes the step.
//!
//! secret and sqlite always run; postgres, mysql, redis and rabbitmq run against the
//! servers named by their ADDONS_TEST_<NAME>_URL, and mqtt against the tests' private
//! Mosquitto (skipped with a notice when missing, unless ADDONS_TEST_REQUIRE_SERVERS=1).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::servers::{self, connect_mysql, connect_postgres, connect_redis, server, sqlite_traces};
use common::{TestEnv, Vars};

/// How long any wait in this file may take before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the crash tests do with a [`TestEnv`] beyond running commands.
trait CrashEnv {
    /// Ticks with `point` armed until no addon has work left: every armed tick that
    /// reaches a step must die there, and a plain tick then does that step. Returns
    /// how many ticks were killed.
    fn kill_every_step(&self, point: &str) -> usize;
    /// The events of an addon's log, oldest first.
    fn events(&self, name: &str) -> Vec<String>;
    /// `(state, begun, claim)` of an addon, straight from the state.
    fn row(&self, name: &str) -> (String, bool, Option<String>);
    /// The invariants after a crash and the ticks that followed it: every addon
    /// settled with each transition recorded once; the server holds exactly what the
    /// state says exists; every app has exactly the vars of its ready addons (plus
    /// `hand`: `(app, key, value)` set by hand), and they work; no claim is left held.
    fn check(&self, target: &Target, hand: &[(&str, &str, &str)]);
}

impl CrashEnv for TestEnv {
    fn kill_every_step(&self, point: &str) -> usize {
        let deadline = Instant::now() + PATIENCE;
        let mut kills = 0;
        loop {
            let out = self.command(["tick", "--json"]).env("ADDONS_FAILPOINT", point).output().unwrap();
            if out.status.signal() == Some(libc::SIGKILL) {
                kills += 1;
                self.ok(["tick"]);
                continue;
            }
            assert!(out.status.success(), "an armed tick failed instead of dying:\n{}", shown(&out));
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["transitions"], serde_json::json!([]), "a step ran past {point}");
            if report["pending"] == 0 {
                return kills;
            }
            assert!(Instant::now() < deadline, "still pending after {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn events(&self, name: &str) -> Vec<String> {
        let log = self.json(["log", name, "--json"]);
        log.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_string()).collect()
    }

    fn row(&self, name: &str) -> (String, bool, Option<String>) {
        let rows = self.state_sql(&format!(
            "SELECT state, CASE WHEN begun THEN 'yes' ELSE 'no' END, claim FROM addons WHERE name = '{name}'"
        ));
        let [state, begun, claim] = <[Option<String>; 3]>::try_from(rows[0].clone()).unwrap();
        (state.unwrap(), begun.as_deref() == Some("yes"), claim)
    }

    fn check(&self, target: &Target, hand: &[(&str, &str, &str)]) {
        let held = self.state_sql("SELECT id FROM addons WHERE claim IS NOT NULL");
        assert_eq!(held.len(), 0, "a claim was left held");
        let mut expected: BTreeMap<String, Vars> = BTreeMap::new();
        for (app, key, value) in hand {
            expected.entry(app.to_string()).or_default().insert(key.to_string(), value.to_string());
        }
        let mut ready = Vec::new();
        let mut ready_ids = BTreeSet::new();
        for addon in self.json(["list", "--all", "--json"]).as_array().unwrap() {
            let field = |key: &str| addon[key].as_str().unwrap().to_string();
            let (name, id, app, state) = (field("name"), field("id"), field("app"), field("state"));
            let events = self.events(&name);
            let traces = target.traces(self, &id);
            let app_vars = expected.entry(app.clone()).or_default();
            match state.as_str() {
                "ready" => {
                    assert_eq!(events, ["provision", "provision_complete", "config_vars_set"], "{name}");
                    assert!(!target.keeps_resources() || !traces.is_empty(), "ready {name} has no resource");
                    for var in addon["vars"].as_array().unwrap() {
                        app_vars.insert(var.as_str().unwrap().to_string(), String::new());
                    }
                    ready.push(app);
                    ready_ids.insert(id);
                }
                "deprovisioned" | "error" => {
                    assert_eq!(field("cleanup"), "done", "{name}: {addon}");
                    let unique: BTreeSet<_> = events.iter().collect();
                    assert_eq!(unique.len(), events.len(), "{name}: a transition was recorded twice: {events:?}");
                    let end = if state == "error" { "fail" } else { "deprovision" };
                    assert_eq!(events[events.len() - 2..], [end, "cleanup"], "{name}");
                    assert_eq!(traces, Vec::<String>::new(), "{name} ({state}) left this behind");
                }
                _ => panic!("{name} did not settle: {addon}"),
            }
        }
        for (app, want) in &expected {
            let vars = self.vars(app);
            assert_eq!(vars.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "config vars of {app}");
            for (key, value) in want.iter().filter(|(_, value)| !value.is_empty()) {
                assert_eq!(&vars[key], value, "{app} {key}");
            }
        }
        for app in ready {
            target.works(&self.vars(&app));
        }
        if target.provider == "sqlite" {
            let files: BTreeSet<String> = match std::fs::read_dir(self.sqlite_dir()) {
                Ok(dir) => dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
                Err(_) => BTreeSet::new(),
            };
            let want: BTreeSet<String> = ready_ids.iter().map(|id| format!("{id}.db")).collect();
            assert_eq!(files, want, "the sqlite directory holds other files than the ready addons'");
        }
    }
}

fn shown(out: &Output) -> String {
    format!(
        "{:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One provider under test, and how to see what it made.
struct Target {
    provider: &'static str,
    config: String,
    /// The admin URL of the provider's server, if it has one.
    admin: Option<String>,
}

impl Target {
    fn local(provider: &'static str) -> Target {
        Target { provider, config: String::new(), admin: None }
    }

    fn server(provider: &'static str, admin: String) -> Target {
        Target { provider, config: servers::config(provider, &admin), admin: Some(admin) }
    }

    /// Whether a ready addon of this provider leaves something on a server to find.
    fn keeps_resources(&self) -> bool {
        self.provider != "secret"
    }

    /// What exists for this addon id (empty when nothing does).
    fn traces(&self, env: &TestEnv, id: &str) -> Vec<String> {
        match (self.provider, &self.admin) {
            ("secret", _) => Vec::new(),
            ("sqlite", _) => sqlite_traces(&env.sqlite_dir(), id),
            (provider, Some(admin)) => servers::traces(provider, admin, id),
            (other, None) => panic!("no traces for {other}"),
        }
    }

    /// Uses the handed-out vars as an app would, so a stale value is caught.
    fn works(&self, vars: &Vars) {
        match self.provider {
            "secret" => assert_eq!(vars["SECRET_KEY"].len(), 100),
            "sqlite" => {
                let path = vars["DATABASE_URL"].strip_prefix("sqlite:///").expect("a sqlite:/// URL");
                let conn =
                    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
                conn.execute_batch("CREATE TABLE IF NOT EXISTS t (v TEXT)").unwrap();
            }
            "postgres" => {
                connect_postgres(&vars["DATABASE_URL"])
                    .expect("the DATABASE_URL connects")
                    .batch_execute("SELECT 1")
                    .unwrap();
            }
            "mysql" => {
                use mysql::prelude::Queryable;
                connect_mysql(&vars["DATABASE_URL"])
                    .expect("the DATABASE_URL connects")
                    .query_drop("SELECT 1")
                    .unwrap();
            }
            "rabbitmq" => servers::rabbitmq_round_trip(&vars["RABBITMQ_URL"]).expect("the RABBITMQ_URL works"),
            "mqtt" => common::mosquitto::round_trip(&vars["MQTT_URL"], &vars["MQTT_TOPIC_PREFIX"])
                .expect("the MQTT_URL publishes and receives under MQTT_TOPIC_PREFIX"),
            "redis" => {
                let mut conn = connect_redis(&vars["REDIS_URL"]).expect("the REDIS_URL connects");
                let key = format!("{}probe", vars["REDIS_KEY_PREFIX"]);
                redis::cmd("SET").arg(&key).arg("1").query::<()>(&mut conn).unwrap();
            }
            other => panic!("no probe for {other}"),
        }
    }
}

/// Every failpoint the provisioning and deprovisioning of one provider passes, each
/// followed by plain ticks and the invariants. Each scenario uses its own app.
fn crash_everywhere(target: &Target) {
    let env = TestEnv::with_config(&target.config);
    let provider = target.provider;
    let provision = |name: &'static str| ["provision", provider, name, "--name", name];

    // `provision` dies with the row written and begin_provision never called.
    env.killed_at("after-addon-insert", &provision("inserted"));
    assert_eq!(env.row("inserted").0, "waiting_for_provision");
    assert!(!env.row("inserted").1, "begun must still be false");
    assert_eq!(target.traces(&env, env.info("inserted")["id"].as_str().unwrap()), Vec::<String>::new());
    env.settle();
    env.check(target, &[]);
    assert_eq!(env.info("inserted")["state"], "ready");

    // `provision` dies after begin_provision, before recording it: a tick begins again.
    env.killed_at("after-begin-provision", &provision("begun"));
    assert!(!env.row("begun").1);
    env.settle();
    env.check(target, &[]);
    assert_eq!(env.info("begun")["state"], "ready");

    // Deprovisioned before any tick ran: the cleanup removes what begin_provision made.
    env.killed_at("after-begin-provision", &provision("dropped"));
    env.ok(["deprovision", "dropped"]);
    env.settle();
    env.check(target, &[]);
    assert_eq!(env.events("dropped"), ["provision", "deprovision", "cleanup"]);

    // The same, in a tick's retry of begin_provision.
    env.killed_at("after-addon-insert", &provision("retried"));
    env.killed_at("after-begin-provision", &["tick"]);
    assert_eq!(env.row("retried").0, "waiting_for_provision");
    env.settle();
    env.check(target, &[]);
    assert_eq!(env.info("retried")["state"], "ready");

    // A tick dies at every step, provisioning and then deprovisioning, before committing it.
    env.ok(provision("stepped"));
    assert!(env.kill_every_step("before-step-commit") >= 2, "both provisioning steps were killed");
    env.check(target, &[]);
    assert_eq!(env.info("stepped")["state"], "ready");
    env.ok(["deprovision", "stepped"]);
    assert!(env.kill_every_step("before-step-commit") >= 1);
    env.check(target, &[]);
    assert_eq!(env.info("stepped")["cleanup"], "done");

    // A tick dies with the resource removed but the cleanup not recorded.
    env.ok(["deprovision", "retried"]);
    env.killed_at("after-deprovision", &["tick"]);
    assert_eq!(env.info("retried")["cleanup"], "pending");
    env.settle();
    env.check(target, &[]);
    assert_eq!(env.info("retried")["cleanup"], "done");

    // Leave the server as it was found, checking once more that nothing stays behind.
    env.ok(["deprovision", "inserted", "begun"]);
    env.settle();
    env.check(target, &[]);
}

#[test]
fn secret_survives_a_kill_at_every_point() {
    crash_everywhere(&Target::local("secret"));
}

#[test]
fn sqlite_survives_a_kill_at_every_point() {
    crash_everywhere(&Target::local("sqlite"));
}

#[test]
fn postgres_survives_a_kill_at_every_point() {
    if let Some(admin) = server("postgres", "this crash test") {
        crash_everywhere(&Target::server("postgres", admin));
    }
}

#[test]
fn mysql_survives_a_kill_at_every_point() {
    if let Some(admin) = server("mysql", "this crash test") {
        crash_everywhere(&Target::server("mysql", admin));
    }
}

#[test]
fn redis_survives_a_kill_at_every_point() {
    if let Some(admin) = server("redis", "this crash test") {
        crash_everywhere(&Target::server("redis", admin));
    }
}

#[test]
fn rabbitmq_survives_a_kill_at_every_point() {
    if let Some(admin) = server("rabbitmq", "this crash test") {
        crash_everywhere(&Target::server("rabbitmq", admin));
    }
}

#[test]
fn mqtt_survives_a_kill_at_every_point() {
    if let Some(admin) = server("mqtt", "this crash test") {
        crash_everywhere(&Target::server("mqtt", admin));
    }
}

/// An addon that fails for good is cleaned up as an orphan; kills on the way to the
/// failure and in the middle of the cleanup lose nothing and leave no file.
#[test]
fn orphan_cleanup_survives_kills() {
    let target = Target::local("sqlite");
    let env = TestEnv::new();
    env.ok(["provision", "sqlite", "broken", "--name", "broken"]);
    let id = env.info("broken")["id"].as_str().unwrap().to_string();
    // The database file is damaged before it is checked: provision_complete fails for good.
    std::fs::write(env.sqlite_dir().join(format!("{id}.db")), b"this is not a database, not at all").unwrap();
    env.killed_at("before-step-commit", &["tick"]);
    assert_eq!(env.row("broken").0, "waiting_for_provision");
    // A tick that ends an addon in error says so with exit 1.
    let run = env.run(["tick"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(env.info("broken")["state"], "error");
    assert_eq!(env.info("broken")["cleanup"], "pending");
    env.killed_at("after-deprovision", &["tick"]);
    assert_eq!(env.info("broken")["cleanup"], "pending");
    env.settle();
    env.check(&target, &[]);
    assert_eq!(env.info("broken")["state"], "error");
}

/// An env file killed half-way through being rewritten holds the old whole content,
/// never a mix, and the next tick writes the new content.
#[test]
fn env_file_is_old_or_new_never_half() {
    let target = Target::local("secret");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("myapp.env");
    let env = TestEnv::with_config(&format!("[apps.myapp]\nenv_file = {:?}\n", file.display().to_string()));
    let read = || std::fs::read_to_string(&file).unwrap();
    let dotenv = || env.ok(["env", "myapp", "--format", "dotenv"]).stdout;
    env.ok(["config", "set", "myapp", "HAND=one"]);
    let old = read();
    assert_eq!(old, "HAND=one\n");
    env.ok(["provision", "secret", "myapp", "--name", "key"]);
    env.ok(["tick"]);
    assert_eq!(env.info("key")["state"], "provisioned");

    // provisioned -> ready commits, then the rewrite dies half-way.
    env.killed_at("env-file-half-written", &["tick"]);
    assert_eq!(env.info("key")["state"], "ready");
    assert_eq!(read(), old, "the env file must hold the old whole content");
    env.ok(["tick"]);
    let new = read();
    assert!(new.contains("SECRET_KEY=") && new.contains("HAND=one"), "{new}");
    assert_eq!(new, dotenv());

    // `deprovision` removes the vars at once, then dies rewriting the file.
    env.killed_at("env-file-half-written", &["deprovision", "key"]);
    assert_eq!(env.info("key")["state"], "deprovisioned");
    assert_eq!(read(), new, "the env file must hold the previous whole content");
    env.settle();
    assert_eq!(read(), old);
    assert_eq!(read(), dotenv());
    env.check(&target, &[("myapp", "HAND", "one")]);
    let mut left: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, [".myapp.env.lock", "myapp.env"], "a killed write left its temp file behind");
}

/// Provisions the addon `paused` (secret, app `sig`) and starts `args` with its first
/// step paused before the commit; returns once the step is paused there.
fn start_paused(env: &TestEnv, args: &[&str]) -> Child {
    env.ok(["provision", "secret", "sig", "--name", "paused"]);
    let id = env.info("paused")["id"].as_str().unwrap().to_string();
    let calls = env.root().join("calls.log");
    let child = env
        .command(args)
        .env("ADDONS_FAILPOINT", "before-step-commit=sleep:1500")
        .env("ADDONS_CALL_LOG", &calls)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // get_config is the step's last provider call; the pause follows it.
    let deadline = Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&calls).unwrap_or_default().contains(&format!("get_config {id}")) {
        assert!(Instant::now() < deadline, "the step never reached get_config");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn send(child: &Child, signal: i32) {
    // SAFETY: kill sends a signal to the child we spawned and have not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// Waits for the child to exit on its own; kills it and fails when it does not.
fn exit_of(mut child: Child) -> Output {
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not exit after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Sends `signal` to `args` while its step is paused; returns how it ended.
fn signal_in_step(env: &TestEnv, args: &[&str], signal: i32) -> (ExitStatus, Output) {
    let child = start_paused(env, args);
    send(&child, signal);
    let out = exit_of(child);
    (out.status, out)
}

/// The step in hand when the signal came was committed and recorded, and no step
/// started after it.
fn assert_step_in_hand_finished(env: &TestEnv) {
    assert_eq!(env.events("paused"), ["provision", "provision_complete"]);
    assert_eq!(env.row("paused"), ("provisioned".to_string(), true, None));
}

fn watch_finishes_the_step_then_exits(signal: i32) {
    let env = TestEnv::new();
    let (status, out) = signal_in_step(&env, &["watch", "--forever"], signal);
    assert_eq!(status.code(), Some(0), "watch --forever must exit 0 on its own:\n{}", shown(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Stopped"), "{}", shown(&out));
    assert_step_in_hand_finished(&env);
}

#[test]
fn sigterm_during_watch_forever_finishes_the_step() {
    watch_finishes_the_step_then_exits(libc::SIGTERM);
}

#[test]
fn sigint_during_watch_forever_finishes_the_step() {
    watch_finishes_the_step_then_exits(libc::SIGINT);
}

/// `wait` stops too; it did not see its addon settle, so it says it was interrupted and
/// exits 1 (docs/contract.md's exit codes: a wait stopped by a signal), which a script can tell from 0.
fn wait_finishes_the_step_then_exits(signal: i32) {
    let env = TestEnv::new();
    let (status, out) = signal_in_step(&env, &["wait", "paused"], signal);
    assert_eq!(status.signal(), None, "wait must exit on its own:\n{}", shown(&out));
    assert_eq!(status.code(), Some(1), "{}", shown(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted while waiting for paused"), "{}", shown(&out));
    assert_step_in_hand_finished(&env);
}

#[test]
fn sigterm_during_wait_finishes_the_step() {
    wait_finishes_the_step_then_exits(libc::SIGTERM);
}

#[test]
fn sigint_during_wait_finishes_the_step() {
    wait_finishes_the_step_then_exits(libc::SIGINT);
}

/// A second signal ends the process at once, mid-step: nothing of the step is recorded,
/// and the next tick takes over the dead process's claim and finishes it.
#[test]
fn a_second_signal_stops_at_once_and_the_next_tick_finishes_the_step() {
    let env = TestEnv::new();
    let child = start_paused(&env, &["watch", "--forever"]);
    send(&child, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(100));
    send(&child, libc::SIGINT);
    let out = exit_of(child);
    assert_eq!(out.status.code(), Some(130), "{}", shown(&out));
    assert_eq!(env.events("paused"), ["provision"]);
    assert_eq!(env.row("paused").0, "waiting_for_provision");
    let report = env.json(["tick", "--json"]);
    assert_eq!(report["transitions"][0]["to"], "provisioned", "{report}");
    env.settle();
    env.check(&Target::local("secret"), &[]);
}

/// A signal to an idle `watch --forever` (sleeping until work comes due) ends it promptly.
#[test]
fn a_signal_ends_an_idle_watch_forever() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "idle", "--name", "idle"]);
    let child = env.command(["watch", "--forever"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + PATIENCE;
    while env.info("idle")["state"] != "ready" {
        assert!(Instant::now() < deadline, "watch never made the addon ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    send(&child, libc::SIGTERM);
    let out = exit_of(child);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(sent.elapsed() < Duration::from_secs(5), "took {:?} to stop", sent.elapsed());
}

/// A tick killed in a step leaves its claim held by a dead pid; the next tick expires
/// it at once and finishes the step.
#[test]
fn a_killed_ticks_claim_is_taken_over_by_the_next_tick() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "claimed", "--name", "claimed"]);
    let pid = env.killed_at("before-step-commit", &["tick"]);
    let (state, _, claim) = env.row("claimed");
    assert_eq!(state, "waiting_for_provision");
    let claim = claim.expect("the killed tick's claim is still held");
    assert_eq!(claim.rsplit(':').nth(1), Some(pid.to_string().as_str()), "claim {claim}");
    let report = env.json(["tick", "--json"]);
    assert_eq!(report["transitions"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["transitions"][0]["to"], "provisioned");
    assert_eq!(env.row("claimed").2, None);
    env.settle();
    env.check(&Target::local("secret"), &[]);
}

/// A claim whose holder can't be checked (another host) is honoured until its lease
/// runs out, and then a tick finishes the step.
#[test]
fn a_claim_from_another_host_expires_with_its_lease() {
    let env = TestEnv::with_config("[engine]\nclaim_timeout = \"1s\"\n");
    env.ok(["provision", "secret", "leased", "--name", "leased"]);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // Long enough for a tick to start and finish on a busy machine, on either backend.
    let until = now + 3000;
    env.state_sql(&format!("UPDATE addons SET claim = 'otherhost:1:0', claim_until = {until} WHERE name = 'leased'"));
    let report = env.json(["tick", "--json"]);
    assert_eq!(report["transitions"], serde_json::json!([]), "a tick ran a step another host holds");
    assert_eq!(report["pending"], 1);
    assert_eq!(env.row("leased").2.as_deref(), Some("otherhost:1:0"));
    let wait =
        until + 50 - std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    std::thread::sleep(Duration::from_millis(wait.max(0) as u64));
    let report = env.json(["tick", "--json"]);
    assert_eq!(report["transitions"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["transitions"][0]["to"], "provisioned");
    env.settle();
    env.check(&Target::local("secret"), &[]);
}
