//! `backup`, `backups` and `restore` through the binary, for each provider with backups
//! (postgres, mysql, redis, sqlite):
//! an addon filled, backed up, its data changed and deleted, restored, and every row
//! compared with what it held at backup time, its vars kept; a backup file changed
//! since is refused; a secret is refused with its reason. The crash tests (feature
//! `failpoints`) kill the worker at each of its points: the old data stays whole, no
//! partial backup is listed, and the next tick's worker finishes the work.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::common;

use common::servers::{self, connect_mysql, connect_postgres, connect_redis, server};
use common::TestEnv;

/// An environment whose backups go under its temp dir (a state on PostgreSQL needs a
/// folder named), with `extra` config lines.
fn env_with(extra: &str) -> TestEnv {
    let env = TestEnv::new();
    let dir = env.root().join("backups");
    env.write_config(&format!("[backups]\ndir = \"{}\"\n{extra}", dir.display()));
    env
}

/// The value of var `key` of app `app`.
fn var(env: &TestEnv, app: &str, key: &str) -> String {
    env.vars(app).get(key).cloned().unwrap_or_else(|| panic!("app {app} has no {key}"))
}

/// The rows an addon is filled with: enough for many steps of SQLite's backup.
fn rows() -> Vec<(i64, String)> {
    (1..=3000).map(|id| (id, format!("row {id} ✓ 'quoted' \"and\" \\ back {}", "x".repeat(200)))).collect()
}

/// The path in a sqlite addon's `DATABASE_URL`.
fn sqlite_path(env: &TestEnv, app: &str) -> String {
    var(env, app, "DATABASE_URL").strip_prefix("sqlite:///").expect("a sqlite URL").to_string()
}

fn fill_sqlite(path: &str) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", []).unwrap();
    for (id, body) in rows() {
        tx.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![id, body]).unwrap();
    }
    tx.commit().unwrap();
}

/// Every row of `t`, and the tables there are.
fn sqlite_rows(path: &str) -> (Vec<(i64, String)>, Vec<String>) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn.prepare("SELECT id, body FROM t ORDER BY id").unwrap();
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mut statement = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
    let tables = statement.query_map([], |row| row.get(0)).unwrap().map(Result::unwrap).collect();
    (rows, tables)
}

fn change_sqlite(path: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "DELETE FROM t WHERE id % 3 = 0; UPDATE t SET body = 'changed' WHERE id < 100; \
         INSERT INTO t VALUES (99999, 'new'); CREATE TABLE later (x INTEGER);",
    )
    .unwrap();
}

fn fill_postgres(url: &str) {
    let mut client = connect_postgres(url).unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, body text NOT NULL); \
             CREATE SEQUENCE s; SELECT nextval('s'); SELECT nextval('s'); \
             CREATE VIEW v AS SELECT count(*) AS n FROM t; \
             CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';",
        )
        .unwrap();
    let mut tx = client.transaction().unwrap();
    for (id, body) in rows() {
        tx.execute("INSERT INTO t VALUES ($1, $2)", &[&id, &body]).unwrap();
    }
    tx.commit().unwrap();
}

/// Every row of `t`, the sequence's last value, the view and function, and the tables
/// and their owners.
type PgSeen = (Vec<(i64, String)>, i64, i64, i32, Vec<(String, String)>);

