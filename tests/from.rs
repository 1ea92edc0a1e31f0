//! `provision --from` through the binary: for each provider, a source with tables (or
//! keys) and rows is copied and the copy checked row by row; a source in use by another
//! session still copies; a source deprovisioned before the copy ends the addon in error
//! with nothing left; refusals change nothing; `from` in an apply file makes a copy; a
//! fresh copy's `check` finds what addons made, and its app logs in with its vars.
//! The crash tests (feature `failpoints`) kill the copier mid-copy and before its mark.

use crate::common;

use common::servers::{self, connect_mysql, connect_postgres, connect_redis, server};
use common::TestEnv;

/// The value of var `key` of app `app`.
fn var(env: &TestEnv, app: &str, key: &str) -> String {
    env.vars(app).get(key).cloned().unwrap_or_else(|| panic!("app {app} has no {key}"))
}

/// The path in a sqlite addon's `DATABASE_URL`.
fn sqlite_path(env: &TestEnv, app: &str) -> String {
    var(env, app, "DATABASE_URL").strip_prefix("sqlite:///").expect("a sqlite URL").to_string()
}

/// Every row of table `t` of a sqlite database, in order.
fn sqlite_rows(path: &str) -> Vec<(i64, String)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn.prepare("SELECT id, body FROM t ORDER BY id").unwrap();
    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// The rows a source is filled with: enough for more than one step of a copy.
fn rows() -> Vec<(i64, String)> {
    (1..=3000).map(|id| (id, format!("row {id} ✓ 'quoted' \"and\" \\ back"))).collect()
}

/// A table `t` holding [`rows`] in the SQLite file at `path`.
fn fill_sqlite(path: &str) {
    let mut conn = rusqlite::Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)", []).unwrap();
    for (id, body) in rows() {
        tx.execute("INSERT INTO t VALUES (?1, ?2)", rusqlite::params![id, body]).unwrap();
    }
    tx.commit().unwrap();
}

/// The addon's event messages, oldest first.
fn messages(env: &TestEnv, addon: &str) -> Vec<String> {
    let log = env.json(["log", addon, "--json"]);
    log.as_array().unwrap().iter().map(|event| event["message"].as_str().unwrap().to_string()).collect()
}

/// Waits for `addon` to settle, returning `wait`'s exit code.
fn wait(env: &TestEnv, addon: &str) -> i32 {
    env.run(["wait", addon, "--timeout", "120s"]).code
}

#[test]
fn sqlite_copy_holds_every_row_in_a_file_of_its_own() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let source = sqlite_path(&env, "main");
    fill_sqlite(&source);
    let copy = env.provision_ready("sqlite", "branch", &["--name", "branch-db", "--from", "main-db"]);
    let path = sqlite_path(&env, "branch");
    assert_ne!(path, source);
    assert_eq!(sqlite_rows(&path), rows());
    assert_eq!(common::mode(std::path::Path::new(&path)), 0o600);
    rusqlite::Connection::open(&path).unwrap().execute("DELETE FROM t WHERE id > 10", []).unwrap();
    assert_eq!(sqlite_rows(&source).len(), 3000, "the source changed with the copy");
    let log = messages(&env, "branch-db");
    assert!(log.iter().any(|m| m.starts_with("provisioned: copied ")), "{log:?}");
    assert_eq!(env.info("branch-db")["id"], copy["id"]);
    // Nothing but the database is left beside it, and nothing at all once it goes.
    let id = copy["id"].as_str().unwrap();
    let beside: Vec<String> = std::fs::read_dir(env.sqlite_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(id) && !name.ends_with("-wal") && !name.ends_with("-shm"))
        .collect();
    let expected = [format!("{id}.db"), format!("{id}.db.copying")];
    assert!(beside.iter().all(|name| expected.contains(name)), "{beside:?}");
    env.ok(["deprovision", "branch-db", "--wait"]);
    let left: Vec<String> = std::fs::read_dir(env.sqlite_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(id))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!env.data_dir().join("copies").join(format!("{id}.log")).exists());
}

#[test]
fn sqlite_source_in_use_is_copied_as_committed() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let source = sqlite_path(&env, "main");
    let mut conn = rusqlite::Connection::open(&source).unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL); INSERT INTO t VALUES (1, 'one')")
        .unwrap();
    // Another session holds a write transaction open through the whole copy.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
    tx.execute("INSERT INTO t VALUES (2, 'uncommitted')", []).unwrap();
    env.provision_ready("sqlite", "branch", &["--name", "branch-db", "--from", "main-db"]);
    tx.rollback().unwrap();
    assert_eq!(sqlite_rows(&sqlite_path(&env, "branch")), [(1, "one".to_string())]);
}

#[test]
fn from_is_refused_with_nothing_changed() {
    let env = TestEnv::new();
    env.provision_ready("secret", "main", &["--name", "key"]);
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let before = env.ok(["list", "--all", "--json"]).stdout;
    let line = env.fails(2, ["provision", "secret", "other", "--from", "key"]);
    assert_eq!(line, "error: --from: a new secret is the point of a secret addon; provision it without --from");
    let line = env.fails(2, ["provision", "sqlite", "other", "--from", "key"]);
    assert_eq!(line, "error: --from: key is a secret addon; a sqlite addon can only be a copy of another sqlite addon");
    let line = env.fails(2, ["provision", "sqlite", "other", "--from", "main-dc"]);
    assert!(line.starts_with("error: --from: no addon named \"main-dc\" (did you mean main-db?)"), "{line}");
    env.ok(["deprovision", "main-db", "--wait"]);
    let before_gone = env.ok(["list", "--all", "--json"]).stdout;
    let line = env.fails(2, ["provision", "sqlite", "other", "--from", "main-db"]);
    assert_eq!(line, "error: --from: main-db is deprovisioned, not ready; only a ready addon's data can be copied");
    assert_eq!(env.ok(["list", "--all", "--json"]).stdout, before_gone);
    assert_ne!(before, before_gone);
    assert!(env.fails(2, ["env", "other"]).contains("no app named \"other\""), "app other was made");
}

