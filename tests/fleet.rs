//! One app's or one addon's trouble is that app's or addon's alone, and failures are
//! seen: an unwritable env file or a held lock stops no other app, `watch` ends when
//! another process finishes the last work, an addon's failure stays in sight, a
//! cleanup refused for good does not keep `wait` waiting, and `tick` tells failures
//! apart from nothing to do.

use crate::common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{servers, Run, TestEnv};

/// Two apps, `good` and `bad`, each with an env file in `dir`.
fn two_apps(dir: &Path, bad_file: &Path) -> TestEnv {
    TestEnv::with_config(&format!(
        "[apps.good]\nenv_file = {:?}\n[apps.bad]\nenv_file = {:?}\n",
        dir.join("good.env").display().to_string(),
        bad_file.display().to_string()
    ))
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// Takes an exclusive flock on `path` (created when missing), as another writer would.
fn hold_lock(path: &Path) -> File {
    let file = File::options().create(true).truncate(false).write(true).open(path).unwrap();
    // SAFETY: flock on a descriptor this test owns; released when the file is dropped.
    assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
    file
}

/// Waits for a started child to end, killing it and failing after `limit`.
fn finish_within(mut child: Child, limit: Duration, what: &str) -> Run {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

// ---------------------------------------------------------------------------
// 8.1: an unwritable env file is its app's trouble alone

#[test]
fn one_apps_unwritable_env_file_stops_no_other_app() {
    let dir = tempfile::tempdir().unwrap();
    let bad_file = dir.path().join("bad.env");
    std::fs::create_dir(&bad_file).unwrap();
    let env = two_apps(dir.path(), &bad_file);
    env.ok(["provision", "secret", "bad", "--name", "bad-key"]);
    env.ok(["provision", "secret", "good", "--name", "good-key"]);
    env.ok(["tick"]);

    // provisioned -> ready for both; only bad's env file fails.
    let run = env.run(["tick"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(env.info("good-key")["state"], "ready");
    assert_eq!(env.info("bad-key")["state"], "ready");
    let good = std::fs::read_to_string(dir.path().join("good.env")).unwrap();
    assert!(good.starts_with("SECRET_KEY="), "{good}");
    let failing = format!(
        "app bad: env file {} can't be written: it is a directory; point env_file at a file; retried by every tick",
        bad_file.display()
    );
    assert_eq!(lines(&run.stderr), ["2 transitions; 0 addons with work left".to_string(), format!("error: {failing}")]);

    // A change on the good app is written and exits 0; on the bad one it is
    // committed, and the exit code says the file did not follow.
    env.ok(["config", "set", "good", "PLAIN=1"]);
    assert!(std::fs::read_to_string(dir.path().join("good.env")).unwrap().contains("PLAIN=1\n"));
    let line = env.fails(1, ["config", "set", "bad", "HAND=1"]);
    assert_eq!(
        line,
        format!(
            "error: set HAND on app bad, but its env file {} could not be written: it is a directory; point env_file at a file; the next tick retries",
            bad_file.display()
        )
    );
    assert_eq!(env.vars("bad")["HAND"], "1");

    // `list` and `info` show it, as long as it lasts.
    assert_eq!(env.ok(["list"]).stdout.lines().last(), Some(failing.as_str()));
    assert_eq!(env.info("bad-key")["env_file_error"], failing.as_str());
    assert!(env.ok(["info", "bad-key"]).stdout.contains(&format!("env file  {failing}\n")));
    assert_eq!(env.info("good-key")["env_file_error"], serde_json::Value::Null);

    // Fixed: the next tick writes it and the failure is gone.
    std::fs::remove_dir(&bad_file).unwrap();
    let run = env.ok(["tick"]);
    assert_eq!(run.stderr, "", "{run}");
    let bad = std::fs::read_to_string(&bad_file).unwrap();
    assert!(bad.contains("HAND=1\n") && bad.contains("SECRET_KEY="), "{bad}");
    assert!(!env.ok(["list"]).stdout.contains("can't be written"));
}

// ---------------------------------------------------------------------------
// 8.2: the env-file lock is waited for only so long, honours SIGTERM, and is never
// followed through a symlink

#[test]
fn a_held_env_file_lock_holds_up_only_its_own_app() {
    let dir = tempfile::tempdir().unwrap();
    let env = two_apps(dir.path(), &dir.path().join("bad.env"));
    env.ok(["provision", "secret", "good", "--name", "good-key"]);
    env.ok(["tick"]);
    let _held = hold_lock(&dir.path().join(".bad.env.lock"));
    assert_eq!(env.run_within(Duration::from_secs(60), ["config", "set", "bad", "HAND=1"]).code, 1);

    // The good app's step and env file are not held up.
    let run = env.run_within(Duration::from_secs(60), ["tick"]);
    assert_eq!(env.info("good-key")["state"], "ready");
    assert!(std::fs::read_to_string(dir.path().join("good.env")).unwrap().starts_with("SECRET_KEY="));
    env.ok(["config", "set", "good", "MORE=1"]);

    // The locked app gets a clear error once the bounded wait is over.
    assert_eq!(run.code, 1, "{run}");
    let lock = dir.path().join(".bad.env.lock");
    let held = format!("its lock {} has been held by another process for more than 5s", lock.display());
    assert!(
        run.stderr.contains(&format!("error: app bad: env file {}", dir.path().join("bad.env").display())),
        "{run}"
    );
    assert!(run.stderr.contains(&held), "{run}");
    assert!(!run.stderr.contains("app good"), "{run}");
    let started = Instant::now();
    let line = env.fails(1, ["config", "set", "bad", "OTHER=2"]);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert!(line.starts_with("error: set OTHER on app bad, but its env file"), "{line}");
    assert!(line.contains(&held) && line.ends_with("; the next tick retries"), "{line}");
}

#[test]
fn sigterm_ends_a_wait_for_an_env_file_lock() {
    let dir = tempfile::tempdir().unwrap();
    let env = two_apps(dir.path(), &dir.path().join("bad.env"));
    let _held = hold_lock(&dir.path().join(".bad.env.lock"));
    let child = env
        .command(["config", "set", "bad", "HAND=1"])
        .env("ADDONS_ENV_LOCK_WAIT_MS", "600000")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has committed its change and is waiting for the lock.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env.state_exists() || env.run(["env", "bad"]).code != 0 {
        assert!(Instant::now() < deadline, "config set never committed");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let run = finish_within(child, Duration::from_secs(20), "config set waiting for a lock, after SIGTERM");
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(lines(&run.stderr).len(), 1, "{run}");
    assert!(run.stderr.contains("interrupted while waiting for its lock"), "{run}");
    assert_eq!(env.vars("bad")["HAND"], "1");
}

#[test]
fn a_symlinked_lock_file_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let env = two_apps(dir.path(), &dir.path().join("bad.env"));
    let victim = dir.path().join("victim");
    std::os::unix::fs::symlink(&victim, dir.path().join(".bad.env.lock")).unwrap();
    let line = env.fails(1, ["config", "set", "bad", "HAND=1"]);
    assert_eq!(
        line,
        format!(
            "error: set HAND on app bad, but its env file {} could not be written: its lock file {} is a symlink, which addons does not follow; remove it; the next tick retries",
            dir.path().join("bad.env").display(),
            dir.path().join(".bad.env.lock").display()
        )
    );
    assert!(!victim.exists(), "the symlink was followed");
    env.ok(["config", "set", "good", "HAND=1"]);
}

// ---------------------------------------------------------------------------
// 8.4: watch ends when another process finishes the last work

#[cfg(feature = "failpoints")]
#[test]
fn watch_ends_when_another_process_finishes_the_last_work() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "key"]);
    env.ok(["tick"]);
    assert_eq!(env.info("key")["state"], "provisioned");
    // Another tick claims the last step and takes its time to commit it.
    let slow = env
        .command(["tick"])
        .env("ADDONS_FAILPOINT", "before-step-commit=sleep:4000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let claimed =
        || -> bool { env.state_sql("SELECT 1 FROM addons WHERE name = 'key' AND claim IS NOT NULL").len() == 1 };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !claimed() {
        assert!(Instant::now() < deadline, "the slow tick never claimed the addon");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = env.run_within(Duration::from_secs(40), ["watch"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(env.info("key")["state"], "ready");
    assert!(run.stderr.contains("No work left."), "{run}");
    finish_within(slow, Duration::from_secs(20), "the slow tick");
}

// ---------------------------------------------------------------------------
// 8.11: why an addon failed stays in sight

/// An addon whose database file is damaged: its check fails for good.
fn broken_sqlite(env: &TestEnv) -> String {
    env.ok(["provision", "sqlite", "broken", "--name", "broken"]);
    let id = env.info("broken")["id"].as_str().unwrap().to_string();
    std::fs::write(env.sqlite_dir().join(format!("{id}.db")), b"this is not a database, not at all").unwrap();
    id
}

#[test]
fn the_reason_an_addon_failed_outlives_its_cleanup() {
    let env = TestEnv::new();
    let id = broken_sqlite(&env);
    // -q prints no transition lines, but a failure still reaches stderr.
    let run = env.run(["-q", "tick"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(run.stdout, "");
    let failure = format!(
        "{} is not a usable database: file is not a database",
        env.sqlite_dir().join(format!("{id}.db")).display()
    );
    assert_eq!(run.stderr, format!("error: broken ended in error: {failure}\n"));

    // The orphan cleanup runs and writes its own message; the reason stays.
    env.ok(["tick"]);
    let info = env.info("broken");
    assert_eq!(info["cleanup"], "done");
    assert!(info["message"].as_str().unwrap().starts_with("orphan cleanup: "), "{info:#}");
    assert_eq!(info["failure"], failure.as_str());
    let all = env.ok(["list", "--all"]).stdout;
    assert!(all.lines().nth(1).unwrap().ends_with(&failure), "{all}");
    assert!(env.ok(["info", "broken"]).stdout.contains(&format!("\nfailure   {failure}\n")));
    let line = env.fails(1, ["wait", "broken"]);
    assert_eq!(line, format!("error: broken ended in error: {failure}"));
    // An addon that did not fail has none.
    let fine = env.provision_ready("secret", "myapp", &[]);
    assert_eq!(fine["failure"], serde_json::Value::Null);
}

// ---------------------------------------------------------------------------
// 7: a cleanup refused for good does not keep `wait` waiting

#[test]
fn wait_stops_at_a_cleanup_the_provider_refuses_for_good() {
    let env = TestEnv::new();
    let addon = env.provision_ready("sqlite", "myapp", &["--name", "stuck"]);
    let file = env.sqlite_dir().join(format!("{}.db", addon["id"].as_str().unwrap()));
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    std::fs::write(file.join("keep"), "x").unwrap();
    let started = Instant::now();
    let run = env.run_within(Duration::from_secs(60), ["deprovision", "stuck", "--wait"]);
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(run.code, 1, "{run}");
    let last = lines(&run.stderr).last().copied().unwrap_or_default().to_string();
    assert!(last.starts_with("error: stuck's cleanup can't finish: sqlite: can't delete "), "{run}");
    assert!(last.contains("Is a directory") && last.ends_with("run 'addons wait stuck'"), "{run}");

    std::fs::remove_dir_all(&file).unwrap();
    let run = env.run_within(Duration::from_secs(60), ["wait", "stuck"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(env.info("stuck")["cleanup"], "done");
}

#[test]
fn deprovision_wait_stops_at_a_postgres_cleanup_refused_for_good() {
    let Some(admin) = servers::server("postgres", "a postgres cleanup refused for good") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let addon = env.provision_ready("postgres", "myapp", &["--name", "pg"]);
    let id = addon["id"].as_str().unwrap().to_string();
    env.write_config(&servers::config("postgres", "postgres://nosuchuser@127.0.0.1:5432/postgres"));
    let run = env.run_within(Duration::from_secs(60), ["deprovision", "pg", "--wait"]);
    assert_eq!(run.code, 1, "{run}");
    let last = lines(&run.stderr).last().copied().unwrap_or_default().to_string();
    assert!(last.starts_with("error: pg's cleanup can't finish: postgres: "), "{run}");
    assert!(last.contains("nosuchuser"), "{run}");
    assert!(!servers::traces("postgres", &admin, &id).is_empty(), "the cleanup cannot have run");

    env.write_config(&servers::config("postgres", &admin));
    let run = env.run_within(Duration::from_secs(60), ["wait", "pg"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(servers::traces("postgres", &admin, &id), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// 12.1 and 12.2: tick's words and retries in sight

#[test]
fn tick_counts_in_words_that_agree() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "key"]);
    let run = env.ok(["tick"]);
    assert_eq!(run.stderr, "1 transition; 1 addon with work left\n");
    let run = env.ok(["-q", "tick"]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
    let run = env.ok(["tick"]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", ""));
}

#[test]
fn failed_attempts_are_shown_and_logged_without_flooding() {
    let Some(admin) = servers::server("postgres", "failed attempts in sight") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    env.ok(["provision", "postgres", "myapp", "--name", "pg"]);
    let id = env.info("pg")["id"].as_str().unwrap().to_string();
    // The server goes away (nothing listens on port 1): each attempt fails for now.
    env.write_config(&servers::config("postgres", "postgres://postgres@127.0.0.1:1/postgres"));
    let run = env.ok(["-v", "tick"]);
    let attempt = run.stderr.lines().find(|line| line.starts_with("pg: attempt 1 failed: ")).unwrap_or_else(|| {
        panic!("no failed attempt shown:\n{run}");
    });
    assert!(attempt.contains("; next try in "), "{attempt}");
    let info = env.ok(["info", "pg"]).stdout;
    let retrying = info.lines().find(|line| line.starts_with("retrying  attempt 1 failed: ")).unwrap_or_else(|| {
        panic!("info shows no retry:\n{info}");
    });
    assert!(retrying.contains("; next try in ") && retrying.contains(", gives up at "), "{retrying}");

    // Attempts 2 and 3 fail the same way: the log gets the first two, not every one.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !env.info("pg")["retry"].as_str().unwrap_or_default().starts_with("attempt 3 failed") {
        assert!(Instant::now() < deadline, "no third attempt");
        std::thread::sleep(Duration::from_millis(200));
        env.ok(["tick"]);
    }
    let log = env.json(["log", "pg", "--json"]);
    let retries: Vec<String> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["event"] == "retry")
        .map(|event| event["message"].as_str().unwrap().split(':').next().unwrap().to_string())
        .collect();
    assert_eq!(retries, ["attempt 1 failed", "attempt 2 failed"]);

    env.write_config(&servers::config("postgres", &admin));
    env.run_within(Duration::from_secs(60), ["wait", "pg"]);
    assert_eq!(env.info("pg")["state"], "ready");
    assert_eq!(env.info("pg")["retry"], serde_json::Value::Null);
    env.run_within(Duration::from_secs(60), ["deprovision", "pg", "--wait"]);
    assert_eq!(servers::traces("postgres", &admin, &id), Vec::<String>::new());
}
