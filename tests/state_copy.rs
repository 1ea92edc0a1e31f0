//! `addons state copy --to PATH|URL`: a whole state moved from a file to a PostgreSQL
//! schema and back shows the same addons, logs, vars and env to every command, and a
//! tick on the copy finishes the work the original left; a non-empty, unreachable,
//! newer or identical target is refused and left as it was.

use crate::common;

use std::path::PathBuf;

use common::pgstate::Schema;
use common::{mode, TestEnv};
use serde_json::Value;

/// A place a state can be copied to.
enum Place {
    File(PathBuf),
    Postgres(Schema),
}

impl Place {
    /// What `--state` and `--to` say for it.
    fn location(&self) -> String {
        match self {
            Place::File(path) => path.display().to_string(),
            Place::Postgres(schema) => schema.url(),
        }
    }
}

/// A place of the other kind than the environment's own state, and one of the same kind.
fn places(env: &TestEnv, admin: &str) -> (Place, Place) {
    let file = |name: &str| Place::File(env.data_dir().join(name));
    if common::pgstate::enabled() {
        (file("copy.db"), Place::Postgres(Schema::fresh(admin)))
    } else {
        (Place::Postgres(Schema::fresh(admin)), file("copy.db"))
    }
}

/// Every byte of the state at `place` (file and WAL), or every row of its schema.
fn snapshot(place: &Place) -> Vec<u8> {
    match place {
        Place::File(path) => {
            let mut bytes = std::fs::read(path).unwrap();
            bytes.extend(std::fs::read(format!("{}-wal", path.display())).unwrap_or_default());
            bytes
        }
        Place::Postgres(schema) => schema.dump(),
    }
}

/// Runs a command on the state at `place`.
fn at(env: &TestEnv, place: &Place, args: &[&str]) -> common::Run {
    let location = place.location();
    let mut all = vec!["--state", location.as_str()];
    all.extend_from_slice(args);
    env.run(all)
}

/// What every reading command shows of a state, claims aside (a copy has none).
fn everything(env: &TestEnv, place: Option<&Place>) -> Vec<(String, String)> {
    let run = |args: &[&str]| -> String {
        let run = match place {
            Some(place) => at(env, place, args),
            None => env.run(args),
        };
        assert_eq!(run.code, 0, "addons {args:?}:\n{run}");
        run.stdout
    };
    let list: Value = serde_json::from_str(&run(&["list", "--all", "--json"])).unwrap();
    let mut shown = vec![("list".to_string(), list.to_string())];
    for addon in list.as_array().unwrap() {
        let name = addon["name"].as_str().unwrap();
        shown.push((format!("info {name}"), run(&["info", name, "--json", "--reveal"])));
        shown.push((format!("log {name}"), run(&["log", name, "--json"])));
        shown.push((format!("log {name} (text)"), run(&["log", name])));
    }
    shown.push(("hooks myapp".to_string(), run(&["hooks", "myapp", "--json"])));
    for app in ["myapp", "web", "gone", "broken", "worker"] {
        shown.push((format!("env {app}"), run(&["env", app, "--format", "json"])));
        shown.push((format!("config {app}"), run(&["config", app, "--json", "--reveal"])));
    }
    shown.push(("list (text)".to_string(), run(&["list", "--all"])));
    shown
}

/// A state with addons in every state: ready (labels, an expiry, a var set by hand, an
/// env file and its on_change hook's runs, a rotation pending, another app attached), waiting (claimed by a host that vanished),
/// deprovisioned with its cleanup pending, and in error with its orphan cleanup pending.
fn fill(env: &TestEnv) {
    env.write_config(&format!(
        "[providers.sqlite]\ndir = \"{root}/sqlite-files\"\n[apps.myapp]\nenv_file = \"{root}/myapp.env\"\non_change = \"echo restarted\"\n",
        root = env.root().display()
    ));
    env.ok(["provision", "sqlite", "broken", "--name", "broken-db"]);
    let id = env.info("broken-db")["id"].as_str().unwrap().to_string();
    std::fs::write(env.root().join(format!("sqlite-files/{id}.db")), b"this is not a database, not at all").unwrap();
    assert_eq!(env.run(["tick", "--json"]).code, 1);
    assert_eq!(env.info("broken-db")["state"], "error");
    env.provision_ready("secret", "myapp", &["--name", "ready-key", "--label", "team=core", "--expires-in", "30d"]);
    env.ok(["config", "set", "myapp", "HAND=made"]);
    env.ok(["rotate", "ready-key"]);
    env.ok(["attach", "ready-key", "worker", "--as", "SHARED", "--wait"]);
    env.provision_ready("secret", "gone", &["--name", "gone-key"]);
    env.ok(["deprovision", "gone-key"]);
    env.ok(["provision", "secret", "web", "--name", "waiting-key", "--as", "web"]);
    env.state_sql("UPDATE addons SET claim = 'vanished-host', claim_until = 9999999999999 WHERE name = 'waiting-key'");
}