#[test]
fn a_source_gone_before_its_copy_ends_the_addon_in_error_with_nothing_left() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let copy = env.json(["provision", "sqlite", "branch", "--name", "branch-db", "--from", "main-db", "--json"]);
    env.ok(["deprovision", "main-db", "--wait"]);
    assert_eq!(wait(&env, "branch-db"), 1);
    let info = env.info("branch-db");
    assert_eq!(info["state"], "error", "{info:#}");
    let failure = info["failure"].as_str().unwrap_or_default().to_string();
    assert!(failure.contains("the source addon main-db is no longer ready"), "{info:#}");
    let id = copy["id"].as_str().unwrap();
    assert!(servers::sqlite_traces(&env.sqlite_dir(), id).is_empty());
}

#[test]
fn apply_from_makes_a_copy() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "main", &["--name", "main-db"]);
    let source = sqlite_path(&env, "main");
    rusqlite::Connection::open(&source)
        .unwrap()
        .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL); INSERT INTO t VALUES (7, 'seven')")
        .unwrap();
    let file = env.root().join("addons.toml");
    std::fs::write(&file, "scope = \"test\"\n[[addon]]\nname = \"branch-db\"\nprovider = \"sqlite\"\napp = \"branch\"\nfrom = \"main-db\"\n")
        .unwrap();
    env.ok(["apply", "-f", file.to_str().unwrap(), "--wait"]);
    assert_eq!(sqlite_rows(&sqlite_path(&env, "branch")), [(7, "seven".to_string())]);
    // A `from` that names no ready addon is refused before anything is made.
    std::fs::write(
        &file,
        "scope = \"test\"\n[[addon]]\nname = \"other-db\"\nprovider = \"sqlite\"\napp = \"other\"\nfrom = \"nope\"\n",
    )
    .unwrap();
    let run = env.run(["apply", "-f", file.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run}");
    assert!(run.stderr.contains("other-db (line 2): --from: no addon named \"nope\""), "{run}");
    assert!(env.fails(2, ["env", "other"]).contains("no app named \"other\""), "app other was made");
}

/// A postgres source with a table of rows, a view and a function.
fn fill_postgres(url: &str) {
    let mut client = connect_postgres(url).unwrap();
    client
        .batch_execute(
            "CREATE TABLE t (id bigint PRIMARY KEY, body text NOT NULL); \
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

/// What a postgres copy must hold, and that every object in it is the new role's.
fn check_postgres_copy(url: &str, owner: &str) {
    let mut client = connect_postgres(url).unwrap();
    let found: Vec<(i64, String)> =
        client.query("SELECT id, body FROM t ORDER BY id", &[]).unwrap().iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(found, rows());
    let row = client.query_one("SELECT (SELECT n FROM v), answer()", &[]).unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i32>(1)), (3000, 42));
    let owners: Vec<String> = client
        .query(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' UNION SELECT DISTINCT pg_get_userbyid(proowner) FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' \
             UNION SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners, [owner.to_string()]);
}

/// The URL `url` with another database in its path.
fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url.rsplit_once('/').unwrap();
    format!("{base}/{database}")
}

#[test]
fn postgres_copy_by_template_and_by_dump_when_the_source_is_in_use() {
    let Some(admin) = server("postgres", "postgres --from") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let main = env.provision_ready("postgres", "main", &["--name", "main-db"]);
    let source_url = var(&env, "main", "DATABASE_URL");
    fill_postgres(&source_url);
    let source_name = format!("addons_{}", main["id"].as_str().unwrap());

    // Idle source: a template copy.
    let copy = env.provision_ready("postgres", "idle", &["--name", "idle-db", "--from", "main-db"]);
    let owner = format!("addons_{}", copy["id"].as_str().unwrap());
    check_postgres_copy(&var(&env, "idle", "DATABASE_URL"), &owner);
    assert!(
        messages(&env, "idle-db").iter().any(|m| m.contains("by a template copy")),
        "{:?}",
        messages(&env, "idle-db")
    );
    // The copy's login can't reach the source, and the source kept its owner.
    let idle_on_source = with_database(&var(&env, "idle", "DATABASE_URL"), &source_name);
    assert!(connect_postgres(&idle_on_source).is_err(), "the copy's login reached the source");
    let mut admin_client = connect_postgres(&admin).unwrap();
    let source_owner: String = admin_client
        .query_one("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", &[&source_name])
        .unwrap()
        .get(0);
    assert_eq!(source_owner, source_name);

    // Busy source: another session holds a transaction open on it throughout.
    let mut busy = connect_postgres(&source_url).unwrap();
    let mut tx = busy.transaction().unwrap();
    tx.execute("INSERT INTO t VALUES (999999, 'uncommitted')", &[]).unwrap();
    let copy = env.provision_ready("postgres", "busy", &["--name", "busy-db", "--from", "main-db"]);
    let owner = format!("addons_{}", copy["id"].as_str().unwrap());
    check_postgres_copy(&var(&env, "busy", "DATABASE_URL"), &owner);
    let log = messages(&env, "busy-db");
    assert!(log.iter().any(|m| m.contains("by pg_dump | pg_restore")), "{log:?}");
    tx.rollback().unwrap();

    let ids: Vec<String> = ["main-db", "idle-db", "busy-db"]
        .iter()
        .map(|name| env.info(name)["id"].as_str().unwrap().to_string())
        .collect();
    env.ok(["deprovision", "main-db", "idle-db", "busy-db", "--wait"]);
    for id in ids {
        assert!(servers::traces("postgres", &admin, &id).is_empty(), "{id} left traces");
    }
}

