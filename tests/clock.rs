//! Hosts whose clocks are off, on a state shared on PostgreSQL: one `addons` process
//! runs with its clock a day behind or ahead (`ADDONS_CLOCK_OFFSET_MS`, read by builds
//! with the failpoints feature), and every time the state keeps must still come from
//! the server's clock. Whatever ADDONS_TEST_STATE_BACKEND says, the state is a schema
//! of its own on the test server.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use addons::output::rfc3339;
use common::{Run, TestEnv};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// How far a time written "now" may lie from the server's clock read just after.
const SLACK: i64 = MINUTE;

/// Runs `addons ARGS` on `env`'s state as a host whose clock is `offset` ms off.
fn skewed(env: &TestEnv, offset: i64, args: &[&str]) -> Run {
    let mut command: Command = env.command(args);
    Run::from_output(command.env("ADDONS_CLOCK_OFFSET_MS", offset.to_string()).output().expect("run addons"))
}

/// The server's clock now (ms since the epoch).
fn server_now(env: &TestEnv) -> i64 {
    number(&env.state_sql("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint")[0][0])
}

fn number(value: &Option<String>) -> i64 {
    value.as_deref().expect("a value, not NULL").parse().expect("a number")
}

/// Asserts that `at` lies within `slack` of `expected`, naming `what`.
fn near(what: &str, at: i64, expected: i64, slack: i64) {
    let off = at - expected;
    assert!(off.abs() <= slack, "{what} is {}s off the server's clock ({at} vs {expected})", off / SECOND);
}

/// One row of the state, its values as numbers.
fn numbers(env: &TestEnv, sql: &str) -> Vec<i64> {
    let rows = env.state_sql(sql);
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0].iter().map(number).collect()
}