fn postgres_rows(url: &str) -> PgSeen {
    let mut client = connect_postgres(url).unwrap();
    let rows =
        client.query("SELECT id, body FROM t ORDER BY id", &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    let row = client.query_one("SELECT (SELECT last_value FROM s), (SELECT n FROM v), answer()", &[]).unwrap();
    let tables = client
        .query(
            "SELECT c.relname::text, pg_get_userbyid(c.relowner)::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (rows, row.get(0), row.get(1), row.get(2), tables)
}

fn change_postgres(url: &str) {
    let mut client = connect_postgres(url).unwrap();
    client
        .batch_execute(
            "DELETE FROM t WHERE id % 3 = 0; UPDATE t SET body = 'changed' WHERE id < 100; \
             INSERT INTO t VALUES (99999, 'new'); SELECT nextval('s'); CREATE TABLE later (x int); \
             DROP VIEW v; CREATE VIEW v AS SELECT 0::bigint AS n;",
        )
        .unwrap();
}

/// The SHA-256 of a file, as `backups` shows it.
fn sha256(path: &str) -> String {
    let bytes = std::fs::read(path).unwrap();
    format!("sha256:{}", Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// `backups ADDON --json`.
fn listed(env: &TestEnv, addon: &str) -> Vec<serde_json::Value> {
    env.json(["backups", addon, "--json"]).as_array().unwrap().clone()
}

/// Checks a finished backup as recorded and listed: its file is whole, with the size
/// and checksum recorded.
fn check_recorded(env: &TestEnv, addon: &str, backup: &serde_json::Value) {
    assert_eq!(backup["status"], "done", "{backup}");
    let file = backup["file"].as_str().unwrap();
    assert_eq!(backup["checksum"].as_str().unwrap(), sha256(file));
    assert_eq!(backup["size"].as_u64().unwrap(), std::fs::metadata(file).unwrap().len());
    assert_eq!(common::mode(Path::new(file)), 0o600);
    let ids: Vec<String> = listed(env, addon).iter().map(|b| b["id"].as_str().unwrap().to_string()).collect();
    assert!(ids.iter().any(|id| backup["id"] == id.as_str()), "{ids:?}");
    let table = env.ok(["backups", addon]).stdout;
    assert!(table.starts_with("ID ") && table.contains(backup["id"].as_str().unwrap()), "{table}");
}

#[test]
fn sqlite_restore_brings_back_every_row_and_keeps_the_vars() {
    let env = env_with("");
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let path = sqlite_path(&env, "main");
    fill_sqlite(&path);
    let before = sqlite_rows(&path);
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    check_recorded(&env, "main-db", &backup);
    change_sqlite(&path);
    assert_ne!(sqlite_rows(&path), before);
    let vars = env.vars("main");
    let id = backup["id"].as_str().unwrap();
    let restore = env.json(["restore", "main-db", id, "--confirm", "main-db", "--wait", "--json"]);
    assert_eq!((restore["kind"].as_str(), restore["status"].as_str()), (Some("restore"), Some("done")), "{restore}");
    assert!(sqlite_rows(&path) == before, "not every row came back");
    assert_eq!(env.vars("main"), vars);
    // A restore is no backup: the list is as it was.
    assert_eq!(listed(&env, "main-db").len(), 1);
    // And the restored file is a whole database that takes writes.
    rusqlite::Connection::open(&path).unwrap().execute("INSERT INTO t VALUES (5, 'x')", []).unwrap_err();
    rusqlite::Connection::open(&path).unwrap().execute("INSERT INTO t VALUES (123456, 'x')", []).unwrap();
}

#[test]
fn postgres_restore_brings_back_every_row_and_keeps_the_logins() {
    let Some(admin) = server("postgres", "postgres backups") else { return };
    let env = env_with(&servers::config("postgres", &admin));
    let made = env.provision_ready("postgres", "main", &["--name", "main-db"]);
    let url = var(&env, "main", "DATABASE_URL");
    fill_postgres(&url);
    let before = postgres_rows(&url);
    let owner = format!("addons_{}", made["id"].as_str().unwrap());
    assert!(before.4.iter().all(|(_, o)| *o == owner), "{:?}", before.4);
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    check_recorded(&env, "main-db", &backup);
    // A backup the tools can read back.
    let listing = std::process::Command::new("pg_restore").arg("--list").arg(backup["file"].as_str().unwrap()).output();
    assert!(listing.unwrap().status.success());
    change_postgres(&url);
    assert_ne!(postgres_rows(&url), before);
    // An app session open throughout goes on working after the restore.
    let mut open = connect_postgres(&url).unwrap();
    let vars = env.vars("main");
    let id = backup["id"].as_str().unwrap();
    env.ok(["restore", "main-db", id, "--confirm", "main-db", "--wait"]);
    assert!(postgres_rows(&url) == before, "not every row came back");
    assert_eq!(env.vars("main"), vars);
    let count: i64 = open.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
    assert_eq!(count, 3000);
    // The app's login still writes, and the drift check finds nothing amiss.
    connect_postgres(&url).unwrap().execute("INSERT INTO t VALUES (123456, 'x')", &[]).unwrap();
    let checked = env.run(["check", "main-db"]);
    assert_eq!(checked.code, 0, "{checked}");
    let ids = [made["id"].as_str().unwrap().to_string()];
    env.ok(["deprovision", "main-db", "--wait"]);
    for id in ids {
        assert!(servers::traces("postgres", &admin, &id).is_empty(), "{id} left traces");
    }
}

/// Every key under `prefix` in databases 0 and 1, read as the admin: its value (DUMP) and its TTL, rounded
/// to the second below.
type RedisSeen = Vec<(u32, String, Vec<u8>, i64)>;

fn redis_keys(url: &str, prefix: &str) -> RedisSeen {
    let mut con = connect_redis(url).unwrap();
    let mut seen = Vec::new();
    for db in [0u32, 1] {
        redis::cmd("SELECT").arg(db).query::<()>(&mut con).unwrap();
        let mut keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut con).unwrap();
        keys.sort();
        for key in keys {
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(&mut con).unwrap();
            let ttl: i64 = redis::cmd("TTL").arg(&key).query(&mut con).unwrap();
            seen.push((db, key, dump, ttl));
        }
    }
    seen
}

/// Whether two readings hold the same keys and values, the TTLs within `slack` seconds.
fn same_keys(a: &RedisSeen, b: &RedisSeen, slack: i64) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && x.1 == y.1 && x.2 == y.2 && (x.3 - y.3).abs() <= slack)
}

fn fill_redis(url: &str, prefix: &str) {
    let mut con = connect_redis(url).unwrap();
    for i in 0..2000 {
        redis::cmd("SET").arg(format!("{prefix}k{i}")).arg(format!("v{i} ✓")).query::<()>(&mut con).unwrap();
    }
    redis::cmd("RPUSH").arg(format!("{prefix}list")).arg(&["a", "b", "c"]).query::<()>(&mut con).unwrap();
    redis::cmd("HSET").arg(format!("{prefix}hash")).arg(&["f", "1", "g", "2"]).query::<()>(&mut con).unwrap();
    redis::cmd("SET").arg(format!("{prefix}short")).arg("x").arg("EX").arg(1000).query::<()>(&mut con).unwrap();
    redis::cmd("SELECT").arg(1).query::<()>(&mut con).unwrap();
    redis::cmd("SET").arg(format!("{prefix}in-db-1")).arg("one").arg("EX").arg(5000).query::<()>(&mut con).unwrap();
}

fn change_redis(url: &str, prefix: &str) {
    let mut con = connect_redis(url).unwrap();
    for i in (0..2000).step_by(3) {
        redis::cmd("DEL").arg(format!("{prefix}k{i}")).query::<()>(&mut con).unwrap();
    }
    redis::cmd("SET").arg(format!("{prefix}k1")).arg("changed").query::<()>(&mut con).unwrap();
    redis::cmd("SET").arg(format!("{prefix}later")).arg("new").query::<()>(&mut con).unwrap();
    redis::cmd("PERSIST").arg(format!("{prefix}short")).query::<()>(&mut con).unwrap();
    redis::cmd("SELECT").arg(1).query::<()>(&mut con).unwrap();
    redis::cmd("DEL").arg(format!("{prefix}in-db-1")).query::<()>(&mut con).unwrap();
}

#[test]
fn redis_restore_brings_back_every_key_with_its_ttl() {
    let Some(admin) = server("redis", "redis backups") else { return };
    let env = env_with(&servers::config("redis", &admin));
    let made = env.provision_ready("redis", "main", &["--name", "main-cache"]);
    let (url, prefix) = (var(&env, "main", "REDIS_URL"), var(&env, "main", "REDIS_KEY_PREFIX"));
    fill_redis(&url, &prefix);
    let before = redis_keys(&admin, &prefix);
    assert_eq!(before.len(), 2000 + 4);
    let backup = env.json(["backup", "main-cache", "--wait", "--json"]);
    check_recorded(&env, "main-cache", &backup);
    change_redis(&url, &prefix);
    assert!(!same_keys(&redis_keys(&admin, &prefix), &before, 2));
    let vars = env.vars("main");
    let id = backup["id"].as_str().unwrap();
    env.ok(["restore", "main-cache", id, "--confirm", "main-cache", "--wait"]);
    assert!(same_keys(&redis_keys(&admin, &prefix), &before, 5), "not every key came back with its TTL");
    assert_eq!(env.vars("main"), vars);
    let ids = [made["id"].as_str().unwrap().to_string()];
    env.ok(["deprovision", "main-cache", "--wait"]);
    for id in ids {
        assert!(servers::traces("redis", &admin, &id).is_empty(), "{id} left traces");
    }
}

fn fill_mysql(url: &str) {
    use mysql::prelude::Queryable;
    let mut con = connect_mysql(url).unwrap();
    con.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, body TEXT NOT NULL) ENGINE=InnoDB").unwrap();
    con.query_drop("CREATE TABLE u (k VARCHAR(20) PRIMARY KEY, n INT AUTO_INCREMENT UNIQUE) ENGINE=InnoDB").unwrap();
    con.exec_batch("INSERT INTO t VALUES (?, ?)", rows()).unwrap();
    con.query_drop("INSERT INTO u (k) VALUES ('a'), ('b'), ('c')").unwrap();
}