#[test]
fn postgres_source_gone_before_its_copy_ends_in_error_with_nothing_left() {
    let Some(admin) = server("postgres", "postgres --from of a source that goes") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    env.provision_ready("postgres", "main", &["--name", "main-db"]);
    fill_postgres(&var(&env, "main", "DATABASE_URL"));
    let copy = env.json(["provision", "postgres", "branch", "--name", "branch-db", "--from", "main-db", "--json"]);
    env.ok(["deprovision", "main-db", "--wait"]);
    assert_eq!(wait(&env, "branch-db"), 1);
    let info = env.info("branch-db");
    assert_eq!(info["state"], "error", "{info:#}");
    let id = copy["id"].as_str().unwrap();
    assert!(servers::traces("postgres", &admin, id).is_empty());
}

#[test]
fn mysql_copy_has_every_table_view_and_routine() {
    use mysql::prelude::Queryable;
    let Some(admin) = server("mysql", "mysql --from") else { return };
    let env = TestEnv::with_config(&servers::config("mysql", &admin));
    env.provision_ready("mysql", "main", &["--name", "main-db"]);
    let mut source = connect_mysql(&var(&env, "main", "DATABASE_URL")).unwrap();
    source
        .query_drop(
            "CREATE TABLE parent (id BIGINT PRIMARY KEY, body TEXT NOT NULL); \
             CREATE TABLE child (id BIGINT PRIMARY KEY, parent BIGINT, twice BIGINT AS (id * 2) STORED, \
               FOREIGN KEY (parent) REFERENCES parent (id)); \
             CREATE VIEW counted AS SELECT count(*) AS n FROM parent; \
             CREATE VIEW counted_again AS SELECT n FROM counted; \
             CREATE FUNCTION answer() RETURNS INT DETERMINISTIC RETURN 42",
        )
        .unwrap();
    source.exec_batch("INSERT INTO parent VALUES (?, ?)", rows()).unwrap();
    source.query_drop("INSERT INTO child (id, parent) VALUES (1, 1), (2, 3000)").unwrap();
    // Another session of the source's stays open through the copy.
    source.query_drop("START TRANSACTION").unwrap();
    source.query_drop("INSERT INTO parent VALUES (999999, 'uncommitted')").unwrap();
    let copy = env.provision_ready("mysql", "branch", &["--name", "branch-db", "--from", "main-db"]);
    source.query_drop("ROLLBACK").unwrap();
    let mut branch = connect_mysql(&var(&env, "branch", "DATABASE_URL")).unwrap();
    let found: Vec<(i64, String)> = branch.query("SELECT id, body FROM parent ORDER BY id").unwrap();
    assert_eq!(found, rows());
    let children: Vec<(i64, i64, i64)> = branch.query("SELECT id, parent, twice FROM child ORDER BY id").unwrap();
    assert_eq!(children, [(1, 1, 2), (2, 3000, 4)]);
    let derived: Option<(i64, i64)> = branch.query_first("SELECT (SELECT n FROM counted_again), answer()").unwrap();
    assert_eq!(derived, Some((3000, 42)));
    let user = format!("addons_{}", copy["id"].as_str().unwrap());
    let definers: Vec<String> = branch
        .query(
            "SELECT DISTINCT definer FROM information_schema.views WHERE table_schema = DATABASE() \
             UNION SELECT DISTINCT definer FROM information_schema.routines WHERE routine_schema = DATABASE()",
        )
        .unwrap();
    assert_eq!(definers, [format!("{user}@%")]);
    let ids = [env.info("main-db")["id"].clone(), copy["id"].clone()];
    env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
    for id in ids {
        assert!(servers::traces("mysql", &admin, id.as_str().unwrap()).is_empty());
    }
}

/// Drops, as the admin, the users and database of every mysql addon in `env`, so a
/// failing test leaves the shared server as it found it.
struct MysqlSweep<'a> {
    env: &'a TestEnv,
    admin: &'a str,
}

impl Drop for MysqlSweep<'_> {
    fn drop(&mut self) {
        use mysql::prelude::Queryable;
        let listed = self.env.run(["list", "--all", "--json"]);
        let Ok(serde_json::Value::Array(addons)) = serde_json::from_str(&listed.stdout) else { return };
        let Ok(mut admin) = connect_mysql(self.admin) else { return };
        for id in addons.iter().filter_map(|addon| addon["id"].as_str()) {
            let accounts: Vec<(String, String)> = admin
                .exec("SELECT user, host FROM mysql.user WHERE user LIKE ?", (format!("addons\\_{id}%"),))
                .unwrap_or_default();
            for (user, host) in accounts {
                let _ = admin.query_drop(format!("DROP USER IF EXISTS `{user}`@`{host}`"));
            }
            let _ = admin.query_drop(format!("DROP DATABASE IF EXISTS `addons_{id}`"));
        }
    }
}