#[test]
fn a_state_goes_to_the_other_backend_and_back_unchanged_and_ticks_there() {
    let Some(admin) = common::pgstate::server("state copy test") else { return };
    let env = TestEnv::new();
    fill(&env);
    let before = everything(&env, None);
    let (other, back) = places(&env, &admin);

    let copied = env.json(["state", "copy", "--to", &other.location(), "--json"]);
    assert_eq!(
        copied["copied"],
        serde_json::json!({"addons": 4, "apps": 5, "attachments": 1, "backups": 0, "config_vars": 4, "events": 17, "hook_runs": 3})
    );
    assert_eq!(everything(&env, Some(&other)), before, "the copy shows something else");
    let run = at(&env, &other, &["state", "copy", "--to", &back.location()]);
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.stdout.starts_with("copied 4 addons, 17 events, 5 apps, 4 config vars, 3 hook runs, 1 attachment to "),
        "{run}"
    );
    assert_eq!(everything(&env, Some(&back)), before, "the copy of the copy shows something else");
    assert_eq!(everything(&env, None), before, "copying changed the original");
    if let Place::File(path) = &back {
        assert_eq!(mode(path), 0o600);
    }

    // The claim of a host of the original did not come along: the copy's tick takes
    // the work, finishes the deprovision and the orphan cleanup, and the rotation.
    let claims = |place: &Place| at(&env, place, &["info", "waiting-key", "--json"]).json()["state"].clone();
    assert_eq!(claims(&back), "waiting_for_provision");
    let run = at(&env, &back, &["tick", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    let moved: Vec<String> = run.json()["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{} {}", t["name"].as_str().unwrap(), t["event"].as_str().unwrap()))
        .collect();
    assert!(moved.iter().any(|t| t.starts_with("waiting-key ")), "{moved:?}");
    let info = |name: &str| at(&env, &back, &["info", name, "--json"]).json();
    assert_eq!(info("gone-key")["cleanup"], "done");
    assert_eq!(info("broken-db")["cleanup"], "done");
    assert_eq!(info("ready-key")["credential"]["vars_generation"], 1);
    // The original still has all of it to do (its waiting addon claimed by the vanished host).
    assert_eq!(env.info("gone-key")["cleanup"], "pending");
    assert_eq!(env.info("waiting-key")["state"], "waiting_for_provision");
}

#[test]
fn a_target_that_is_not_empty_is_refused_and_left_as_it_was() {
    let Some(admin) = common::pgstate::server("state copy test") else { return };
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &[]);
    let (other, same_kind) = places(&env, &admin);
    for target in [&other, &same_kind] {
        at(&env, target, &["config", "set", "elsewhere", "KEY=value"]);
        let before = snapshot(target);
        let line = env.fails(4, ["state", "copy", "--to", &target.location()]);
        assert!(line.contains("is not empty (it holds 1 app, 1 config var)"), "{line}");
        assert_eq!(snapshot(target), before);
    }
}

#[test]
fn an_unreachable_target_is_refused_without_its_password() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &[]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let line = env.fails(4, ["state", "copy", "--to", &format!("postgres://u:hunter2@127.0.0.1:{port}/db")]);
    assert!(line.starts_with(&format!("error: state postgres://u@127.0.0.1:{port}/db?schema=addons: ")), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
    let line = env.fails(2, ["state", "copy", "--to", "postgres://u:hunter2@/db"]);
    assert!(!line.contains("hunter2") && line.contains("--to"), "{line}");
}

#[test]
fn the_state_itself_is_refused_as_a_target() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &[]);
    let before = env.state_bytes();
    let itself = match &env.postgres {
        Some(schema) => schema.url().replace("127.0.0.1", "localhost"),
        None => format!("{}/../state/state.db", env.data_dir().display()),
    };
    let line = env.fails(2, ["state", "copy", "--to", &itself]);
    assert!(line.contains("--to names the state being copied"), "{line}");
    assert_eq!(env.state_bytes(), before);
}

