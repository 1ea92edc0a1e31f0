//! A drift check racing the work it could undo, through the binary built with the
//! `failpoints` feature, against the real servers: a check held between what it found and
//! its repair while a rotation, a detach or a deprovision runs to completion brings back
//! nothing the state gave up (no revoked login, no dropped role or database); a check of
//! an addon another process holds says `busy` and repairs nothing; a check killed or
//! stopped while it holds an addon holds up nothing afterwards.

use crate::common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::apps::{login_of, logins, rand_suffix, App};
use common::servers::{self, connect_postgres, drop_login, server, Sweep};
use common::{Run, TestEnv};

/// How long a check is held before its repair: longer than the rotation, detach or
/// deprovision it races takes when nothing holds that up.
const HOLD: Duration = Duration::from_secs(5);

/// What `app` holds of the addon's vars now.
fn app_now(env: &TestEnv, app: &str, kind: &'static str) -> App {
    let vars = env.vars(app);
    let url = ["DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "MQTT_URL"].iter().find_map(|var| vars.get(*var));
    let prefix = vars.get("REDIS_KEY_PREFIX").or(vars.get("MQTT_TOPIC_PREFIX"));
    App { kind, url: url.expect("a URL var").clone(), prefix: prefix.cloned().unwrap_or_default() }
}

/// A server addon `db` of app `web`, made ready, and the sweep that removes what is
/// left of it on the server when the test ends, passed or not.
fn ready(env: &TestEnv, kind: &'static str, admin: &str) -> (String, Sweep) {
    let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let sweep = Sweep::new(kind, admin, &id);
    (id, sweep)
}

/// Changes the password of postgres addon `id`'s own role by hand (its role owns the
/// database, so it can't be dropped).
fn change_owner_password(admin: &str, id: &str) {
    let sql = format!("ALTER ROLE \"addons_{id}\" PASSWORD 'changed-by-hand'");
    connect_postgres(admin).unwrap().batch_execute(&sql).unwrap();
}

/// A check (`check ...`, or a `tick` whose periodic check is due) held at
/// `before-check-repair`: started, and seen asking the server. Dropped unfinished (a test
/// failed), it is killed before anything else of the test is dropped after it (the sweep
/// made before it), so it can't repair anything after the sweep.
struct Held {
    child: Option<Child>,
    args: Vec<String>,
}

impl Held {
    fn start(env: &TestEnv, args: &[&str]) -> Held {
        let calls = env.root().join(format!("calls-{}.log", rand_suffix()));
        let child = env
            .command(args)
            .env("ADDONS_FAILPOINT", format!("before-check-repair=sleep:{}", HOLD.as_millis()))
            .env("ADDONS_CALL_LOG", &calls)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The check has taken the addon once it asks the server.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&calls).unwrap_or_default().contains(" verify ") {
            assert!(Instant::now() < deadline, "addons {args:?} never verified");
            std::thread::sleep(Duration::from_millis(10));
        }
        Held { child: Some(child), args: args.iter().map(|arg| arg.to_string()).collect() }
    }

    /// The check's process id.
    fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |child| child.id() as i32)
    }

    /// Waits for the check to end on its own; what it did.
    fn finish(mut self) -> Run {
        let out = self.child.take().expect("not finished yet").wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert!(run.code == 0 || run.code == 1, "addons {:?} failed:\n{run}", self.args);
        run
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `checker` held while `race` runs to completion (60 s at most), then lets the
/// check go on and waits for it. What the check did.
fn while_a_check_is_held(env: &TestEnv, checker: &[&str], race: &[&str]) -> Run {
    let held = Held::start(env, checker);
    let raced = env.run_within(Duration::from_secs(60), race);
    let checked = held.finish();
    assert_eq!(raced.code, 0, "addons {race:?} failed:\n{raced}\nwhile the check did:\n{checked}");
    checked
}

/// The claim and the due time of addon `db`, straight from the state.
fn claim_and_due(env: &TestEnv) -> (Option<String>, Option<String>) {
    let row = env.state_sql("SELECT claim, due_at FROM addons WHERE name = 'db'").remove(0);
    (row[0].clone(), row[1].clone())
}

/// A check held while a rotation with no grace revokes the login it found gone: the
/// revoked login stays gone.
fn a_held_check_does_not_bring_back_a_rotated_login(kind: &'static str, checker: &[&str], config: &str) {
    let Some(admin) = server(kind, &format!("{kind} check racing a rotation")) else { return };
    let env = TestEnv::with_config(&format!("{}{config}", servers::config(kind, &admin)));
    let (id, _sweep) = ready(&env, kind, &admin);
    // Generation 1 is a login of its own on every server (the first is the owner).
    env.ok(["rotate", "db", "--grace", "0", "--wait"]);
    let old = app_now(&env, "web", kind);
    drop_login(kind, &admin, &login_of(&old));
    if config.contains("verify_interval") {
        std::thread::sleep(Duration::from_millis(1100));
    }
    let checked = while_a_check_is_held(&env, checker, &["rotate", "db", "--grace", "0", "--wait"]);
    let new = app_now(&env, "web", kind);
    assert!(new.works(), "the new {kind} login does not work:\n{checked}");
    assert!(!old.works(), "the {kind} login revoked by the rotation works again after the check:\n{checked}");
    let left = logins(kind, &admin, &id);
    assert!(!left.contains(&login_of(&old)), "the revoked {kind} login is back: {left:?}\n{checked}");
    assert_eq!(claim_and_due(&env), (None, None), "the check left the addon claimed or due");
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(servers::traces(kind, &admin, &id), Vec::<String>::new());
}

#[test]
fn postgres_check_racing_a_rotation_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_rotated_login("postgres", &["check", "db"], "");
}