/// A mysql source (addon `main-db` of app `main`) whose objects are made by `statements`,
/// each with `{source}` standing for its database's name; returns that name and a session.
fn fill_mysql(env: &TestEnv, statements: &[&str]) -> (String, mysql::Conn) {
    use mysql::prelude::Queryable;
    let main = env.provision_ready("mysql", "main", &["--name", "main-db"]);
    let name = format!("addons_{}", main["id"].as_str().unwrap());
    let mut source = connect_mysql(&var(env, "main", "DATABASE_URL")).unwrap();
    for statement in statements {
        let statement = statement.replace("{source}", &name);
        source.query_drop(&statement).unwrap_or_else(|err| panic!("{statement}: {err}"));
    }
    (name, source)
}

#[test]
fn mysql_copy_has_every_trigger_sequence_and_event_pointed_at_the_copy() {
    use mysql::prelude::Queryable;
    let Some(admin) = server("mysql", "mysql --from of triggers, sequences and events") else { return };
    let env = TestEnv::with_config(&servers::config("mysql", &admin));
    let _sweep = MysqlSweep { env: &env, admin: &admin };
    let (source_name, mut source) = fill_mysql(
        &env,
        &[
            "CREATE SEQUENCE ids START WITH 100 NOCACHE",
            "CREATE TABLE orders (id BIGINT PRIMARY KEY DEFAULT nextval(ids), body TEXT NOT NULL)",
            "CREATE TABLE audit (order_id BIGINT, body TEXT)",
            "CREATE TRIGGER audited AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit VALUES (NEW.id, NEW.body)",
            "CREATE VIEW audited_orders AS SELECT o.id, a.body FROM orders o JOIN audit a ON a.order_id = o.id",
            "CREATE PROCEDURE place(IN body TEXT) MODIFIES SQL DATA \
             INSERT INTO `{source}`.orders (body) VALUES (body)",
            "CREATE FUNCTION next_id() RETURNS BIGINT NOT DETERMINISTIC MODIFIES SQL DATA RETURN nextval(ids)",
            // Read under another sql_mode, "..." would be a string and '\' no whole string.
            "SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES'",
            "CREATE FUNCTION audits() RETURNS VARCHAR(40) CHARSET utf8mb4 READS SQL DATA \
             RETURN (SELECT CONCAT('é\\', count(*)) FROM \"{source}\".\"audit\")",
            "SET SESSION sql_mode = DEFAULT",
            "CREATE EVENT tidy ON SCHEDULE EVERY 1 HOUR DISABLE DO DELETE FROM {source}.audit WHERE body = 'gone'",
            "CALL place('one')",
            "CALL place('two')",
        ],
    );
    let copy = env.provision_ready("mysql", "branch", &["--name", "branch-db", "--from", "main-db"]);
    let copy_name = format!("addons_{}", copy["id"].as_str().unwrap());

    let mut branch = connect_mysql(&var(&env, "branch", "DATABASE_URL")).unwrap();
    let pairs = |rows: &[(i64, &str)]| rows.iter().map(|(id, body)| (*id, body.to_string())).collect::<Vec<_>>();
    let orders: Vec<(i64, String)> = branch.query("SELECT id, body FROM orders ORDER BY id").unwrap();
    assert_eq!(orders, pairs(&[(100, "one"), (101, "two")]));
    // The copy's procedure writes to the copy; the default draws from the copy's sequence,
    // which stands where the source's stood; the trigger fires.
    branch.query_drop("CALL place('three')").unwrap();
    let audited: Vec<(i64, String)> = branch.query("SELECT id, body FROM audited_orders ORDER BY id").unwrap();
    assert_eq!(audited, pairs(&[(100, "one"), (101, "two"), (102, "three")]));
    assert_eq!(branch.query_first::<i64, _>("SELECT next_id()").unwrap(), Some(103));
    assert_eq!(branch.query_first::<String, _>("SELECT audits()").unwrap().as_deref(), Some("é\\3"));
    // The source's rows and sequence are its own.
    let orders: Vec<(i64, String)> = source.query("SELECT id, body FROM orders ORDER BY id").unwrap();
    assert_eq!(orders, pairs(&[(100, "one"), (101, "two")]));
    source.query_drop("CALL place('after')").unwrap();
    let drawn: Option<i64> = source.query_first("SELECT max(id) FROM orders").unwrap();
    assert_eq!(drawn, Some(102), "the copy drew from the source's sequence");

    // Every definition in the copy is the new user's and names the copy, never the source.
    let mut root = connect_mysql(&admin).unwrap();
    let owner = format!("{copy_name}@%");
    let texts: Vec<(String, String)> = root
        .exec(
            "SELECT definer, view_definition FROM information_schema.views WHERE table_schema = ? \
             UNION ALL SELECT definer, action_statement FROM information_schema.triggers WHERE trigger_schema = ? \
             UNION ALL SELECT definer, routine_definition FROM information_schema.routines WHERE routine_schema = ? \
             UNION ALL SELECT definer, event_definition FROM information_schema.events WHERE event_schema = ? \
             UNION ALL SELECT ?, column_default FROM information_schema.columns \
               WHERE table_schema = ? AND table_name = 'orders' AND column_default LIKE 'nextval%'",
            (&copy_name, &copy_name, &copy_name, &copy_name, &owner, &copy_name),
        )
        .unwrap();
    assert_eq!(texts.len(), 7, "a view, a trigger, three routines, an event and a default: {texts:?}");
    for (definer, text) in &texts {
        assert_eq!(definer, &owner, "{text}");
        assert!(!text.contains(&source_name), "the copy points at the source: {text}");
    }
    let naming_the_copy = texts.iter().filter(|(_, text)| text.contains(&copy_name)).count();
    assert_eq!(naming_the_copy, 5, "the view, two routines, the event and the default: {texts:?}");
    let status: Option<String> = root
        .exec_first(
            "SELECT status FROM information_schema.events WHERE event_schema = ? AND event_name = 'tidy'",
            (&copy_name,),
        )
        .unwrap();
    assert_eq!(status.as_deref(), Some("DISABLED"));
    // The copy's login reaches neither the source nor its sequence.
    let on_source = with_database(&var(&env, "branch", "DATABASE_URL"), &source_name);
    assert!(connect_mysql(&on_source).is_err(), "the copy's login reached the source");
    let drawn = branch.query_drop(format!("SELECT nextval(`{source_name}`.ids)"));
    assert!(drawn.is_err(), "the copy's login drew from the source's sequence");
    let log = messages(&env, "branch-db");
    let counts = "2 tables, 1 sequence, 1 view, 3 routines, 1 trigger, 1 event";
    assert!(log.iter().any(|m| m.contains(counts)), "{log:?}");

    let ids = [env.info("main-db")["id"].clone(), copy["id"].clone()];
    env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
    for id in ids {
        assert!(servers::traces("mysql", &admin, id.as_str().unwrap()).is_empty());
    }
}

