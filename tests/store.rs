//! The store seam through the binary: a failure of the state is exit 4 and never an
//! addon's failure; where the state is comes from `--state`, `ADDONS_STATE` or
//! `[state] url`, and a PostgreSQL URL's password never shows. (The store-level suite
//! that every backend runs is in src/store/tests.rs.) SQLite-only: these tests damage
//! or name the state file itself.

use crate::common;

use common::TestEnv;

/// A provisioned addon whose next step meets a damaged state file (a column the
/// step writes is gone): the tick fails with exit 4 naming the file, and the addon
/// stays where it was instead of ending in error for good.
#[test]
fn a_state_failure_during_a_step_is_exit_4_not_the_addons_failure() {
    let env = TestEnv::new();
    let created = env.json(["provision", "secret", "myapp", "--name", "keep-me", "--json"]);
    assert_eq!(created["state"], "waiting_for_provision", "{created:#}");
    env.ok(["tick", "--jobs", "1"]);
    assert_eq!(env.info("keep-me")["state"], "provisioned");
    env.state_sql("ALTER TABLE config_vars RENAME COLUMN value TO damaged");

    let run = env.run(["tick", "--jobs", "1"]);
    assert_eq!(run.code, 4, "{run}");
    let shown =
        env.postgres.as_ref().map_or(env.state.display().to_string(), |schema| format!("schema={}", schema.name));
    assert!(run.stderr.contains(&shown), "{run}");

    let row = env.state_sql("SELECT state, failure FROM addons WHERE name = 'keep-me'");
    assert_eq!(row, [[Some("provisioned".to_string()), None]], "the damaged state ended the addon");
    // Repaired, the same step goes through.
    env.state_sql("ALTER TABLE config_vars RENAME COLUMN damaged TO value");
    env.ok(["tick", "--jobs", "1"]);
    assert_eq!(env.info("keep-me")["state"], "ready");
}

/// `--state`, `ADDONS_STATE` and `[state] url` accept a PostgreSQL URL; until this
/// binary has the PostgreSQL backend it refuses one with exit 4, one line, no
/// password, and no state file made anywhere.
#[test]
fn a_postgres_state_url_is_recognised_and_its_password_never_shown() {
    let url = "postgres://fleet:hunter2@127.0.0.1:1/addons?schema=ci&sslmode=disable";
    let env = TestEnv::new();
    for args in [vec!["--state", url, "list"], vec!["list"]] {
        let mut command = env.command(&args);
        command.env("ADDONS_STATE", url);
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(4), "{args:?}: {stderr}");
        assert!(stderr.contains("postgres://fleet@127.0.0.1:1/addons"), "{args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    let env = TestEnv::with_config(&format!("[state]\nurl = \"{url}\"\n"));
    let run = env.bare_command(["--config", env.config.to_str().unwrap(), "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("schema=ci") && !stderr.contains("hunter2"), "{stderr}");
    assert!(!env.root().join(".local/share/addons/state.db").exists());
    assert!(!env.state.exists());
}

/// `[state] url` names the state file when neither `--state` nor `ADDONS_STATE` do;
/// a bad one is a usage error naming the config file and line.
#[test]
fn the_config_file_can_name_the_state() {
    let env = TestEnv::new();
    let file = env.root().join("elsewhere/state.db");
    env.write_config(&format!("[engine]\njobs = 1\n\n[state]\nurl = \"{}\"\n", file.display()));
    let run =
        env.bare_command(["--config", env.config.to_str().unwrap(), "provision", "secret", "myapp"]).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(file.exists());
    assert!(!env.root().join(".local/share/addons/state.db").exists());

    env.write_config("[state]\nschema = \"Not-Plain\"\n");
    let message = env.fails(2, ["list"]);
    assert!(message.contains("line 2") && message.contains("state.schema"), "{message}");
}

/// A pid that no process has now: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// Takes `addon`'s step over with `token` for an hour, then ticks: whether the tick
/// ran the step (took the claim over) at once.
fn tick_takes_over(env: &TestEnv, addon: &str, token: &str) -> bool {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let until = now + 3_600_000;
    env.state_sql(&format!("UPDATE addons SET claim = '{token}', claim_until = {until} WHERE name = '{addon}'"));
    let report = env.json(["tick", "--json", "--jobs", "1"]);
    !report["transitions"].as_array().unwrap().is_empty()
}

/// A claim is taken over before its lease only when its holder is a dead process of
/// this host AND this boot. Two containers can share a hostname and pid numbers: a
/// token naming only host and pid (what a tick wrote before boot ids) says nothing
/// about which kernel the pid lived in, so it waits for its lease.
#[test]
fn only_a_dead_holder_of_this_host_and_boot_loses_its_claim_early() {
    let env = TestEnv::new();
    let (host, boot, dead) =
        (read_proc("/proc/sys/kernel/hostname"), read_proc("/proc/sys/kernel/random/boot_id"), dead_pid());
    env.ok(["provision", "secret", "myapp", "--name", "held"]);
    assert!(!tick_takes_over(&env, "held", &format!("{host}:{dead}:00c0ffee")), "a host:pid token was taken over");
    let other_boot = "00000000-0000-0000-0000-000000000000";
    assert!(!tick_takes_over(&env, "held", &format!("{host}:{other_boot}:{dead}:00000000c0ffee00")));
    assert_eq!(env.info("held")["state"], "waiting_for_provision");
    assert!(tick_takes_over(&env, "held", &format!("{host}:{boot}:{dead}:00000000c0ffee00")));
    assert_eq!(env.info("held")["state"], "provisioned");
}