#[test]
fn mysql_check_racing_a_rotation_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_rotated_login("mysql", &["check", "db"], "");
}

#[test]
fn redis_check_racing_a_rotation_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_rotated_login("redis", &["check", "db"], "");
}

#[test]
fn rabbitmq_check_racing_a_rotation_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_rotated_login("rabbitmq", &["check", "db"], "");
}

#[test]
fn mqtt_check_racing_a_rotation_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_rotated_login("mqtt", &["check", "db"], "");
}

#[test]
fn a_ticks_check_racing_a_rotation_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_rotated_login("postgres", &["tick"], "[engine]\nverify_interval = \"1s\"\n");
}

/// A check held while the app it found without a login is detached: that login stays
/// gone, and the owner's works.
fn a_held_check_does_not_bring_back_a_detached_login(kind: &'static str) {
    let Some(admin) = server(kind, &format!("{kind} check racing a detach")) else { return };
    let env = TestEnv::with_config(&servers::config(kind, &admin));
    let (id, _sweep) = ready(&env, kind, &admin);
    env.ok(["attach", "db", "worker", "--wait"]);
    let worker = app_now(&env, "worker", kind);
    drop_login(kind, &admin, &login_of(&worker));
    let checked = while_a_check_is_held(&env, &["check", "db"], &["detach", "db", "worker", "--wait"]);
    assert!(!worker.works(), "the detached app's {kind} login works again after the check:\n{checked}");
    let left = logins(kind, &admin, &id);
    assert!(!left.contains(&login_of(&worker)), "the detached {kind} login is back: {left:?}\n{checked}");
    assert!(app_now(&env, "web", kind).works());
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(servers::traces(kind, &admin, &id), Vec::<String>::new());
}

#[test]
fn postgres_check_racing_a_detach_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_detached_login("postgres");
}

#[test]
fn mysql_check_racing_a_detach_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_detached_login("mysql");
}

#[test]
fn redis_check_racing_a_detach_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_detached_login("redis");
}

#[test]
fn rabbitmq_check_racing_a_detach_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_detached_login("rabbitmq");
}

#[test]
fn mqtt_check_racing_a_detach_brings_back_no_revoked_login() {
    a_held_check_does_not_bring_back_a_detached_login("mqtt");
}

