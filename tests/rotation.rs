//! `addons rotate` through the binary: a secret is replaced, sqlite refuses, and for
//! each server provider an app keeps working on the old credentials during the grace,
//! is refused after it, works on the new ones at once, and keeps every object made
//! under any generation; nothing is left on the server after deprovision. With the
//! `failpoints` feature, a SIGKILL inside the rotation and inside the revocation is
//! followed by ticks that settle with working vars and no old login left.

use crate::common;

use std::time::Duration;

use common::apps::{logins, App};
use common::servers::{self, server};
use common::TestEnv;

/// The app `web` as its vars are now.
fn app_now(env: &TestEnv, kind: &'static str) -> App {
    let vars = env.vars("web");
    let url = ["DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "MQTT_URL"].iter().find_map(|var| vars.get(*var));
    let prefix = vars.get("REDIS_KEY_PREFIX").or(vars.get("MQTT_TOPIC_PREFIX"));
    App { kind, url: url.expect("a URL var").clone(), prefix: prefix.cloned().unwrap_or_default() }
}

/// Sleeps until the pending revocation of `addon` is due (its time is in `info`).
fn until_revocation(env: &TestEnv, addon: &str) {
    let info = env.info(addon);
    let at = info["credential"]["revocation"]["at"].as_str().expect("a revocation is pending").to_string();
    let at = humantime::parse_rfc3339(&at).unwrap();
    // The time is shown to the second: a second more is surely past it.
    let left = at.duration_since(std::time::SystemTime::now()).unwrap_or_default() + Duration::from_secs(1);
    std::thread::sleep(left);
}

#[test]
fn a_secret_is_replaced_at_once_and_each_step_is_logged() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    let old = env.vars("web")["SECRET_KEY"].clone();
    let run = env.ok(["rotate", "key", "--wait"]);
    assert!(run.stderr.contains("Rotating key to generation 1: the old value is replaced"), "{run}");
    let new = env.vars("web")["SECRET_KEY"].clone();
    assert_ne!(old, new);
    assert_eq!(new.len(), old.len());
    assert!(!run.stderr.contains(&new) && !run.stdout.contains(&new), "the secret was shown: {run}");
    let info = env.info("key");
    assert_eq!(info["credential"]["generation"], 1);
    assert_eq!(info["credential"]["vars_generation"], 1);
    assert!(info["credential"]["revocation"].is_null(), "{info:#}");
    let log = env.json(["log", "key", "--json"]);
    let events: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events[events.len() - 2..], ["rotate", "rotated"], "{log:#}");
    assert!(env.ok(["info", "key"]).stdout.contains("login     generation 1"));
}

#[test]
fn a_rotation_keeps_the_addons_expiry() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key", "--expires-in", "3s"]);
    env.ok(["rotate", "key", "--wait"]);
    assert!(env.info("key")["expires_at"].is_string(), "{:#}", env.info("key"));
    std::thread::sleep(Duration::from_secs(4));
    env.ok(["tick"]);
    let info = env.info("key");
    assert_eq!(info["state"], "deprovisioned", "the rotated addon outlived its expiry: {info:#}");
}

#[test]
fn sqlite_has_nothing_to_rotate_and_nothing_changes() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "web", &["--name", "db"]);
    env.provision_ready("secret", "web", &["--name", "key"]);
    let before = env.state_bytes();
    let why = env.fails(1, ["rotate", "key", "db"]);
    assert!(why.contains("db (sqlite) has nothing to rotate"), "{why}");
    assert_eq!(env.state_bytes(), before, "a refused rotation changed the state");
    let why = env.fails(2, ["rotate", "key", "--grace", "soon"]);
    assert!(why.contains("--grace"), "{why}");
    assert_eq!(env.state_bytes(), before);
}

#[test]
fn an_addon_that_is_not_ready_is_refused() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "web", "--name", "key"]);
    let before = env.state_bytes();
    let why = env.fails(1, ["rotate", "key"]);
    assert!(why.contains("only a ready addon can be rotated"), "{why}");
    assert_eq!(env.state_bytes(), before);
}