#[test]
fn mysql_copy_refuses_what_it_can_not_copy_with_nothing_made() {
    let Some(admin) = server("mysql", "mysql --from refusals") else { return };
    let env = TestEnv::with_config(&servers::config("mysql", &admin));
    let _sweep = MysqlSweep { env: &env, admin: &admin };
    let (source_name, _source) = fill_mysql(
        &env,
        &[
            "CREATE TABLE kept (v INT) WITH SYSTEM VERSIONING",
            "CREATE PROCEDURE listing() SHOW TABLES FROM `{source}`",
            "CREATE TABLE plain (v INT)",
        ],
    );
    let before = env.ok(["list", "--all", "--json"]).stdout;
    let line = env.fails(1, ["provision", "mysql", "branch", "--name", "branch-db", "--from", "main-db"]);
    assert!(line.starts_with("error: can't copy the data of main-db: "), "{line}");
    let versioned = format!("table {source_name}.kept is system-versioned, and its history can't be copied");
    let named = format!("procedure {source_name}.listing names database {source_name} other than as the qualifier");
    assert!(line.contains(&versioned) && line.contains(&named), "{line}");
    assert!(!line.contains("plain"), "{line}");
    assert_eq!(env.ok(["list", "--all", "--json"]).stdout, before, "a refused copy made an addon");
    assert!(env.fails(2, ["env", "branch"]).contains("no app named \"branch\""), "app branch was made");
    let id = env.info("main-db")["id"].as_str().unwrap().to_string();
    env.ok(["deprovision", "main-db", "--wait"]);
    assert!(servers::traces("mysql", &admin, &id).is_empty());
}

#[test]
fn redis_copy_has_every_key_renamed_with_its_ttl() {
    let Some(admin) = server("redis", "redis --from") else { return };
    let env = TestEnv::with_config(&servers::config("redis", &admin));
    env.provision_ready("redis", "main", &["--name", "main-cache"]);
    let (url, prefix) = (var(&env, "main", "REDIS_URL"), var(&env, "main", "REDIS_KEY_PREFIX"));
    let mut source = connect_redis(&url).unwrap();
    for i in 0..1000 {
        redis::cmd("SET").arg(format!("{prefix}k{i}")).arg(format!("v{i}")).query::<()>(&mut source).unwrap();
    }
    redis::cmd("RPUSH").arg(format!("{prefix}list")).arg(&["a", "b", "c"]).query::<()>(&mut source).unwrap();
    redis::cmd("SET").arg(format!("{prefix}short")).arg("x").arg("EX").arg(1000).query::<()>(&mut source).unwrap();
    redis::cmd("SELECT").arg(1).query::<()>(&mut source).unwrap();
    redis::cmd("SET").arg(format!("{prefix}in-db-1")).arg("one").query::<()>(&mut source).unwrap();
    let copy = env.provision_ready("redis", "branch", &["--name", "branch-cache", "--from", "main-cache"]);
    let (url, new_prefix) = (var(&env, "branch", "REDIS_URL"), var(&env, "branch", "REDIS_KEY_PREFIX"));
    assert_ne!(new_prefix, prefix);
    let mut branch = connect_redis(&url).unwrap();
    for i in 0..1000 {
        let value: String = redis::cmd("GET").arg(format!("{new_prefix}k{i}")).query(&mut branch).unwrap();
        assert_eq!(value, format!("v{i}"));
    }
    let list: Vec<String> =
        redis::cmd("LRANGE").arg(format!("{new_prefix}list")).arg(0).arg(-1).query(&mut branch).unwrap();
    assert_eq!(list, ["a", "b", "c"]);
    let ttl: i64 = redis::cmd("TTL").arg(format!("{new_prefix}short")).query(&mut branch).unwrap();
    assert!((900..=1000).contains(&ttl), "{ttl}");
    redis::cmd("SELECT").arg(1).query::<()>(&mut branch).unwrap();
    let one: String = redis::cmd("GET").arg(format!("{new_prefix}in-db-1")).query(&mut branch).unwrap();
    assert_eq!(one, "one");
    // The copy's login can't read the source's keys.
    let denied = redis::cmd("GET").arg(format!("{prefix}k1")).query::<Option<String>>(&mut branch);
    assert!(denied.is_err(), "{denied:?}");
    let ids = [env.info("main-cache")["id"].clone(), copy["id"].clone()];
    env.ok(["deprovision", "main-cache", "branch-cache", "--wait"]);
    let mut admin_conn = connect_redis(&admin).unwrap();
    for id in ids {
        let id = id.as_str().unwrap();
        assert!(servers::traces("redis", &admin, id).is_empty());
        let marks: Vec<String> = redis::cmd("KEYS").arg(format!("addons-copy:{id}:*")).query(&mut admin_conn).unwrap();
        assert!(marks.is_empty(), "{marks:?}");
    }
}