#[test]
fn a_target_of_a_newer_addons_is_refused_and_left_alone() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &[]);
    let target = env.root().join("newer.db");
    let conn = rusqlite::Connection::open(&target).unwrap();
    conn.pragma_update(None, "application_id", 0x6164_6473).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    conn.execute_batch("CREATE TABLE later (x)").unwrap();
    drop(conn);
    let bytes = std::fs::read(&target).unwrap();
    let line = env.fails(4, ["state", "copy", "--to", target.to_str().unwrap()]);
    assert!(line.contains("written by a newer addons"), "{line}");
    assert_eq!(std::fs::read(&target).unwrap(), bytes);
}

#[test]
fn a_missing_state_has_nothing_to_copy_and_makes_no_target() {
    let env = TestEnv::on_sqlite_file();
    let target = env.root().join("copy.db");
    let line = env.fails(4, ["state", "copy", "--to", target.to_str().unwrap()]);
    assert!(line.contains("there is no state at"), "{line}");
    assert!(!target.exists());
    assert!(!env.state_exists());
}

/// After a move only the copy acts: the source refuses every command that would change
/// it or reach a server (exit 4, one line naming where the state went) and still answers
/// the reading ones. `--keep-source` instead leaves the source acting and makes the copy
/// a read-only snapshot, and a copy of a snapshot acts again (a restore), the snapshot
/// kept as it was.
#[test]
fn a_moved_state_refuses_every_change_and_a_kept_source_makes_a_snapshot() {
    let Some(admin) = common::pgstate::server("state copy test") else { return };
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    let (moved_to, _) = places(&env, &admin);
    let run = env.run(["state", "copy", "--to", &moved_to.location()]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("is marked as moved"), "{run}");
    let read = || -> Vec<String> {
        let reads: &[&[&str]] = &[
            &["list", "--all", "--json"],
            &["info", "key", "--json"],
            &["log", "key"],
            &["env", "web"],
            &["hooks", "web"],
        ];
        reads.iter().map(|args| env.ok(*args).stdout).collect()
    };
    let reading = read();

    let changes: &[&[&str]] = &[
        &["check", "key"],
        &["tick"],
        &["deprovision", "key"],
        &["provision", "secret", "web", "--name", "other"],
        &["config", "set", "web", "A=1"],
        &["rotate", "key"],
        &["label", "key", "team=core"],
        &["attach", "key", "worker"],
        &["state", "copy", "--to", &env.data_dir().join("again.db").display().to_string()],
    ];
    for args in changes {
        let run = env.run(*args);
        assert_eq!(run.code, 4, "addons {args:?} on a moved state:\n{run}");
        assert_eq!(run.stderr.lines().count(), 1, "{run}");
        assert!(run.stderr.contains("was moved to") && run.stderr.contains("--state"), "{run}");
    }
    assert_eq!(read(), reading, "a refused command changed the moved state");
    assert!(!env.data_dir().join("again.db").exists(), "a copy of a moved state was made");

    // The copy acts.
    assert_eq!(at(&env, &moved_to, &["rotate", "key", "--wait"]).code, 0);
    // A backup: the source goes on acting; the snapshot refuses changes.
    let snapshot_file = Place::File(env.data_dir().join("snapshot.db"));
    let run = at(&env, &moved_to, &["state", "copy", "--keep-source", "--to", &snapshot_file.location()]);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("read-only snapshot"), "{run}");
    let run = at(&env, &snapshot_file, &["tick"]);
    assert_eq!(run.code, 4, "{run}");
    assert!(run.stderr.contains("is a read-only snapshot of"), "{run}");
    assert_eq!(at(&env, &snapshot_file, &["info", "key"]).code, 0);
    assert_eq!(at(&env, &moved_to, &["tick"]).code, 0, "the source of a backup stopped acting");
    // A restore: a copy of the snapshot acts, and the snapshot stays one.
    let restored = Place::File(env.data_dir().join("restored.db"));
    assert_eq!(at(&env, &snapshot_file, &["state", "copy", "--to", &restored.location()]).code, 0);
    assert_eq!(at(&env, &restored, &["deprovision", "key", "--wait"]).code, 0);
    assert_eq!(at(&env, &snapshot_file, &["tick"]).code, 4);
}
