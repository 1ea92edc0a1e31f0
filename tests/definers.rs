//! MySQL/MariaDB views, triggers, routines and events run as their DEFINER: the login that
//! made them. Through the binary, an app and an attached app each make one of every kind
//! with the `DATABASE_URL` they were handed; after rotations with `--grace 0` (of the
//! original login and of a rotated one) and a detach, every object still works through
//! the app's current URL, and is defined by the addon's own account, which holds nothing
//! but the addon's database and logs in no more; deprovision leaves nothing. Against
//! ADDONS_TEST_MYSQL_URL (whose event scheduler may be off: the events are made and
//! handed over, not watched) and against a private MariaDB of this test's own with the
//! event scheduler on, where every event must go on firing.

use crate::common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mysql::prelude::Queryable;

use common::apps::logins;
use common::servers::{self, connect_mysql, server};
use common::TestEnv;

/// Removes, as the admin, every user and database named after the addon, so a failing
/// test leaves the server as it found it.
struct Sweep {
    admin: String,
    id: String,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        let Ok(mut admin) = connect_mysql(&self.admin) else { return };
        let pattern = format!("%{}%", self.id);
        let accounts: Vec<(String, String)> =
            admin.exec("SELECT user, host FROM mysql.user WHERE user LIKE ?", (&pattern,)).unwrap_or_default();
        for (user, host) in accounts {
            let _ = admin.query_drop(format!("DROP USER IF EXISTS `{user}`@`{host}`"));
        }
        let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS `addons_{}`", self.id));
    }
}

/// The `DATABASE_URL` app `app` holds now.
fn url(env: &TestEnv, app: &str) -> String {
    env.vars(app).get("DATABASE_URL").cloned().unwrap_or_else(|| panic!("app {app} has no DATABASE_URL"))
}