/// The whole life of a rotated server addon, through the binary.
fn rotation_over_a_grace(kind: &'static str) {
    let Some(admin) = server(kind, &format!("{kind} rotation")) else { return };
    let env = TestEnv::with_config(&servers::config(kind, &admin));
    let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let old = app_now(&env, kind);
    old.make("made_first");
    let mut open = old.connect().unwrap();

    env.ok(["rotate", "db", "--grace", "8s", "--wait"]);
    let new = app_now(&env, kind);
    assert_ne!(new.url, old.url, "the vars did not switch");
    assert!(new.works(), "the new {kind} credentials do not work at once");
    // The open session first: a second login under the same MQTT client id ends it.
    open.run(&old.prefix, "SELECT 1").expect("a session of the old login was cut during the grace");
    assert!(old.works(), "the old {kind} credentials stopped working during the grace");
    new.own("made_first", false).expect("an object made under the old login is not usable by the new");
    new.make("made_second");
    old.own("made_second", false)
        .expect("an object made under the new login is not usable by the old during the grace");
    assert!(env.info("db")["credential"]["revocation"].is_object());

    until_revocation(&env, "db");
    env.ok(["tick"]);
    assert!(!old.works(), "the old {kind} credentials still work after the grace");
    assert!(open.run(&old.prefix, "SELECT 1").is_err(), "a session of the revoked {kind} login lives on");
    assert!(new.works());
    for object in ["made_first", "made_second"] {
        new.own(object, false).unwrap_or_else(|err| panic!("{object} after the revocation: {err}"));
    }
    assert!(env.info("db")["credential"]["revocation"].is_null());

    // --grace 0: the next generation takes over and the last one goes in one wait.
    env.ok(["rotate", "db", "--grace", "0", "--wait"]);
    let newest = app_now(&env, kind);
    assert!(!new.works(), "--grace 0 left the replaced {kind} credentials working");
    for object in ["made_first", "made_second"] {
        newest.own(object, false).unwrap_or_else(|err| panic!("{object} in generation 2: {err}"));
    }
    let events = env.json(["log", "db", "--json"]);
    let count = |name: &str| events.as_array().unwrap().iter().filter(|e| e["event"] == name).count();
    assert_eq!((count("rotate"), count("rotated"), count("revoked")), (2, 2, 2), "{events:#}");

    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(logins(kind, &admin, &id), Vec::<String>::new(), "logins left on the {kind} server");
    assert_eq!(servers::traces(kind, &admin, &id), Vec::<String>::new());
}

#[test]
fn postgres_rotation_keeps_the_old_login_for_the_grace_alone() {
    rotation_over_a_grace("postgres");
}

#[test]
fn mysql_rotation_keeps_the_old_login_for_the_grace_alone() {
    rotation_over_a_grace("mysql");
}

#[test]
fn redis_rotation_keeps_the_old_password_for_the_grace_alone() {
    rotation_over_a_grace("redis");
}

#[test]
fn rabbitmq_rotation_keeps_the_old_password_for_the_grace_alone() {
    rotation_over_a_grace("rabbitmq");
}

#[test]
fn mqtt_rotation_keeps_the_old_password_for_the_grace_alone() {
    rotation_over_a_grace("mqtt");
}

#[cfg(feature = "failpoints")]
mod crashes {

    use super::*;
    use common::apps::login_of;

    /// After the ticks: the vars work, the replaced login does not, and the server has
    /// no login of the addon but the owner's and the one in the vars.
    fn settled(env: &TestEnv, kind: &'static str, admin: &str, id: &str, replaced: &App) -> App {
        env.settle();
        let now = app_now(env, kind);
        assert!(now.works(), "the vars do not work after the crash");
        now.own("kept", false).expect("the object made before the rotation is gone");
        assert!(!replaced.works(), "the replaced {kind} login still works after the crash");
        let allowed = [format!("addons_{id}"), login_of(&now)];
        for login in logins(kind, admin, id) {
            assert!(allowed.contains(&login), "{kind} login {login} leaked (allowed: {allowed:?})");
        }
        now
    }

    fn crash_inside_rotation(kind: &'static str) {
        let Some(admin) = server(kind, &format!("{kind} rotation crashes")) else { return };
        let env = TestEnv::new();
        let env_file = env.root().join("web.env");
        env.write_config(&format!("{}[apps.web]\nenv_file = {:?}\n", servers::config(kind, &admin), env_file));
        let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
        let mut app = app_now(&env, kind);
        app.make("kept");
        // Inside the switch: the new login is made (or the step is done) but not committed.
        for point in ["after-ensure-credential", "before-step-commit"] {
            env.ok(["rotate", "db", "--grace", "0"]);
            env.killed_at(point, &["tick"]);
            assert!(app_now(&env, kind).works(), "{kind}: the vars stopped working after a kill at {point}");
            app = settled(&env, kind, &admin, &id, &app);
            let written = std::fs::read_to_string(&env_file).unwrap();
            assert!(written.contains(&app.url), "the env file does not hold the new vars");
        }
        // Inside the revocation: the old login is gone (or not) but that is not recorded.
        for point in ["after-revoke-credential", "before-step-commit"] {
            env.ok(["rotate", "db", "--grace", "0"]);
            env.ok(["tick"]);
            env.killed_at(point, &["tick"]);
            app = settled(&env, kind, &admin, &id, &app);
        }
        env.ok(["deprovision", "db", "--wait"]);
        assert_eq!(logins(kind, &admin, &id), Vec::<String>::new(), "logins left on the {kind} server");
    }