/// What `check` of a fresh copy must find: what addons made, nothing to report or
/// repair (the copier works on the addon as the state holds it, seed and params, as
/// every other step does), with no drift in its log.
fn checked_as_made(env: &TestEnv, addon: &str) {
    let checks = env.json(["check", addon, "--json"]);
    assert_eq!(checks[0]["status"], "ok", "{checks:#}");
    let log = env.json(["log", addon, "--json"]);
    let events: Vec<&str> = log.as_array().unwrap().iter().map(|event| event["event"].as_str().unwrap()).collect();
    assert!(!events.iter().any(|event| ["drift", "repaired"].contains(event)), "{log:#}");
    assert!(env.info(addon)["drift"].is_null(), "{:#}", env.info(addon));
}

#[test]
fn a_postgres_copy_is_checked_as_made_and_its_app_logs_in() {
    let Some(admin) = server("postgres", "postgres --from then check") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let main = env.provision_ready("postgres", "main", &["--name", "main-db"]);
    let _sweep = servers::Sweep::new("postgres", &admin, main["id"].as_str().unwrap());
    fill_postgres(&var(&env, "main", "DATABASE_URL"));
    // Idle, the source is copied as a template; in use, by pg_dump | pg_restore.
    let idle = env.provision_ready("postgres", "idle", &["--name", "idle-db", "--from", "main-db"]);
    let _idle_sweep = servers::Sweep::new("postgres", &admin, idle["id"].as_str().unwrap());
    let mut busy = connect_postgres(&var(&env, "main", "DATABASE_URL")).unwrap();
    let tx = busy.transaction().unwrap();
    let copy = env.provision_ready("postgres", "busy", &["--name", "busy-db", "--from", "main-db"]);
    let _busy_sweep = servers::Sweep::new("postgres", &admin, copy["id"].as_str().unwrap());
    tx.rollback().unwrap();
    for (app, addon, how) in [("idle", "idle-db", "by a template copy"), ("busy", "busy-db", "by pg_dump | pg_restore")]
    {
        assert!(messages(&env, addon).iter().any(|m| m.contains(how)), "{:?}", messages(&env, addon));
        checked_as_made(&env, addon);
        let id = env.info(addon)["id"].as_str().unwrap().to_string();
        check_postgres_copy(&var(&env, app, "DATABASE_URL"), &format!("addons_{id}"));
    }
    env.ok(["deprovision", "main-db", "idle-db", "busy-db", "--wait"]);
}

#[test]
fn a_postgres_copy_on_a_server_that_checks_passwords_logs_in_with_its_vars() {
    let Some(cluster) = common::cluster::Cluster::start() else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &cluster.url()));
    env.provision_ready("postgres", "main", &["--name", "main-db"]);
    fill_postgres(&var(&env, "main", "DATABASE_URL"));
    let idle = env.provision_ready("postgres", "idle", &["--name", "idle-db", "--from", "main-db"]);
    check_postgres_copy(&var(&env, "idle", "DATABASE_URL"), &format!("addons_{}", idle["id"].as_str().unwrap()));
    checked_as_made(&env, "idle-db");
    // In use, the source is dumped, and restored logged in as the copy's app.
    let mut busy = connect_postgres(&var(&env, "main", "DATABASE_URL")).unwrap();
    let tx = busy.transaction().unwrap();
    let copy = env.provision_ready("postgres", "busy", &["--name", "busy-db", "--from", "main-db"]);
    tx.rollback().unwrap();
    assert!(messages(&env, "busy-db").iter().any(|m| m.contains("by pg_dump | pg_restore")));
    check_postgres_copy(&var(&env, "busy", "DATABASE_URL"), &format!("addons_{}", copy["id"].as_str().unwrap()));
    checked_as_made(&env, "busy-db");
    env.ok(["deprovision", "main-db", "idle-db", "busy-db", "--wait"]);
    assert_eq!(cluster.roles(), Vec::<String>::new());
}