/// Makes, as the login in `url`, the objects named after `tag`: tables `<tag>_t` (whose
/// trigger logs each row into `<tag>_log`) and `<tag>_ticks` (where the event writes every
/// second), a view, a procedure, and two functions, one written under an `sql_mode` in
/// which `"` quotes names and `\` is no escape (read under another, it means something else).
fn make_objects(url: &str, tag: &str) {
    let mut app = connect_mysql(url).unwrap();
    app.query_drop("SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'").unwrap();
    let quoted = format!(
        "CREATE FUNCTION {tag}_g() RETURNS VARCHAR(40) CHARSET utf8mb4 READS SQL DATA \
         RETURN (SELECT CONCAT('é\\', count(*)) FROM \"{tag}_log\")"
    );
    app.query_drop(&quoted).unwrap_or_else(|err| panic!("{quoted}: {err}"));
    app.query_drop("SET SESSION sql_mode = DEFAULT").unwrap();
    for statement in [
        format!("CREATE TABLE {tag}_t (v INT)"),
        format!("CREATE TABLE {tag}_log (v INT)"),
        format!("CREATE TABLE {tag}_ticks (at DATETIME(6))"),
        format!("CREATE VIEW {tag}_v AS SELECT count(*) AS n FROM {tag}_t"),
        format!("CREATE TRIGGER {tag}_tr AFTER INSERT ON {tag}_t FOR EACH ROW INSERT INTO {tag}_log VALUES (NEW.v)"),
        format!("CREATE FUNCTION {tag}_f() RETURNS INT READS SQL DATA RETURN (SELECT count(*) FROM {tag}_log)"),
        format!("CREATE PROCEDURE {tag}_p(IN x INT) MODIFIES SQL DATA INSERT INTO {tag}_t VALUES (x)"),
        format!("CREATE EVENT {tag}_e ON SCHEDULE EVERY 1 SECOND DO INSERT INTO {tag}_ticks VALUES (NOW(6))"),
    ] {
        app.query_drop(&statement).unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
}

/// Uses, as the login in `url`, the objects named after `tag`: the procedure inserts a
/// row, the trigger logs it, the view counts the rows and the function the logged ones.
fn use_objects(url: &str, tag: &str) -> Result<(), String> {
    let mut app = connect_mysql(url).map_err(|err| format!("logging in: {err}"))?;
    let before: Option<(i64, i64)> =
        app.query_first(format!("SELECT (SELECT n FROM {tag}_v), {tag}_f()")).map_err(|err| err.to_string())?;
    app.query_drop(format!("CALL {tag}_p(7)")).map_err(|err| err.to_string())?;
    let after: Option<(i64, i64)> =
        app.query_first(format!("SELECT (SELECT n FROM {tag}_v), {tag}_f()")).map_err(|err| err.to_string())?;
    let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
    if after != (before.0 + 1, before.1 + 1) {
        return Err(format!("the row and its log went from {before:?} to {after:?}"));
    }
    let quoted: Option<String> = app.query_first(format!("SELECT {tag}_g()")).map_err(|err| err.to_string())?;
    match quoted == Some(format!("é\\{}", after.1)) {
        true => Ok(()),
        false => Err(format!("{tag}_g() gave {quoted:?}")),
    }
}

/// The triggers on table `table`, in the order they fire.
fn triggers_on(admin: &str, database: &str, table: &str) -> Vec<String> {
    connect_mysql(admin)
        .unwrap()
        .exec(
            "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = ? \
             AND event_object_table = ? ORDER BY action_timing, event_manipulation, action_order",
            (database, table),
        )
        .unwrap()
}

/// Every object of `tags` works through `url`; with `events`, each event fires again
/// (it writes a row within a few seconds).
fn all_work(url: &str, tags: &[&str], events: bool, when: &str) {
    for tag in tags {
        use_objects(url, tag).unwrap_or_else(|err| panic!("{when}: the objects made as {tag} fail: {err}"));
    }
    if !events {
        return;
    }
    let mut app = connect_mysql(url).unwrap();
    let count = |app: &mut mysql::Conn, tag: &str| -> i64 {
        app.query_first(format!("SELECT count(*) FROM {tag}_ticks")).unwrap().unwrap_or_default()
    };
    let before: Vec<i64> = tags.iter().map(|tag| count(&mut app, tag)).collect();
    let started = std::time::Instant::now();
    for (tag, before) in tags.iter().zip(before) {
        while count(&mut app, tag) <= before {
            assert!(started.elapsed() < Duration::from_secs(10), "{when}: the event made as {tag} stopped firing");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The definers of every view, trigger, routine and event in the addon's database.
fn definers(admin: &str, database: &str) -> Vec<String> {
    let mut admin = connect_mysql(admin).unwrap();
    let mut found: Vec<String> = admin
        .exec(
            "SELECT definer FROM information_schema.views WHERE table_schema = ? \
             UNION ALL SELECT definer FROM information_schema.triggers WHERE trigger_schema = ? \
             UNION ALL SELECT definer FROM information_schema.routines WHERE routine_schema = ? \
             UNION ALL SELECT definer FROM information_schema.events WHERE event_schema = ?",
            (database, database, database, database),
        )
        .unwrap();
    found.sort();
    found.dedup();
    found
}

/// The whole scenario against the server at `admin`; `events`: its event scheduler is on.
fn objects_outlive_the_logins_that_made_them(admin: &str, events: bool) {
    let env = TestEnv::with_config(&servers::config("mysql", admin));
    let id = env.provision_ready("mysql", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let _sweep = Sweep { admin: admin.to_string(), id: id.clone() };
    let (owner, database) = (format!("addons_{id}"), format!("addons_{id}"));
    let original = url(&env, "web");
    make_objects(&original, "web0");
    env.ok(["attach", "db", "worker", "--wait"]);
    make_objects(&url(&env, "worker"), "worker");
    // The attached app's trigger on the app's table fires first; it must stay first.
    let first = "CREATE TRIGGER worker_first AFTER INSERT ON web0_t FOR EACH ROW PRECEDES web0_tr SET @seen = NEW.v";
    connect_mysql(&url(&env, "worker")).unwrap().query_drop(first).unwrap();
    let order = ["worker_first".to_string(), "web0_tr".to_string()];
    assert_eq!(triggers_on(admin, &database, "web0_t"), order);
    all_work(&original, &["web0", "worker"], events, "before any rotation");

    // The original login goes.
    env.ok(["rotate", "db", "--grace", "0", "--wait"]);
    let rotated = url(&env, "web");
    assert_ne!(rotated, original);
    assert!(connect_mysql(&original).is_err(), "the original login still logs in");
    all_work(&rotated, &["web0", "worker"], events, "after the original login was revoked");
    all_work(&url(&env, "worker"), &["web0", "worker"], false, "through the attached app");
    make_objects(&rotated, "web1");

    // A rotated login goes: what it made is handed on.
    env.ok(["rotate", "db", "--grace", "0", "--wait"]);
    let newest = url(&env, "web");
    assert!(connect_mysql(&rotated).is_err(), "the rotated login still logs in");
    all_work(&newest, &["web0", "web1", "worker"], events, "after the rotated login was dropped");

    // The attached app's login goes.
    let worker = url(&env, "worker");
    env.ok(["detach", "db", "worker", "--wait"]);
    assert!(connect_mysql(&worker).is_err(), "the detached login still logs in");
    all_work(&newest, &["web0", "web1", "worker"], events, "after the detach");
    assert_eq!(triggers_on(admin, &database, "web0_t"), order, "a trigger made again lost its place");

    // Everything is defined by the addon's own account, which can do no more than a login.
    assert_eq!(definers(admin, &database), [format!("{owner}@%")]);
    let mut root = connect_mysql(admin).unwrap();
    let grants: Vec<String> = root.query(format!("SHOW GRANTS FOR `{owner}`@`%`")).unwrap();
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(grants[0].starts_with(&format!("GRANT USAGE ON *.* TO `{owner}`@`%`")), "{grants:?}");
    assert_eq!(grants[1], format!("GRANT ALL PRIVILEGES ON `addons\\_{id}`.* TO `{owner}`@`%`"), "{grants:?}");

    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(logins("mysql", admin, &id), Vec::<String>::new(), "users left on the server");
    assert_eq!(servers::traces("mysql", admin, &id), Vec::<String>::new());
}

#[test]
fn mysql_objects_outlive_rotations_and_detaches() {
    let Some(admin) = server("mysql", "mysql definers") else { return };
    objects_outlive_the_logins_that_made_them(&admin, false);
}

#[test]
fn mysql_events_keep_firing_after_rotations_and_detaches() {
    let Some(private) = PrivateServer::start() else { return };
    objects_outlive_the_logins_that_made_them(&private.url(), true);
}

/// A MariaDB server of this test's own, with the event scheduler on (a setting the shared
/// server must keep as it is), in a temp dir; stopped when dropped.
struct PrivateServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    /// Starts one, or says why it can't (`None`; a failure with ADDONS_TEST_REQUIRE_SERVERS=1).
    fn start() -> Option<PrivateServer> {
        let (Some(install), Some(server)) = (program("mariadb-install-db"), program("mariadbd")) else {
            let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
            assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but mariadb-install-db or mariadbd is not installed");
            eprintln!("NOTICE: skipping the private MariaDB test: mariadbd is not installed");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("addons-mariadb").tempdir().unwrap();
        let data = dir.path().join("data");
        // A temporary folder of its own: a starting MariaDB removes the `#sql*` files it
        // finds in its temporary folder, which in /tmp are the machine server's, in use.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let mut command = Command::new(install);
        command.env("TMPDIR", &tmp);
        command.arg("--no-defaults").arg(format!("--datadir={}", data.display()));
        command.args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        let root = unsafe { libc::geteuid() } == 0;
        if root {
            command.arg("--user=root");
        }
        let installed = command.stdout(Stdio::null()).stderr(Stdio::null()).status().unwrap();
        assert!(installed.success(), "mariadb-install-db failed");
        // Other tests may run servers of their own: take the first port where one comes up.
        for port in 13310..13410 {
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let mut command = Command::new(&server);
            command.env("TMPDIR", &tmp);
            command.arg("--no-defaults").arg(format!("--datadir={}", data.display()));
            command.arg(format!("--tmpdir={}", tmp.display()));
            command.arg(format!("--socket={}", dir.path().join("socket").display()));
            command.arg(format!("--pid-file={}", dir.path().join("pid").display()));
            command.args([&format!("--port={port}"), "--bind-address=127.0.0.1", "--event-scheduler=ON"]);
            command.args(["--innodb-buffer-pool-size=32M", "--skip-name-resolve"]);
            if root {
                command.arg("--user=root");
            }
            let mut child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
            if answers(&mut child, port) {
                return Some(PrivateServer { child, port, _dir: dir });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no private MariaDB came up on ports 13310-13409");
    }

    /// Its admin URL.
    fn url(&self) -> String {
        admin_url(self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The admin URL of a private server: root, without a password.
fn admin_url(port: u16) -> String {
    format!("mysql://root@127.0.0.1:{port}")
}

/// Waits until the server on `port` takes a login; false when its process ended first.
fn answers(child: &mut Child, port: u16) -> bool {
    for _ in 0..300 {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if connect_mysql(&admin_url(port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Where program `name` is: on PATH, or in /usr/sbin where distributions put mariadbd.
fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}