/// Every row of `t` and `u`, and the tables there are.
type MysqlSeen = (Vec<(i64, String)>, Vec<(String, i32)>, Vec<String>);

fn mysql_rows(url: &str) -> MysqlSeen {
    use mysql::prelude::Queryable;
    let mut con = connect_mysql(url).unwrap();
    let t = con.query("SELECT id, body FROM t ORDER BY id").unwrap();
    let u = con.query("SELECT k, n FROM u ORDER BY k").unwrap();
    let tables = con.query("SHOW TABLES").unwrap();
    (t, u, tables)
}

fn change_mysql(url: &str) {
    use mysql::prelude::Queryable;
    let mut con = connect_mysql(url).unwrap();
    con.query_drop("DELETE FROM t WHERE id % 3 = 0").unwrap();
    con.query_drop("UPDATE t SET body = 'changed' WHERE id < 100").unwrap();
    con.query_drop("INSERT INTO t VALUES (99999, 'new')").unwrap();
    con.query_drop("DELETE FROM u WHERE k = 'b'").unwrap();
    con.query_drop("INSERT INTO u (k) VALUES ('d')").unwrap();
    con.query_drop("CREATE TABLE later (x INT)").unwrap();
}

#[test]
fn mysql_restore_brings_back_every_row_and_keeps_the_logins() {
    let Some(admin) = server("mysql", "mysql backups") else { return };
    let env = env_with(&servers::config("mysql", &admin));
    let made = env.provision_ready("mysql", "main", &["--name", "main-db"]);
    let url = var(&env, "main", "DATABASE_URL");
    fill_mysql(&url);
    let before = mysql_rows(&url);
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    check_recorded(&env, "main-db", &backup);
    change_mysql(&url);
    assert!(mysql_rows(&url) != before);
    let vars = env.vars("main");
    let id = backup["id"].as_str().unwrap();
    env.ok(["restore", "main-db", id, "--confirm", "main-db", "--wait"]);
    assert!(mysql_rows(&url) == before, "not every row came back");
    assert_eq!(env.vars("main"), vars);
    // The app's login still writes, and the next AUTO_INCREMENT follows the backup's.
    use mysql::prelude::Queryable;
    let mut con = connect_mysql(&url).unwrap();
    con.query_drop("INSERT INTO u (k) VALUES ('z')").unwrap();
    let n: Option<i32> = con.query_first("SELECT n FROM u WHERE k = 'z'").unwrap();
    assert_eq!(n, Some(4));
    drop(con);
    let ids = [made["id"].as_str().unwrap().to_string()];
    env.ok(["deprovision", "main-db", "--wait"]);
    for id in ids {
        assert!(servers::traces("mysql", &admin, &id).is_empty(), "{id} left traces");
    }
}