    #[test]
    fn postgres_rotation_survives_a_kill_at_each_point() {
        crash_inside_rotation("postgres");
    }

    #[test]
    fn mysql_rotation_survives_a_kill_at_each_point() {
        crash_inside_rotation("mysql");
    }

    #[test]
    fn redis_rotation_survives_a_kill_at_each_point() {
        crash_inside_rotation("redis");
    }

    #[test]
    fn rabbitmq_rotation_survives_a_kill_at_each_point() {
        crash_inside_rotation("rabbitmq");
    }

    #[test]
    fn mqtt_rotation_survives_a_kill_at_each_point() {
        crash_inside_rotation("mqtt");
    }
}

#[test]
fn rotate_selector_rotates_the_matching_addons_that_have_logins() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key", "--label", "team=pay"]);
    env.provision_ready("sqlite", "web", &["--name", "db", "--label", "team=pay"]);
    env.provision_ready("secret", "api", &["--name", "other", "--label", "team=ops"]);
    let (key, other) = (env.vars("web")["SECRET_KEY"].clone(), env.vars("api")["SECRET_KEY"].clone());
    let run = env.ok(["rotate", "--selector", "team=pay", "--wait"]);
    assert!(run.stderr.contains("Skipping db (sqlite): nothing to rotate."), "{run}");
    assert_ne!(env.vars("web")["SECRET_KEY"], key);
    assert_eq!(env.vars("api")["SECRET_KEY"], other, "an addon the selector did not match was rotated");
    // --json prints an array of what was rotated, whatever its length.
    let rotated = env.json(["rotate", "-l", "team=ops", "--json"]);
    assert_eq!(rotated.as_array().map(|a| a.len()), Some(1), "{rotated:#}");
    assert_eq!(rotated[0]["name"], "other");
    // No match: said, nothing done.
    let run = env.ok(["rotate", "-l", "team=nobody"]);
    assert_eq!(run.stderr, "No live addon with something to rotate matches; nothing rotated.\n", "{run}");
    assert_eq!(env.json(["rotate", "-l", "team=nobody", "--json"]), serde_json::json!([]));
    // Names and a selector together are refused.
    let line = env.fails(2, ["rotate", "key", "-l", "team=pay"]);
    assert!(line.contains("cannot be used with"), "{line}");
    let line = env.fails(2, ["rotate", "-l", "bad key!"]);
    assert!(line.contains("invalid label key"), "{line}");
}

#[test]
fn rotate_wait_stops_at_a_rotation_the_server_refuses_for_good() {
    let Some(admin) = server("postgres", "a rotation refused for good") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    env.provision_ready("postgres", "web", &["--name", "pg"]);
    let before = env.vars("web")["DATABASE_URL"].clone();
    env.write_config(&servers::config("postgres", "postgres://nosuchuser@127.0.0.1:5432/postgres"));
    let started = std::time::Instant::now();
    let run = env.run_within(Duration::from_secs(60), ["rotate", "pg", "--wait", "--timeout", "50s"]);
    assert!(started.elapsed() < Duration::from_secs(20), "waited {:?}", started.elapsed());
    assert_eq!(run.code, 1, "{run}");
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: pg's rotation can't finish: postgres: "), "{run}");
    assert!(last.contains("nosuchuser") && last.ends_with("run 'addons wait pg'"), "{run}");
    assert_eq!(env.vars("web")["DATABASE_URL"], before, "the vars changed");
    // Once the server takes the admin again, waiting finishes the rotation.
    env.write_config(&servers::config("postgres", &admin));
    env.ok(["wait", "pg", "--timeout", "50s"]);
    assert_ne!(env.vars("web")["DATABASE_URL"], before);
    env.ok(["deprovision", "pg", "--wait"]);
}

#[test]
fn rotate_wait_says_why_a_retried_rotation_failed() {
    let Some(admin) = server("postgres", "a rotation retried while the server is away") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    env.provision_ready("postgres", "web", &["--name", "pg"]);
    // Nothing listens on port 1: refused, which may heal, so retried until the timeout.
    env.write_config(&servers::config("postgres", "postgres://postgres@127.0.0.1:1/postgres"));
    let run = env.run_within(Duration::from_secs(60), ["rotate", "pg", "--wait", "--timeout", "3s"]);
    assert_eq!(run.code, 3, "{run}");
    let warnings: Vec<&str> =
        run.stderr.lines().filter(|line| line.starts_with("warning: pg's rotation failed")).collect();
    assert_eq!(warnings.len(), 1, "said once per reason: {run}");
    assert!(warnings[0].contains("retrying with backoff"), "{run}");
    env.write_config(&servers::config("postgres", &admin));
    env.ok(["wait", "pg", "--timeout", "50s"]);
    env.ok(["deprovision", "pg", "--wait"]);
}