#[test]
fn a_mysql_copy_is_checked_as_made_and_its_app_logs_in() {
    use mysql::prelude::Queryable;
    let Some(admin) = server("mysql", "mysql --from then check") else { return };
    let env = TestEnv::with_config(&servers::config("mysql", &admin));
    let _sweep = MysqlSweep { env: &env, admin: &admin };
    let (_, mut source) = fill_mysql(&env, &["CREATE TABLE parent (id BIGINT PRIMARY KEY, body TEXT NOT NULL)"]);
    source.exec_batch("INSERT INTO parent VALUES (?, ?)", rows()).unwrap();
    env.provision_ready("mysql", "branch", &["--name", "branch-db", "--from", "main-db"]);
    checked_as_made(&env, "branch-db");
    let found: Vec<(i64, String)> = connect_mysql(&var(&env, "branch", "DATABASE_URL"))
        .unwrap()
        .query("SELECT id, body FROM parent ORDER BY id")
        .unwrap();
    assert_eq!(found, rows());
    env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
}

#[test]
fn a_redis_copy_is_checked_as_made_and_its_app_logs_in() {
    let Some(admin) = server("redis", "redis --from then check") else { return };
    let env = TestEnv::with_config(&servers::config("redis", &admin));
    let main = env.provision_ready("redis", "main", &["--name", "main-cache"]);
    let _sweep = servers::Sweep::new("redis", &admin, main["id"].as_str().unwrap());
    let (url, prefix) = (var(&env, "main", "REDIS_URL"), var(&env, "main", "REDIS_KEY_PREFIX"));
    redis::cmd("SET").arg(format!("{prefix}k")).arg("v").query::<()>(&mut connect_redis(&url).unwrap()).unwrap();
    let copy = env.provision_ready("redis", "branch", &["--name", "branch-cache", "--from", "main-cache"]);
    let _copy_sweep = servers::Sweep::new("redis", &admin, copy["id"].as_str().unwrap());
    checked_as_made(&env, "branch-cache");
    let (url, prefix) = (var(&env, "branch", "REDIS_URL"), var(&env, "branch", "REDIS_KEY_PREFIX"));
    let value: String = redis::cmd("GET").arg(format!("{prefix}k")).query(&mut connect_redis(&url).unwrap()).unwrap();
    assert_eq!(value, "v");
    env.ok(["deprovision", "main-cache", "branch-cache", "--wait"]);
}

#[test]
fn a_rabbitmq_copy_is_checked_as_made_and_its_app_logs_in() {
    use futures_lite::future::block_on;
    let Some(admin) = server("rabbitmq", "rabbitmq --from then check") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    // The source's limits are its own: the copy is given those of its params.
    let main = env.provision_ready("rabbitmq", "main", &["--name", "main-mq", "--param", "max_queues=50"]);
    let _sweep = servers::Sweep::new("rabbitmq", &admin, main["id"].as_str().unwrap());
    let source = servers::connect_rabbitmq(&var(&env, "main", "RABBITMQ_URL")).unwrap();
    let channel = block_on(source.create_channel()).unwrap();
    let durable = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
    block_on(channel.queue_declare("q".into(), durable, lapin::types::FieldTable::default())).unwrap();
    block_on(source.close(200, "OK".into())).unwrap();
    let limits = ["--param", "max_queues=7", "--param", "max_connections=9"];
    let copy = env.provision_ready(
        "rabbitmq",
        "branch",
        &[&["--name", "branch-mq", "--from", "main-mq"], &limits[..]].concat(),
    );
    let vhost = format!("addons_{}", copy["id"].as_str().unwrap());
    let _copy_sweep = servers::Sweep::new("rabbitmq", &admin, copy["id"].as_str().unwrap());
    checked_as_made(&env, "branch-mq");
    let set = servers::rabbitmq_api(&admin, "GET", &format!("/api/vhost-limits/{vhost}")).unwrap();
    assert_eq!(set[0]["value"], serde_json::json!({"max-queues": 7, "max-connections": 9}), "{set}");
    let queues = servers::rabbitmq_api(&admin, "GET", &format!("/api/queues/{vhost}")).unwrap();
    assert_eq!(queues.as_array().map(Vec::len), Some(1), "{queues}");
    servers::rabbitmq_round_trip(&var(&env, "branch", "RABBITMQ_URL")).unwrap();
    checked_as_made(&env, "main-mq");
    env.ok(["deprovision", "main-mq", "branch-mq", "--wait"]);
}

/// The crash tests: the copier is killed at a failpoint (the tick that starts it passes
/// the point on in its environment), and plain ticks then settle with a whole copy.
#[cfg(feature = "failpoints")]
mod crash {
    use super::*;
    use serde_json::Value;
    use std::time::Duration;

    /// Provisions `branch-db` from `main-db` and runs one tick with `point` armed: the
    /// copier it starts dies there. Then plain `wait` settles it.
    fn killed_copier_then_settled(env: &TestEnv, provider: &str, point: &str) -> Value {
        let copy = env.json(["provision", provider, "branch", "--name", "branch-db", "--from", "main-db", "--json"]);
        let run = env.command(["tick"]).env("ADDONS_FAILPOINT", point).output().unwrap();
        assert!(run.status.success(), "{run:?}");
        // The killed copier's partial copy is there or not; either way the ticks go on.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(wait(env, "branch-db"), 0, "{}", env.ok(["list", "--all"]).stdout);
        let log = messages(env, "branch-db");
        assert!(log.iter().any(|m| m.starts_with("provisioned: copied ")), "{log:?}");
        copy
    }