/// A host a day behind provisions an addon that expires in an hour, with an app
/// whose hook fails: the expiry, the provision deadline, the hook's run and its next
/// try, and every other time in the state are on the server's clock, so a tick on a
/// correct host makes the addon ready instead of finding it expired a day ago. A
/// cleanup that fails there is retried after its backoff on the server's clock too.
#[test]
fn a_host_a_day_behind_writes_every_time_on_the_servers_clock() {
    let Some(env) = TestEnv::on_postgres("clock skew on a PostgreSQL state") else { return };
    env.write_config("[apps.hooked]\non_change = \"echo failing; exit 3\"\n");
    let made = skewed(&env, -DAY, &["provision", "secret", "web", "--name", "short", "--expires-in", "1h"]);
    assert_eq!(made.code, 0, "{made}");
    let now = server_now(&env);
    let times =
        numbers(&env, "SELECT created_at, updated_at, deadline_at, expires_at FROM addons WHERE name = 'short'");
    let [created, updated, deadline, expires] = times[..] else { unreachable!() };
    near("created_at", created, now, SLACK);
    near("updated_at", updated, now, SLACK);
    near("deadline_at (30m after the creation)", deadline, created + 30 * MINUTE, SLACK);
    near("expires_at (--expires-in 1h)", expires, created + HOUR, SLACK);
    env.settle();
    assert_eq!(env.info("short")["state"], "ready", "a correct host's tick took the addon as expired");

    // An app's hook that fails there: its run and its next try.
    let hooked = skewed(&env, -DAY, &["provision", "secret", "hooked", "--name", "hooked", "--wait"]);
    assert_eq!(hooked.code, 0, "{hooked}");
    assert!(hooked.stderr.contains("app hooked: on_change hook ran for vars version 1: exit 3"), "{hooked}");
    let now = server_now(&env);
    let run = numbers(&env, "SELECT started_at, finished_at FROM hook_runs WHERE app = 'hooked'");
    near("the hook run's started_at", run[0], now, SLACK);
    near("the hook run's finished_at", run[1], now, SLACK);
    let next_try = numbers(&env, "SELECT hook_due_at FROM apps WHERE name = 'hooked'")[0];
    assert!((now - SLACK..=now + 5 * MINUTE + SLACK).contains(&next_try), "hook_due_at {next_try} vs now {now}");
    for at in numbers(&env, "SELECT min(at), max(at) FROM events") {
        near("an event's at", at, now, SLACK);
    }
    env.write_config("");

    // A time the server's clock has passed is refused, though this host's has not.
    let passed = rfc3339(server_now(&env) - 30 * MINUTE);
    let late =
        skewed(&env, -DAY, &["provision", "secret", "web", "--as", "LATE", "--name", "late", "--expires-at", &passed]);
    assert_eq!(late.code, 2, "{late}");
    assert!(late.stderr.contains("in the past") && late.stdout.is_empty(), "{late}");
    assert!(env.state_sql("SELECT 1 FROM addons WHERE name = 'late'").is_empty(), "the refused addon was made");

    // A cleanup that fails on that host is retried after a backoff on the server's clock.
    let db = skewed(&env, -DAY, &["provision", "sqlite", "store", "--name", "db", "--wait", "--json"]);
    assert_eq!(db.code, 0, "{db}");
    let id = db.json()["id"].as_str().expect("an id").to_string();
    let stuck = env.sqlite_dir().join(format!("{id}.db-wal"));
    std::fs::create_dir(&stuck).expect("put a directory where the cleanup removes a file");
    std::fs::write(stuck.join("keep"), "").expect("fill it");
    assert_eq!(skewed(&env, -DAY, &["deprovision", "db"]).code, 0);
    let ticked = skewed(&env, -DAY, &["-v", "tick"]);
    assert!(ticked.stderr.contains("db: attempt 1 failed"), "{ticked}");
    let now = server_now(&env);
    let due = numbers(&env, "SELECT due_at FROM addons WHERE name = 'db'")[0];
    assert!((now - SLACK..=now + 5 * MINUTE + SLACK).contains(&due), "the retry's due_at {due} vs now {now}");
    std::fs::remove_dir_all(&stuck).expect("clear the way");
    let started = Instant::now();
    while env.info("db")["cleanup"] != "done" {
        assert!(started.elapsed() < Duration::from_secs(30), "the cleanup was not retried");
        std::thread::sleep(Duration::from_millis(200));
        env.run(["tick"]);
    }
    assert!(!env.sqlite_dir().join(format!("{id}.db")).exists());
}

/// A host a day ahead may set an expiry that its own clock has passed but the
/// server's has not, and `--expires-in` counts from the server's clock there too.
#[test]
fn a_host_a_day_ahead_sets_expiries_on_the_servers_clock() {
    let Some(env) = TestEnv::on_postgres("clock skew on a PostgreSQL state") else { return };
    env.ok(["provision", "secret", "web", "--name", "kept"]);
    let soon = server_now(&env) + 12 * HOUR;
    let expired = skewed(&env, DAY, &["expire", "kept", &rfc3339(soon)]);
    assert_eq!(expired.code, 0, "{expired}");
    near(
        "expires_at (expire TIME)",
        numbers(&env, "SELECT expires_at FROM addons WHERE name = 'kept'")[0],
        soon,
        SECOND,
    );
    let at = skewed(
        &env,
        DAY,
        &["provision", "secret", "web", "--as", "AT", "--name", "at", "--expires-at", &rfc3339(soon)],
    );
    assert_eq!(at.code, 0, "{at}");
    near(
        "expires_at (--expires-at)",
        numbers(&env, "SELECT expires_at FROM addons WHERE name = 'at'")[0],
        soon,
        SECOND,
    );
    let made = skewed(&env, DAY, &["provision", "secret", "web", "--as", "IN", "--name", "in", "--expires-in", "2h"]);
    assert_eq!(made.code, 0, "{made}");
    let expires = numbers(&env, "SELECT expires_at FROM addons WHERE name = 'in'")[0];
    near("expires_at (--expires-in 2h)", expires, server_now(&env) + 2 * HOUR, SLACK);
}