/// A check held while the addon is deprovisioned, after `spoil` made it find drift:
/// nothing of the addon is left on the server once its cleanup is done.
fn a_held_check_does_not_bring_back_a_deprovisioned_addon(
    kind: &'static str,
    spoil: fn(admin: &str, id: &str),
    checker: &[&str],
) {
    let Some(admin) = server(kind, &format!("{kind} check racing a deprovision")) else { return };
    let env = TestEnv::with_config(&servers::config(kind, &admin));
    let (id, _sweep) = ready(&env, kind, &admin);
    spoil(&admin, &id);
    let checked = while_a_check_is_held(&env, checker, &["deprovision", "db", "--wait"]);
    assert_eq!(env.info("db")["cleanup"], "done");
    let left = servers::traces(kind, &admin, &id);
    assert_eq!(left, Vec::<String>::new(), "the deprovisioned {kind} addon is back on the server:\n{checked}");
}

#[test]
fn postgres_check_racing_a_deprovision_brings_nothing_back() {
    a_held_check_does_not_bring_back_a_deprovisioned_addon("postgres", change_owner_password, &["check", "db"]);
}

#[test]
fn postgres_check_repair_data_racing_a_deprovision_makes_no_database() {
    let drop_database = |admin: &str, id: &str| {
        let sql = format!("DROP DATABASE \"addons_{id}\" WITH (FORCE)");
        connect_postgres(admin).unwrap().batch_execute(&sql).unwrap();
    };
    a_held_check_does_not_bring_back_a_deprovisioned_addon(
        "postgres",
        drop_database,
        &["check", "db", "--repair-data"],
    );
}

#[test]
fn mysql_check_racing_a_deprovision_brings_nothing_back() {
    let drop_user = |admin: &str, id: &str| drop_login("mysql", admin, &format!("addons_{id}"));
    a_held_check_does_not_bring_back_a_deprovisioned_addon("mysql", drop_user, &["check", "db"]);
}

#[test]
fn redis_check_racing_a_deprovision_brings_nothing_back() {
    let drop_user = |admin: &str, id: &str| drop_login("redis", admin, &format!("addons_{id}"));
    a_held_check_does_not_bring_back_a_deprovisioned_addon("redis", drop_user, &["check", "db"]);
}

#[test]
fn rabbitmq_check_racing_a_deprovision_brings_nothing_back() {
    let drop_user = |admin: &str, id: &str| drop_login("rabbitmq", admin, &format!("addons_{id}"));
    a_held_check_does_not_bring_back_a_deprovisioned_addon("rabbitmq", drop_user, &["check", "db"]);
}

#[test]
fn mqtt_check_racing_a_deprovision_brings_nothing_back() {
    let drop_client = |admin: &str, id: &str| drop_login("mqtt", admin, &format!("addons_{id}"));
    a_held_check_does_not_bring_back_a_deprovisioned_addon("mqtt", drop_client, &["check", "db"]);
}

/// While one check holds the addon, another says `busy` (exit 1) and records nothing;
/// a tick's periodic check leaves it for later. The first repairs as usual.
#[test]
fn a_check_of_an_addon_another_process_holds_says_busy_and_repairs_nothing() {
    let Some(admin) = server("postgres", "postgres check of a held addon") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let (id, _sweep) = ready(&env, "postgres", &admin);
    change_owner_password(&admin, &id);
    let held = Held::start(&env, &["check", "db"]);
    let run = env.run(["check", "db", "--json"]);
    assert_eq!(run.code, 1, "{run}");
    let check = &run.json()[0];
    assert_eq!(check["status"], "busy", "{run}");
    assert!(check["error"].as_str().unwrap().contains("another addons process is working on it"), "{run}");
    let table = env.run(["check", "db"]);
    assert_eq!(table.code, 1, "{table}");
    let row = table.stdout.lines().nth(1).unwrap_or_default().split_whitespace().take(3).collect::<Vec<_>>();
    assert_eq!(row, ["db", "postgres", "busy"], "{table}");
    let first = held.finish();
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("repaired"), "{first}");
    let log = env.json(["log", "db", "--json"]);
    let drift = log.as_array().unwrap().iter().filter(|e| e["event"] == "drift").count();
    assert_eq!(drift, 1, "a busy check recorded drift: {log:#}");
    assert_eq!(env.json(["check", "db", "--json"])[0]["status"], "ok");
    assert_eq!(claim_and_due(&env), (None, None));
    env.ok(["deprovision", "db", "--wait"]);
}