    #[test]
    fn sqlite_copier_killed_mid_copy_and_before_its_mark_starts_again() {
        for point in ["copy-started", "after-copy-before-mark"] {
            let env = TestEnv::new();
            env.provision_ready("sqlite", "main", &["--name", "main-db"]);
            let source = sqlite_path(&env, "main");
            fill_sqlite(&source);
            let copy = killed_copier_then_settled(&env, "sqlite", point);
            assert_eq!(sqlite_rows(&sqlite_path(&env, "branch")), rows(), "{point}");
            env.ok(["deprovision", "branch-db", "--wait"]);
            let id = copy["id"].as_str().unwrap();
            let left: Vec<String> = std::fs::read_dir(env.sqlite_dir())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(id))
                .collect();
            assert!(left.is_empty(), "{point}: {left:?}");
        }
    }

    #[test]
    fn postgres_copier_killed_mid_copy_and_before_its_mark_starts_again() {
        let Some(admin) = server("postgres", "postgres copier crashes") else { return };
        for point in ["copy-started", "after-copy-before-mark"] {
            let env = TestEnv::with_config(&servers::config("postgres", &admin));
            env.provision_ready("postgres", "main", &["--name", "main-db"]);
            fill_postgres(&var(&env, "main", "DATABASE_URL"));
            let copy = killed_copier_then_settled(&env, "postgres", point);
            let owner = format!("addons_{}", copy["id"].as_str().unwrap());
            check_postgres_copy(&var(&env, "branch", "DATABASE_URL"), &owner);
            let ids = [env.info("main-db")["id"].clone(), copy["id"].clone()];
            env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
            for id in ids {
                assert!(servers::traces("postgres", &admin, id.as_str().unwrap()).is_empty(), "{point}");
            }
        }
    }

    #[test]
    fn rabbitmq_copier_killed_mid_copy_and_before_its_mark_starts_again() {
        let Some(admin) = server("rabbitmq", "rabbitmq copier crashes") else { return };
        for point in ["copy-started", "after-copy-before-mark"] {
            let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
            env.provision_ready("rabbitmq", "main", &["--name", "main-db"]);
            use futures_lite::future::block_on;
            let source = servers::connect_rabbitmq(&var(&env, "main", "RABBITMQ_URL")).unwrap();
            let channel = block_on(source.create_channel()).unwrap();
            let durable = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
            for i in 0..20 {
                let arguments = lapin::types::FieldTable::default();
                block_on(channel.queue_declare(format!("q{i}").into(), durable, arguments)).unwrap();
            }
            block_on(source.close(200, "OK".into())).unwrap();
            let copy = killed_copier_then_settled(&env, "rabbitmq", point);
            let vhost = format!("addons_{}", copy["id"].as_str().unwrap());
            let queues = servers::rabbitmq_api(&admin, "GET", &format!("/api/queues/{vhost}")).unwrap();
            assert_eq!(queues.as_array().map(Vec::len), Some(20), "{point}: {queues}");
            let ids = [env.info("main-db")["id"].clone(), copy["id"].clone()];
            env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
            for id in ids {
                assert!(servers::traces("rabbitmq", &admin, id.as_str().unwrap()).is_empty(), "{point}");
            }
        }
    }

    #[test]
    fn mysql_and_redis_copiers_killed_mid_copy_start_again() {
        use mysql::prelude::Queryable;
        if let Some(admin) = server("mysql", "mysql copier crashes") {
            let env = TestEnv::with_config(&servers::config("mysql", &admin));
            env.provision_ready("mysql", "main", &["--name", "main-db"]);
            let mut source = connect_mysql(&var(&env, "main", "DATABASE_URL")).unwrap();
            source.query_drop("CREATE TABLE parent (id BIGINT PRIMARY KEY, body TEXT NOT NULL)").unwrap();
            source.exec_batch("INSERT INTO parent VALUES (?, ?)", rows()).unwrap();
            let copy = killed_copier_then_settled(&env, "mysql", "copy-started");
            let found: Vec<(i64, String)> = connect_mysql(&var(&env, "branch", "DATABASE_URL"))
                .unwrap()
                .query("SELECT id, body FROM parent ORDER BY id")
                .unwrap();
            assert_eq!(found, rows());
            let ids = [env.info("main-db")["id"].clone(), copy["id"].clone()];
            env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
            for id in ids {
                assert!(servers::traces("mysql", &admin, id.as_str().unwrap()).is_empty());
            }
        }
        if let Some(admin) = server("redis", "redis copier crashes") {
            let env = TestEnv::with_config(&servers::config("redis", &admin));
            env.provision_ready("redis", "main", &["--name", "main-db"]);
            let (url, prefix) = (var(&env, "main", "REDIS_URL"), var(&env, "main", "REDIS_KEY_PREFIX"));
            let mut source = connect_redis(&url).unwrap();
            for i in 0..1000 {
                redis::cmd("SET").arg(format!("{prefix}k{i}")).arg(i).query::<()>(&mut source).unwrap();
            }
            let copy = killed_copier_then_settled(&env, "redis", "copy-started");
            let (url, prefix) = (var(&env, "branch", "REDIS_URL"), var(&env, "branch", "REDIS_KEY_PREFIX"));
            let mut branch = connect_redis(&url).unwrap();
            for i in 0..1000 {
                let value: i64 = redis::cmd("GET").arg(format!("{prefix}k{i}")).query(&mut branch).unwrap();
                assert_eq!(value, i);
            }
            let ids = [env.info("main-db")["id"].clone(), copy["id"].clone()];
            env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
            for id in ids {
                assert!(servers::traces("redis", &admin, id.as_str().unwrap()).is_empty());
            }
        }
    }
}