#[test]
fn a_mysql_restore_that_can_not_be_swapped_in_at_once_is_refused_with_nothing_changed() {
    use mysql::prelude::Queryable;
    let Some(admin) = server("mysql", "mysql backups with views") else { return };
    let env = env_with(&servers::config("mysql", &admin));
    env.provision_ready("mysql", "main", &["--name", "main-db"]);
    let url = var(&env, "main", "DATABASE_URL");
    fill_mysql(&url);
    connect_mysql(&url).unwrap().query_drop("CREATE VIEW v AS SELECT count(*) AS n FROM t").unwrap();
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    change_mysql(&url);
    let changed = mysql_rows(&url);
    let id = backup["id"].as_str().unwrap();
    let run = env.run(["restore", "main-db", id, "--confirm", "main-db", "--wait"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stderr.contains("views, routines, triggers or events") && run.stderr.contains("nothing was changed"),
        "{run}"
    );
    assert!(mysql_rows(&url) == changed, "the data changed");
    env.ok(["deprovision", "main-db", "--wait"]);
}

#[test]
fn a_backup_changed_since_is_refused_with_the_data_unchanged() {
    let env = env_with("");
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let path = sqlite_path(&env, "main");
    fill_sqlite(&path);
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    change_sqlite(&path);
    let changed = sqlite_rows(&path);
    let file = backup["file"].as_str().unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 0x5a;
    std::fs::write(file, bytes).unwrap();
    let id = backup["id"].as_str().unwrap();
    let line = env.fails(1, ["restore", "main-db", id, "--confirm", "main-db", "--wait"]);
    assert!(line.contains("does not have the checksum recorded"), "{line}");
    assert!(sqlite_rows(&path) == changed, "the data changed");
    // Nothing was recorded: no restore is pending, and a backup can be made at once.
    let pending = env.state_sql("SELECT id FROM backups WHERE status = 'pending'");
    assert!(pending.is_empty(), "{pending:?}");
    env.ok(["backup", "main-db", "--wait"]);
}

#[test]
fn provision_from_backup_makes_a_new_addon_with_the_backups_data() {
    let env = env_with("");
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let path = sqlite_path(&env, "main");
    fill_sqlite(&path);
    let before = sqlite_rows(&path);
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    change_sqlite(&path);
    let id = backup["id"].as_str().unwrap();
    env.provision_ready("sqlite", "branch", &["--name", "branch-db", "--from-backup", id]);
    let copy = sqlite_path(&env, "branch");
    assert_ne!(copy, path);
    assert!(sqlite_rows(&copy) == before, "the new addon does not hold the backup's rows");
    assert!(sqlite_rows(&path) != before, "the source changed");
    // A backup changed since, or one of another provider, makes nothing.
    let line = env.fails(2, ["provision", "secret", "other", "--from-backup", id]);
    assert!(line.contains("is of a sqlite addon"), "{line}");
    let file = backup["file"].as_str().unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    bytes[200] ^= 1;
    std::fs::write(file, bytes).unwrap();
    let line = env.fails(1, ["provision", "sqlite", "other", "--from-backup", id]);
    assert!(line.contains("does not have the checksum recorded"), "{line}");
    assert!(env.fails(2, ["env", "other"]).contains("no app named \"other\""), "app other was made");
}

#[test]
fn postgres_provision_from_backup_holds_every_row() {
    let Some(admin) = server("postgres", "postgres --from-backup") else { return };
    let env = env_with(&servers::config("postgres", &admin));
    env.provision_ready("postgres", "main", &["--name", "main-db"]);
    let url = var(&env, "main", "DATABASE_URL");
    fill_postgres(&url);
    let before = postgres_rows(&url);
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    let id = backup["id"].as_str().unwrap();
    let made = env.provision_ready("postgres", "branch", &["--name", "branch-db", "--from-backup", id]);
    let (rows, last, n, answer, tables) = postgres_rows(&var(&env, "branch", "DATABASE_URL"));
    assert!(rows == before.0, "not every row is in the new addon");
    assert_eq!((last, n, answer), (before.1, before.2, before.3));
    let owner = format!("addons_{}", made["id"].as_str().unwrap());
    assert!(tables.iter().all(|(_, o)| *o == owner), "{tables:?}");
    env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
}

#[test]
fn refusals_say_why_and_change_nothing() {
    let env = env_with("");
    env.provision_ready("secret", "main", &["--name", "main-key"]);
    env.provision_ready("sqlite", "main", &["--name", "main-db", "--as", "other"]);
    let line = env.fails(2, ["backup", "main-key"]);
    assert!(line.contains("main-key can't be backed up: a secret addon holds no data"), "{line}");
    let line = env.fails(2, ["backup", "nope"]);
    assert!(line.contains("no addon named \"nope\""), "{line}");
    let backup = env.json(["backup", "main-db", "--wait", "--json"]);
    let id = backup["id"].as_str().unwrap();
    let line = env.fails(2, ["restore", "main-db", id, "--confirm", "other-db"]);
    assert!(line.contains("--confirm main-db"), "{line}");
    let line = env.fails(2, ["restore", "main-db", "0123456789abcdef", "--confirm", "main-db"]);
    assert!(line.contains("no backup \"0123456789abcdef\""), "{line}");
    let line = env.fails(2, ["restore", "main-key", id, "--confirm", "main-key"]);
    assert!(line.contains("can't be backed up"), "{line}");
    let rows = env.state_sql("SELECT kind FROM backups");
    assert_eq!(rows, vec![vec![Some("backup".to_string())]]);
}

#[test]
fn a_state_shared_by_hosts_needs_a_backups_folder_named() {
    let Some(env) = TestEnv::on_postgres("backups on a shared state") else { return };
    env.write_config("");
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let run = env.run(["backup", "main-db"]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("[backups]\ndir = "), "{run}");
    assert!(env.state_sql("SELECT id FROM backups").is_empty());
    // So does an apply file's schedule, before anything is made.
    let file = env.root().join("addons.toml");
    std::fs::write(
        &file,
        "scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"sqlite\"\napp = \"web\"\nbackup_every = \"1d\"\n",
    )
    .unwrap();
    let run = env.run(["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("[backups]\ndir = "), "{run}");
    assert_eq!(env.ok(["list", "--json"]).json().as_array().unwrap().len(), 1);
}

#[cfg(feature = "failpoints")]
mod crash {
    use super::*;
    use std::time::{Duration, Instant};

    /// Asks for a backup or restore (`args`) whose own worker dies as it starts, then
    /// runs a worker for it that dies at `point`. The id of the work.
    fn killed_worker(env: &TestEnv, args: &[&str], point: &str) -> String {
        let run = env.command(args).env("ADDONS_FAILPOINT", "backup-worker-start").output().unwrap();
        assert!(run.status.success(), "{run:?}");
        let id = String::from_utf8(run.stdout).unwrap().trim().to_string();
        let data_dir = env.data_dir();
        env.killed_at(point, &["__backup", &id, "--data-dir", data_dir.to_str().unwrap()]);
        id
    }

    /// Ticks until the work `id` is no longer pending: its status.
    fn ticked_until_done(env: &TestEnv, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            env.ok(["tick"]);
            let status = env.state_sql(&format!("SELECT status FROM backups WHERE id = '{id}'"));
            let status = status[0][0].clone().unwrap();
            if status != "pending" {
                return status;
            }
            assert!(Instant::now() < deadline, "{id} still pending");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The files under the addon's backups folder.
    fn files(env: &TestEnv, addon_id: &str) -> Vec<String> {
        let dir = env.root().join("backups").join(addon_id);
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    /// A backup killed at `point`: none listed, then the next tick's worker makes it
    /// whole, and only its file is left.
    fn killed_backup(env: &TestEnv, addon: &str, addon_id: &str, point: &str) -> serde_json::Value {
        let id = killed_worker(env, &["backup", addon], point);
        assert!(listed(env, addon).is_empty(), "{point}: a backup not whole is listed");
        assert_eq!(ticked_until_done(env, &id), "done", "{point}");
        let backups = listed(env, addon);
        assert_eq!(backups.len(), 1, "{point}: {backups:?}");
        check_recorded(env, addon, &backups[0]);
        let file = Path::new(backups[0]["file"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(files(env, addon_id), [file], "{point}");
        backups[0].clone()
    }

    #[test]
    fn sqlite_worker_killed_at_each_point_leaves_the_old_data_and_no_partial_backup() {
        for point in ["backup-started", "backup-before-record"] {
            let env = env_with("");
            let made = env.provision_ready("sqlite", "main", &["--name", "main-db"]);
            let path = sqlite_path(&env, "main");
            fill_sqlite(&path);
            let before = sqlite_rows(&path);
            killed_backup(&env, "main-db", made["id"].as_str().unwrap(), point);
            assert!(sqlite_rows(&path) == before, "{point}: not the backup's data");
        }
        for point in ["restore-started", "restore-before-record"] {
            let env = env_with("");
            env.provision_ready("sqlite", "main", &["--name", "main-db"]);
            let path = sqlite_path(&env, "main");
            fill_sqlite(&path);
            let before = sqlite_rows(&path);
            let backup = env.json(["backup", "main-db", "--wait", "--json"]);
            change_sqlite(&path);
            let changed = sqlite_rows(&path);
            let id = backup["id"].as_str().unwrap();
            let restore = killed_worker(&env, &["restore", "main-db", id, "--confirm", "main-db"], point);
            if point == "restore-started" {
                assert!(sqlite_rows(&path) == changed, "{point}: the data changed");
            }
            assert_eq!(ticked_until_done(&env, &restore), "done", "{point}");
            assert!(sqlite_rows(&path) == before, "{point}: not the backup's data");
        }
    }

    #[test]
    fn redis_worker_killed_at_each_point_leaves_the_old_keys_and_no_partial_backup() {
        let Some(admin) = server("redis", "redis backup crashes") else { return };
        let config = servers::config("redis", &admin);
        for point in ["backup-started", "backup-before-record"] {
            let env = env_with(&config);
            let made = env.provision_ready("redis", "main", &["--name", "main-cache"]);
            let (url, prefix) = (var(&env, "main", "REDIS_URL"), var(&env, "main", "REDIS_KEY_PREFIX"));
            fill_redis(&url, &prefix);
            killed_backup(&env, "main-cache", made["id"].as_str().unwrap(), point);
            env.ok(["deprovision", "main-cache", "--wait"]);
        }
        for point in ["restore-started", "restore-before-commit", "restore-before-record"] {
            let env = env_with(&config);
            env.provision_ready("redis", "main", &["--name", "main-cache"]);
            let (url, prefix) = (var(&env, "main", "REDIS_URL"), var(&env, "main", "REDIS_KEY_PREFIX"));
            fill_redis(&url, &prefix);
            let before = redis_keys(&admin, &prefix);
            let backup = env.json(["backup", "main-cache", "--wait", "--json"]);
            change_redis(&url, &prefix);
            let changed = redis_keys(&admin, &prefix);
            let id = backup["id"].as_str().unwrap();
            let restore = killed_worker(&env, &["restore", "main-cache", id, "--confirm", "main-cache"], point);
            if point != "restore-before-record" {
                assert!(same_keys(&redis_keys(&admin, &prefix), &changed, 2), "{point}: the keys changed");
            }
            assert_eq!(ticked_until_done(&env, &restore), "done", "{point}");
            assert!(same_keys(&redis_keys(&admin, &prefix), &before, 10), "{point}: not the backup's keys");
            env.ok(["deprovision", "main-cache", "--wait"]);
        }
    }

    #[test]
    fn mysql_worker_killed_at_each_point_leaves_the_old_data_and_no_partial_backup() {
        let Some(admin) = server("mysql", "mysql backup crashes") else { return };
        let config = servers::config("mysql", &admin);
        for point in ["backup-started", "backup-before-record"] {
            let env = env_with(&config);
            let made = env.provision_ready("mysql", "main", &["--name", "main-db"]);
            let url = var(&env, "main", "DATABASE_URL");
            fill_mysql(&url);
            killed_backup(&env, "main-db", made["id"].as_str().unwrap(), point);
            env.ok(["deprovision", "main-db", "--wait"]);
        }
        for point in ["restore-started", "restore-before-commit", "restore-before-record"] {
            let env = env_with(&config);
            let made = env.provision_ready("mysql", "main", &["--name", "main-db"]);
            let url = var(&env, "main", "DATABASE_URL");
            fill_mysql(&url);
            let before = mysql_rows(&url);
            let backup = env.json(["backup", "main-db", "--wait", "--json"]);
            change_mysql(&url);
            let changed = mysql_rows(&url);
            let id = backup["id"].as_str().unwrap();
            let restore = killed_worker(&env, &["restore", "main-db", id, "--confirm", "main-db"], point);
            if point != "restore-before-record" {
                assert!(mysql_rows(&url) == changed, "{point}: the data changed");
            }
            assert_eq!(ticked_until_done(&env, &restore), "done", "{point}");
            assert!(mysql_rows(&url) == before, "{point}: not the backup's data");
            env.ok(["deprovision", "main-db", "--wait"]);
            let id = made["id"].as_str().unwrap();
            assert!(servers::traces("mysql", &admin, id).is_empty(), "{point}: {id} left traces");
        }
    }

    #[test]
    fn a_mysql_addon_deprovisioned_after_a_killed_restore_leaves_no_database() {
        use mysql::prelude::Queryable;
        let Some(admin) = server("mysql", "mysql restore leftovers") else { return };
        let env = env_with(&servers::config("mysql", &admin));
        let made = env.provision_ready("mysql", "main", &["--name", "main-db"]);
        fill_mysql(&var(&env, "main", "DATABASE_URL"));
        let backup = env.json(["backup", "main-db", "--wait", "--json"]);
        let id = backup["id"].as_str().unwrap();
        killed_worker(&env, &["restore", "main-db", id, "--confirm", "main-db"], "restore-before-commit");
        let name = format!("addons_{}", made["id"].as_str().unwrap());
        let like = format!("{name}%");
        let databases = || -> Vec<String> {
            let sql = "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE ?";
            connect_mysql(&admin).unwrap().exec(sql, (&like,)).unwrap()
        };
        assert_eq!(databases().len(), 3, "the killed restore left its databases: {:?}", databases());
        env.ok(["deprovision", "main-db", "--wait"]);
        assert!(databases().is_empty(), "{:?}", databases());
    }

    #[test]
    fn postgres_worker_killed_at_each_point_leaves_the_old_data_and_no_partial_backup() {
        let Some(admin) = server("postgres", "postgres backup crashes") else { return };
        let config = servers::config("postgres", &admin);
        for point in ["backup-started", "backup-before-record"] {
            let env = env_with(&config);
            let made = env.provision_ready("postgres", "main", &["--name", "main-db"]);
            let url = var(&env, "main", "DATABASE_URL");
            fill_postgres(&url);
            let before = postgres_rows(&url);
            killed_backup(&env, "main-db", made["id"].as_str().unwrap(), point);
            assert!(postgres_rows(&url) == before, "{point}: not the backup's data");
            env.ok(["deprovision", "main-db", "--wait"]);
        }
        for point in ["restore-started", "restore-before-commit", "restore-before-record"] {
            let env = env_with(&config);
            env.provision_ready("postgres", "main", &["--name", "main-db"]);
            let url = var(&env, "main", "DATABASE_URL");
            fill_postgres(&url);
            let before = postgres_rows(&url);
            let backup = env.json(["backup", "main-db", "--wait", "--json"]);
            change_postgres(&url);
            let changed = postgres_rows(&url);
            let id = backup["id"].as_str().unwrap();
            let restore = killed_worker(&env, &["restore", "main-db", id, "--confirm", "main-db"], point);
            if point != "restore-before-record" {
                // The server rolls the dead worker's transaction back once its session goes.
                let deadline = Instant::now() + Duration::from_secs(10);
                while connect_postgres(&admin)
                    .unwrap()
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'addons-backup-%'",
                        &[],
                    )
                    .unwrap()
                    .get::<_, i64>(0)
                    > 0
                {
                    assert!(Instant::now() < deadline, "{point}: the restore's session stayed");
                    std::thread::sleep(Duration::from_millis(50));
                }
                assert!(postgres_rows(&url) == changed, "{point}: the data changed");
            }
            assert_eq!(ticked_until_done(&env, &restore), "done", "{point}");
            assert!(postgres_rows(&url) == before, "{point}: not the backup's data");
            env.ok(["deprovision", "main-db", "--wait"]);
        }
    }
}

/// Schedules and retention: ticks run by two processes at once for a while (and by two
/// hosts of their own, under `unshare`, whose workers die with them), with
/// `backup_every = "1s"` and `backup_keep`, make each backup once (the call log names
/// each backup its worker made), never two of one addon at once or within a second of
/// each other, and leave each addon its newest ones, files and records; a failing
/// scheduled backup is said as other trouble is.
#[test]
fn an_apply_file_schedule_for_a_provider_without_backups_is_refused_with_nothing_changed() {
    let env = env_with("");
    let path = env.root().join("addons.toml");
    let file = path.display().to_string();
    let write = |extra: &str| {
        std::fs::write(
            &path,
            format!(
                "scope = \"s\"\n[[addon]]\nname = \"db\"\nprovider = \"sqlite\"\napp = \"web\"\nbackup_every = \"1d\"\n\
                 [[addon]]\nname = \"key\"\nprovider = \"secret\"\napp = \"web\"\n{extra}"
            ),
        )
        .unwrap()
    };
    write("backup_every = \"1d\"\nbackup_keep = 3\n");
    let line = env.fails(2, ["apply", "-f", &file]);
    assert_eq!(
        line,
        format!(
            "error: apply file {file}, line 11: addon.backup_every: key is a secret addon, which has no backups to schedule \
             (a secret addon holds no data but its value, which its app's config vars hold: there is nothing to back \
             up); remove its backup_every and backup_keep"
        )
    );
    assert!(!env.state_exists(), "the state was made");
    // Once made without one, the key can't be given one either; nothing changes.
    write("");
    env.ok(["apply", "-f", &file, "--wait"]);
    let before = env.ok(["list", "--json"]).stdout;
    write("backup_keep = 3\nbackup_every = \"1h\"\n");
    let line = env.fails(2, ["apply", "-f", &file, "--dry-run"]);
    assert!(line.contains(", line 12: addon.backup_every: key is a secret addon"), "{line}");
    env.fails(2, ["apply", "-f", &file]);
    assert_eq!(env.ok(["list", "--json"]).stdout, before);
    assert!(env.info("key")["backup_every"].is_null());
    // A rabbitmq addon has no backups either.
    if let Some(url) = servers::server("rabbitmq", "an apply file's schedule of a rabbitmq addon") {
        env.write_config(&format!(
            "[backups]\ndir = \"{}\"\n{}",
            env.root().join("backups").display(),
            servers::config("rabbitmq", &url)
        ));
        std::fs::write(
            &path,
            "scope = \"s\"\n[[addon]]\nname = \"queue\"\nprovider = \"rabbitmq\"\napp = \"web\"\nbackup_every = \"1d\"\n",
        )
        .unwrap();
        let line = env.fails(2, ["apply", "-f", &file, "--prune"]);
        assert!(line.contains(", line 6: addon.backup_every: queue is a rabbitmq addon, which has no backups to schedule (this provider can't back up an addon's data)"), "{line}");
        assert_eq!(env.ok(["list", "--json"]).stdout, before);
    }
}

#[cfg(feature = "failpoints")]
mod schedule {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    #[test]
    fn ticks_on_two_hosts_at_once_back_up_on_schedule_once_and_keep_the_newest() {
        let env = env_with("[apps.main]\nbackup_every = \"1s\"\nbackup_keep = 3\n");
        let names = ["db-a", "db-b", "db-c"];
        for name in names {
            env.provision_ready("sqlite", "main", &["--name", name, "--as", &name.replace('-', "_")]);
        }
        env.provision_ready("secret", "main", &["--name", "key"]);
        let calls = env.root().join("calls.log");
        let started = Instant::now();
        let hosts: Vec<_> = (0..2)
            .map(|_| {
                let mut command = env.command(["tick"]);
                command.env("ADDONS_CALL_LOG", &calls);
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(6);
                    while Instant::now() < until {
                        let run = command.output().unwrap();
                        assert!(run.status.success(), "{run:?}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            })
            .collect();
        hosts.into_iter().for_each(|host| host.join().unwrap());
        let elapsed = started.elapsed().as_secs() as usize;
        // The last workers finish; no tick asks for more meanwhile.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !env.state_sql("SELECT id FROM backups WHERE status = 'pending'").is_empty() {
            assert!(Instant::now() < deadline, "backups still pending");
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&calls).unwrap_or_default();
        let mut made: BTreeMap<String, usize> = BTreeMap::new();
        for line in log.lines().filter(|line| line.split(' ').nth(1) == Some("backup")) {
            *made.entry(line.split(' ').nth(2).unwrap().to_string()).or_default() += 1;
        }
        assert!(made.values().all(|&times| times == 1), "a backup was made twice: {made:?}");
        let ids: Vec<String> = made.keys().cloned().collect();
        for name in names {
            let addon_id = env.info(name)["id"].as_str().unwrap().to_string();
            let rows = env.state_sql(&format!(
                "SELECT id, requested_at, status FROM backups WHERE addon_id = '{addon_id}' ORDER BY requested_at"
            ));
            let listed = listed(&env, name);
            assert_eq!(listed.len(), 3, "{name}: {rows:?}");
            assert_eq!(rows.len(), 3, "{name}: only the kept ones are recorded: {rows:?}");
            let times: Vec<i64> = rows.iter().map(|row| row[1].as_deref().unwrap().parse().unwrap()).collect();
            assert!(times.windows(2).all(|w| w[1] - w[0] >= 1000), "{name}: two within a second: {times:?}");
            for backup in &listed {
                check_recorded(&env, name, backup);
                assert!(ids.contains(&backup["id"].as_str().unwrap().to_string()));
            }
            let on_disk = std::fs::read_dir(env.root().join("backups").join(&addon_id)).unwrap().count();
            assert_eq!(on_disk, 3, "{name}: the pruned files are gone");
        }
        // At most one a second per addon, over the whole run.
        assert!(made.len() <= names.len() * (elapsed + 2), "{} backups in {elapsed}s", made.len());
        assert!(made.len() >= names.len() * 3, "{} backups in {elapsed}s", made.len());
        // A secret has no backups to schedule.
        assert!(listed(&env, "key").is_empty());
    }

    #[test]
    fn ticks_on_two_hosts_of_their_own_make_each_scheduled_backup_once() {
        use common::hosts::{self, Host, Plan};
        if !hosts::available("backup schedules on two hosts") {
            return;
        }
        // A worker a host took down with it leaves its claim to a 2 s lease.
        let env = env_with(
            "[engine]\nclaim_timeout = \"2s\"\n[apps.main]\nbackup_every = \"1s\"\nbackup_keep = 2\n\
             [apps.all]\nbackup_every = \"1s\"\n",
        );
        env.provision_ready("sqlite", "main", &["--name", "kept-db"]);
        env.provision_ready("sqlite", "all", &["--name", "every-db"]);
        let started = Instant::now();
        let plan = Plan { ticks: 300 };
        let running: Vec<Host> = ["host1", "host2"].iter().map(|name| Host::start(&env, name, &plan, &[])).collect();
        for host in running {
            host.finish().assert_ok();
        }
        let elapsed = started.elapsed().as_millis() as i64;
        // What the hosts' workers left when their hosts ended is finished here, once
        // their leases ran out, by a worker each (no tick, so none is asked for anew).
        std::thread::sleep(Duration::from_millis(2500));
        for row in env.state_sql("SELECT id FROM backups WHERE status = 'pending'") {
            let id = row[0].clone().unwrap();
            let data_dir = env.data_dir();
            env.ok(["__backup", &id, "--data-dir", data_dir.to_str().unwrap()]);
        }
        assert!(env.state_sql("SELECT id FROM backups WHERE status = 'pending'").is_empty());
        // Every scheduled backup of every-db is kept: none within a second of another.
        let every_id = env.info("every-db")["id"].as_str().unwrap().to_string();
        let rows = env.state_sql(&format!(
            "SELECT requested_at, status FROM backups WHERE addon_id = '{every_id}' ORDER BY requested_at"
        ));
        let times: Vec<i64> = rows.iter().map(|row| row[0].as_deref().unwrap().parse().unwrap()).collect();
        assert!(times.len() >= 2, "{rows:?} in {elapsed} ms");
        assert!(times.windows(2).all(|w| w[1] - w[0] >= 1000), "two within a second: {times:?}");
        assert!(times.len() as i64 <= elapsed / 1000 + 4, "{} in {elapsed} ms", times.len());
        assert!(rows.iter().all(|row| row[1].as_deref() == Some("done")), "{rows:?}");
        for backup in listed(&env, "every-db") {
            check_recorded(&env, "every-db", &backup);
        }
        // kept-db keeps its newest two, once the next tick has pruned: a host may have
        // taken its worker down between the record and the prune that follows it (the
        // schedule is made long here so that tick asks for no backup of its own).
        let dir = env.root().join("backups");
        env.write_config(&format!(
            "[backups]\ndir = \"{}\"\n[apps.main]\nbackup_every = \"1h\"\nbackup_keep = 2\n",
            dir.display()
        ));
        env.ok(["tick"]);
        let kept = listed(&env, "kept-db");
        assert_eq!(kept.len(), 2, "{kept:?}");
        let kept_id = env.info("kept-db")["id"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read_dir(env.root().join("backups").join(kept_id)).unwrap().count(), 2);
    }

    #[test]
    fn a_failing_scheduled_backup_is_said_once_then_hourly() {
        let env = env_with("[engine]\nwarn_after = \"1s\"\n[apps.main]\nbackup_every = \"1s\"\n");
        env.provision_ready("sqlite", "main", &["--name", "main-db"]);
        std::fs::remove_file(sqlite_path(&env, "main")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let said = loop {
            let run = env.run(["tick"]);
            if run.code == 1 {
                break run;
            }
            assert_eq!(run.code, 0, "{run}");
            assert!(Instant::now() < deadline, "the failing backup was never said");
            std::thread::sleep(Duration::from_millis(200));
        };
        let lines: Vec<&str> = said.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{said}");
        assert!(lines[0].starts_with("error: main-db: its scheduled backups have been failing since"), "{said}");
        // Said once: the next ticks keep quiet while it goes on failing.
        std::thread::sleep(Duration::from_millis(1200));
        let again = env.run(["tick"]);
        assert_eq!((again.code, again.stderr.as_str()), (0, ""), "{again}");
    }

    /// Writes an apply file into the environment's dir; its path.
    fn apply_file(env: &TestEnv, text: &str) -> String {
        let path = env.root().join("addons.toml");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// Ticks on two "hosts" (processes side by side) every 50 ms for `for_secs`, then
    /// waits for the workers they started; how many times each backup was made, by id.
    fn ticked_on_two_hosts(env: &TestEnv, for_secs: u64) -> BTreeMap<String, usize> {
        let calls = env.root().join("calls.log");
        let _ = std::fs::remove_file(&calls);
        let hosts: Vec<_> = (0..2)
            .map(|_| {
                let mut command = env.command(["tick"]);
                command.env("ADDONS_CALL_LOG", &calls);
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(for_secs);
                    while Instant::now() < until {
                        let run = command.output().unwrap();
                        assert!(run.status.success(), "{run:?}");
                        std::thread::sleep(Duration::from_millis(50));
                    }
                })
            })
            .collect();
        hosts.into_iter().for_each(|host| host.join().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !env.state_sql("SELECT id FROM backups WHERE status = 'pending'").is_empty() {
            assert!(Instant::now() < deadline, "backups still pending");
            std::thread::sleep(Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(&calls).unwrap_or_default();
        let mut made: BTreeMap<String, usize> = BTreeMap::new();
        for line in log.lines().filter(|line| line.split(' ').nth(1) == Some("backup")) {
            *made.entry(line.split(' ').nth(2).unwrap().to_string()).or_default() += 1;
        }
        assert!(made.values().all(|&times| times == 1), "a backup was made twice: {made:?}");
        made
    }

    /// The scheduled backups of `addon` recorded, oldest first: (id, requested_at).
    fn scheduled_rows(env: &TestEnv, addon: &str) -> Vec<(String, i64)> {
        let addon_id = env.info(addon)["id"].as_str().unwrap().to_string();
        let rows = env.state_sql(&format!(
            "SELECT id, requested_at FROM backups WHERE addon_id = '{addon_id}' AND scheduled = true \
             ORDER BY requested_at"
        ));
        rows.iter().map(|row| (row[0].clone().unwrap(), row[1].as_deref().unwrap().parse().unwrap())).collect()
    }

    #[test]
    fn an_addons_own_schedule_from_an_apply_file_takes_the_place_of_its_apps() {
        let env = env_with("[apps.main]\nbackup_every = \"1s\"\nbackup_keep = 3\n");
        let file = apply_file(
            &env,
            "scope = \"sched\"\n\
             [[addon]]\nname = \"own-db\"\nprovider = \"sqlite\"\napp = \"main\"\nas = \"own\"\n\
             backup_every = \"1h\"\nbackup_keep = 5\n\
             [[addon]]\nname = \"app-db\"\nprovider = \"sqlite\"\napp = \"main\"\n\
             [[addon]]\nname = \"solo-db\"\nprovider = \"sqlite\"\napp = \"solo\"\n\
             backup_every = \"1s\"\nbackup_keep = 2\n\
             [[addon]]\nname = \"plain-db\"\nprovider = \"sqlite\"\napp = \"plain\"\n",
        );
        env.ok(["apply", "-f", &file, "--wait"]);
        let own = env.info("own-db");
        assert_eq!((&own["backup_every"], &own["backup_keep"]), (&"1h".into(), &5.into()), "{own:#}");
        let app = env.info("app-db");
        assert!(app["backup_every"].is_null() && app["backup_keep"].is_null(), "{app:#}");
        // A backup made by hand is not the schedule's to remove.
        let by_hand = env.json(["backup", "solo-db", "--wait", "--json"]);
        // Ticks until enough were made that some were pruned (a loaded machine ticks slowly).
        let mut made: BTreeMap<String, usize> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(40);
        while made.len() < 9 {
            assert!(Instant::now() < deadline, "too few made: {made:?}");
            for (id, times) in ticked_on_two_hosts(&env, 3) {
                *made.entry(id).or_default() += times;
            }
        }
        assert!(made.values().all(|&times| times == 1), "a backup was made twice: {made:?}");
        // own-db follows its own hour: one backup, not its app's one a second.
        assert_eq!(scheduled_rows(&env, "own-db").len(), 1);
        // app-db follows its app: a backup a second, the newest three kept.
        let app_rows = scheduled_rows(&env, "app-db");
        assert_eq!(app_rows.len(), 3, "{app_rows:?}");
        // solo-db's app has no schedule; its own makes one a second, keeps two.
        let solo_rows = scheduled_rows(&env, "solo-db");
        assert_eq!(solo_rows.len(), 2, "{solo_rows:?}");
        for rows in [&app_rows, &solo_rows] {
            assert!(rows.windows(2).all(|w| w[1].1 - w[0].1 >= 1000), "two within a second: {rows:?}");
            assert!(rows.iter().all(|(id, _)| made.contains_key(id)), "{rows:?} {made:?}");
        }
        // Six kept (1 + 3 + 2) of the nine or more made: the older ones went, files and records.
        let solo = listed(&env, "solo-db");
        assert_eq!(solo.len(), 3, "the two scheduled and the one by hand: {solo:?}");
        assert!(solo.iter().any(|backup| backup["id"] == by_hand["id"]), "{solo:?}");
        for backup in &solo {
            check_recorded(&env, "solo-db", backup);
        }
        let solo_id = env.info("solo-db")["id"].as_str().unwrap().to_string();
        assert_eq!(std::fs::read_dir(env.root().join("backups").join(solo_id)).unwrap().count(), 3);
        // No schedule, its own or its app's: no backups.
        assert!(listed(&env, "plain-db").is_empty());
    }

    #[test]
    fn changing_the_apply_file_changes_the_schedule_in_place() {
        let env = env_with("");
        let with = |keys: &str| {
            apply_file(
                &env,
                &format!("scope = \"sched\"\n[[addon]]\nname = \"db\"\nprovider = \"sqlite\"\napp = \"web\"\n{keys}"),
            )
        };
        let file = with("backup_every = \"1h\"\nbackup_keep = 2\n");
        env.ok(["apply", "-f", &file, "--wait"]);
        let id = env.info("db")["id"].clone();
        ticked_on_two_hosts(&env, 1);
        assert_eq!(scheduled_rows(&env, "db").len(), 1);
        // Every second, keeping one: an update of the same addon.
        let file = with("backup_every = \"1s\"\nbackup_keep = 1\n");
        let run = env.ok(["apply", "-f", &file]);
        assert!(
            run.stdout.contains("~ update db (sqlite for web): backups every 1h, keep 2 -> every 1s, keep 1\n"),
            "{run}"
        );
        let plan = env.json(["apply", "-f", &file, "--dry-run", "--json"]);
        assert_eq!(plan["plan"][0]["action"], "keep", "{plan:#}");
        let info = env.info("db");
        assert_eq!((&info["id"], &info["backup_every"], &info["backup_keep"]), (&id, &"1s".into(), &1.into()));
        let made = ticked_on_two_hosts(&env, 3);
        assert!(made.len() >= 2, "{made:?}");
        let rows = scheduled_rows(&env, "db");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(listed(&env, "db").len(), 1);
        // Left out of the file: its app's schedule again, which is none.
        let file = with("");
        let run = env.ok(["apply", "-f", &file]);
        assert!(run.stdout.contains("~ update db (sqlite for web): backups every 1s, keep 1 -> the app's\n"), "{run}");
        let info = env.info("db");
        assert_eq!((&info["id"], &info["backup_every"]), (&id, &serde_json::Value::Null));
        let made = ticked_on_two_hosts(&env, 2);
        assert!(made.is_empty(), "{made:?}");
        assert_eq!(scheduled_rows(&env, "db"), rows);
    }
}