/// A check killed (SIGKILL) while it holds the addon holds up nothing: the next check
/// and the next tick of this host take the dead process's claim over at once, well
/// within the lease (`claim_timeout`, 5 minutes).
#[test]
fn a_check_killed_while_it_holds_an_addon_holds_up_nothing() {
    let Some(admin) = server("postgres", "postgres check killed") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let (id, _sweep) = ready(&env, "postgres", &admin);
    change_owner_password(&admin, &id);
    env.killed_at("before-check-repair", &["check", "db"]);
    assert!(claim_and_due(&env).0.is_some(), "the killed check held no claim");
    assert_eq!(env.json(["check", "db", "--json"])[0]["status"], "repaired");

    change_owner_password(&admin, &id);
    env.killed_at("before-check-repair", &["check", "db"]);
    let rotated =
        env.run_within(Duration::from_secs(30), ["rotate", "db", "--grace", "0", "--wait", "--timeout", "20s"]);
    assert_eq!(rotated.code, 0, "{rotated}");
    assert!(app_now(&env, "web", "postgres").works());
    assert_eq!(claim_and_due(&env), (None, None), "the dead check's claim or due time is left");
    env.ok(["deprovision", "db", "--wait"]);
}

/// The due time a killed check's claim left goes with the first tick after it: the
/// addon has no work and is not due again (no tick claims it over and over).
#[test]
fn a_killed_checks_claim_leaves_the_addon_idle_after_its_lease() {
    let Some(admin) = server("postgres", "postgres check killed, lease run out") else { return };
    let config = format!("{}[engine]\nclaim_timeout = \"1s\"\n", servers::config("postgres", &admin));
    let env = TestEnv::with_config(&config);
    let (id, _sweep) = ready(&env, "postgres", &admin);
    change_owner_password(&admin, &id);
    env.killed_at("before-check-repair", &["check", "db"]);
    let (claim, due) = claim_and_due(&env);
    assert!(claim.is_some() && due.is_some(), "the killed check held no claim");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(env.json(["tick", "--json"])["pending"], 0);
    assert_eq!(claim_and_due(&env), (None, None), "the first tick after the lease left the addon claimed or due");
    env.ok(["deprovision", "db", "--wait"]);
}

/// SIGTERM during a check ends the check in hand (repaired, recorded, the claim given
/// up) and checks no further addon.
#[test]
fn sigterm_during_a_check_finishes_it_and_checks_no_more() {
    let Some(admin) = server("postgres", "postgres check stopped") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let (id, _sweep) = ready(&env, "postgres", &admin);
    env.provision_ready("secret", "web", &["--name", "key"]);
    change_owner_password(&admin, &id);
    let held = Held::start(&env, &["check", "db", "key"]);
    // SAFETY: kill sends a signal to the child we spawned and have not yet reaped.
    assert_eq!(unsafe { libc::kill(held.pid(), libc::SIGTERM) }, 0);
    let run = held.finish();
    assert_eq!(run.code, 1, "{run}");
    let rows: Vec<Vec<&str>> =
        run.stdout.lines().skip(1).map(|line| line.split_whitespace().take(3).collect()).collect();
    assert_eq!(rows, [["db", "postgres", "repaired"], ["key", "secret", "unknown"]], "{run}");
    assert!(run.stdout.contains("not checked: addons was asked to stop"), "{run}");
    assert_eq!(claim_and_due(&env), (None, None), "the stopped check left the addon claimed or due");
    assert!(app_now(&env, "web", "postgres").works());
    env.ok(["deprovision", "db", "--wait"]);
}
