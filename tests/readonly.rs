//! `attach --read-only` through the binary, with the credentials handed to the attached
//! app: for postgres and mysql it reads the tables that were there and those the owner's
//! app made later (in a later schema too, on postgres) and is refused every write and
//! DDL (and, on postgres, becoming the owner, temporary tables and schemas); for redis
//! it reads the keys under the prefix, present and later, and is refused SET, DEL,
//! EXPIRE, FLUSHDB and the like. A rotation keeps the new login read-only; write rights
//! granted behind addons' back are drift that `check` takes away. sqlite hands out a
//! `mode=ro` URI that SQLAlchemy opens read-only; providers that can't (secret,
//! rabbitmq) refuse the flag with nothing changed, and so does attaching an app again
//! with the other access.

use crate::common;

use common::apps::logins;
use common::readers::{readers, stdout_of};
use common::servers::{self, connect_mysql, connect_postgres, connect_redis, server};
use common::TestEnv;
use mysql::prelude::Queryable;

/// Runs SQL as the app whose URL is `url`: `Err` holds the server's refusal.
fn sql(kind: &str, url: &str, statement: &str) -> Result<(), String> {
    match kind {
        "postgres" => {
            connect_postgres(url).and_then(|mut c| c.batch_execute(statement)).map_err(|err| format!("{err:?}"))
        }
        _ => connect_mysql(url).and_then(|mut c| c.query_drop(statement)).map_err(|err| err.to_string()),
    }
}

/// The one text value of a query run as the app whose URL is `url`.
fn value(kind: &str, url: &str, query: &str) -> Result<String, String> {
    match kind {
        "postgres" => {
            let row =
                connect_postgres(url).and_then(|mut c| c.query_one(query, &[])).map_err(|err| format!("{err:?}"))?;
            Ok(row.get::<_, String>(0))
        }
        _ => {
            let found: Option<String> =
                connect_mysql(url).and_then(|mut c| c.query_first(query)).map_err(|err| err.to_string())?;
            Ok(found.unwrap_or_default())
        }
    }
}

/// The login name in a URL the addon handed out.
fn user_of(url: &str) -> String {
    url::Url::parse(url).unwrap().username().to_string()
}

/// Asserts the reader at `url` reads `early` and `later` and changes nothing.
fn reads_and_writes_nothing(kind: &str, url: &str, owner: &str) {
    assert_eq!(value(kind, url, "SELECT v FROM early").as_deref(), Ok("first"), "the read-only login can't read early");
    assert_eq!(
        value(kind, url, "SELECT v FROM later").as_deref(),
        Ok("second"),
        "the read-only login can't read later"
    );
    let mut refused = vec![
        "INSERT INTO early (v) VALUES ('by the reader')".to_string(),
        "UPDATE early SET v = 'changed'".to_string(),
        "DELETE FROM early".to_string(),
        "DELETE FROM later".to_string(),
        "CREATE TABLE made_by_reader (v TEXT)".to_string(),
        "ALTER TABLE early ADD COLUMN w TEXT".to_string(),
        "DROP TABLE later".to_string(),
        "TRUNCATE TABLE early".to_string(),
        "CREATE VIEW seen AS SELECT v FROM early".to_string(),
        "CREATE INDEX early_v ON early (v)".to_string(),
    ];
    if kind == "postgres" {
        refused.extend([
            format!("SET ROLE {owner}"),
            format!("SET ROLE {owner}; INSERT INTO early (v) VALUES ('as the owner')"),
            "CREATE TEMPORARY TABLE scratch (v TEXT)".into(),
            "CREATE SCHEMA mine".into(),
            "INSERT INTO later_schema.t (v) VALUES ('by the reader')".into(),
            "SELECT nextval('counter')".into(),
            "CREATE TABLE later_schema.mine (v TEXT)".into(),
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'".into(),
        ]);
    } else {
        refused.extend([
            "CREATE TEMPORARY TABLE scratch (v TEXT)".into(),
            "REPLACE INTO early (v) VALUES ('by the reader')".into(),
            "CREATE PROCEDURE p() SELECT 1".into(),
        ]);
    }
    for statement in &refused {
        assert!(sql(kind, url, statement).is_err(), "the read-only {kind} login may run: {statement}");
    }
    assert_eq!(value(kind, url, "SELECT v FROM early").as_deref(), Ok("first"), "early changed");
}

/// The whole life of a read-only attachment to a postgres or mysql addon.
fn sql_reader(kind: &'static str) {
    let Some(admin) = server(kind, &format!("{kind} read-only attachments")) else { return };
    let env = TestEnv::with_config(&servers::config(kind, &admin));
    let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let owner = format!("addons_{id}");
    let web = env.vars("web")["DATABASE_URL"].clone();
    sql(kind, &web, "CREATE TABLE early (v TEXT); INSERT INTO early (v) VALUES ('first')").unwrap();

    let run = env.ok(["attach", "db", "reports", "--read-only", "--wait"]);
    assert!(run.stderr.contains("read-only"), "{run}");
    let reader = env.vars("reports")["DATABASE_URL"].clone();
    assert_ne!(user_of(&reader), user_of(&web), "the read-only app was handed the owner's login");
    let info = env.info("db");
    assert_eq!(info["attachments"][0]["read_only"], true, "{info:#}");
    assert!(env.ok(["info", "db"]).stdout.contains("reports (attached, read-only)"));
    assert!(env.ok(["list", "reports"]).stdout.contains("reports (attached, read-only)"));
    // Attached again the same way: nothing changes; the other way: refused, nothing changes.
    env.ok(["attach", "db", "reports", "--read-only"]);
    let refused = env.fails(2, ["attach", "db", "reports"]);
    assert!(refused.contains("read-only") && refused.contains("detach"), "{refused}");
    assert_eq!(env.vars("reports")["DATABASE_URL"], reader);

    // What the owner's app makes later is readable too.
    sql(kind, &web, "CREATE TABLE later (v TEXT); INSERT INTO later (v) VALUES ('second')").unwrap();
    if kind == "postgres" {
        let later = "CREATE SCHEMA later_schema; CREATE TABLE later_schema.t (v TEXT); \
                     INSERT INTO later_schema.t (v) VALUES ('third'); CREATE SEQUENCE counter";
        sql(kind, &web, later).unwrap();
        assert_eq!(value(kind, &reader, "SELECT v FROM later_schema.t").as_deref(), Ok("third"));
        assert!(value(kind, &reader, "SELECT last_value::text FROM counter").is_ok(), "can't read a later sequence");
    }
    reads_and_writes_nothing(kind, &reader, &owner);
    // The owner's app still writes (and makes temporary tables), and a login attached
    // read-write still may.
    sql(kind, &web, "INSERT INTO early (v) VALUES ('more'); DELETE FROM early WHERE v = 'more'").unwrap();
    sql(kind, &web, "CREATE TEMPORARY TABLE scratch (v TEXT); INSERT INTO scratch (v) VALUES ('x')").unwrap();
    env.ok(["attach", "db", "worker", "--wait"]);
    let worker = env.vars("worker")["DATABASE_URL"].clone();
    sql(kind, &worker, "INSERT INTO later (v) VALUES ('by worker'); DELETE FROM later WHERE v = 'by worker'").unwrap();
    let checks = env.json(["check", "db", "--json"]);
    assert_eq!(checks[0]["status"], "ok", "a read-only login as made is drift: {checks:#}");

    // A rotation: the new generation reads and writes nothing either.
    env.ok(["rotate", "db", "--app", "reports", "--grace", "0", "--wait"]);
    let rotated = env.vars("reports")["DATABASE_URL"].clone();
    assert_ne!(user_of(&rotated), user_of(&reader));
    assert!(value(kind, &reader, "SELECT v FROM early").is_err(), "the old read-only login outlived its rotation");
    reads_and_writes_nothing(kind, &rotated, &owner);

    // Write rights given behind addons' back are drift; check takes them away.
    let login = user_of(&rotated);
    match kind {
        "postgres" => {
            let inside = admin_in(&admin, &owner);
            let mut client = connect_postgres(&inside).unwrap();
            client
                .batch_execute(&format!(
                    "GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \"{login}\"; \
                     GRANT CREATE ON SCHEMA public TO \"{login}\"; GRANT \"{owner}\" TO \"{login}\"; \
                     GRANT pg_write_all_data TO \"{login}\"; GRANT TEMPORARY ON DATABASE \"{owner}\" TO PUBLIC; \
                     ALTER DEFAULT PRIVILEGES FOR ROLE \"{owner}\" GRANT INSERT ON TABLES TO \"{login}\"; \
                     REVOKE SELECT ON later FROM \"{login}\""
                ))
                .unwrap();
        }
        _ => {
            let mut conn = connect_mysql(&admin).unwrap();
            conn.query_drop(format!("GRANT ALL PRIVILEGES ON `{}`.* TO `{login}`@`%`", owner.replace('_', "\\_")))
                .unwrap();
        }
    }
    sql(kind, &rotated, "INSERT INTO early (v) VALUES ('drift'); DELETE FROM early WHERE v = 'drift'")
        .expect("the hand-made grant did not take");
    let run = env.run(["check", "db"]);
    assert!(run.stdout.contains("repaired"), "{run}");
    reads_and_writes_nothing(kind, &rotated, &owner);
    assert_eq!(env.json(["check", "db", "--json"])[0]["status"], "ok");
    // What the owner's app makes after the repair is readable and not writable still.
    sql(kind, &web, "CREATE TABLE after_repair (v TEXT); INSERT INTO after_repair (v) VALUES ('fourth')").unwrap();
    assert_eq!(value(kind, &rotated, "SELECT v FROM after_repair").as_deref(), Ok("fourth"));
    assert!(sql(kind, &rotated, "INSERT INTO after_repair (v) VALUES ('by the reader')").is_err());

    // Detach and deprovision leave nothing behind.
    env.ok(["detach", "db", "reports", "--wait"]);
    assert!(value(kind, &rotated, "SELECT v FROM early").is_err(), "the detached read-only login still works");
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(logins(kind, &admin, &id), Vec::<String>::new(), "logins left on the {kind} server");
    assert_eq!(servers::traces(kind, &admin, &id), Vec::<String>::new());
}

/// The admin URL with the addon's database as its database.
fn admin_in(admin: &str, database: &str) -> String {
    let mut url = url::Url::parse(admin).unwrap();
    url.set_path(&format!("/{database}"));
    url.to_string()
}

#[test]
fn postgres_a_read_only_login_reads_every_table_present_and_future_and_changes_nothing() {
    sql_reader("postgres");
}

#[test]
fn mysql_a_read_only_login_reads_every_table_present_and_future_and_changes_nothing() {
    sql_reader("mysql");
}

/// A copy of an addon (`provision --from`, a template copy while the source is idle)
/// holds the source's tables with their grants, but the source's read-only login can't
/// reach it; the copy's own read-only app reads it, and nothing of either is left after.
#[test]
fn postgres_a_copy_is_not_readable_by_the_sources_read_only_login() {
    let Some(admin) = server("postgres", "postgres read-only and copies") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let source = env.provision_ready("postgres", "web", &["--name", "main-db"])["id"].as_str().unwrap().to_string();
    let web = env.vars("web")["DATABASE_URL"].clone();
    sql("postgres", &web, "CREATE TABLE early (v TEXT); INSERT INTO early (v) VALUES ('first')").unwrap();
    env.ok(["attach", "main-db", "reports", "--read-only", "--wait"]);
    let reader = env.vars("reports")["DATABASE_URL"].clone();
    let copy = env.provision_ready("postgres", "branch", &["--name", "branch-db", "--from", "main-db"]);
    let copy_id = copy["id"].as_str().unwrap().to_string();
    let mut elsewhere = url::Url::parse(&reader).unwrap();
    elsewhere.set_path(&format!("/addons_{copy_id}"));
    assert!(
        value("postgres", elsewhere.as_str(), "SELECT v FROM early").is_err(),
        "the source's read-only login reads the copy"
    );
    env.ok(["attach", "branch-db", "branch-reports", "--read-only", "--wait"]);
    let copy_reader = env.vars("branch-reports")["DATABASE_URL"].clone();
    assert_eq!(value("postgres", &copy_reader, "SELECT v FROM early").as_deref(), Ok("first"));
    assert!(sql("postgres", &copy_reader, "DELETE FROM early").is_err());
    // (A copy's own app login is found with "another password" once, read-only or not.)
    let checked = env.json(["check", "branch-db", "--json"]);
    let reader_login = user_of(&copy_reader);
    assert!(!checked.to_string().contains(&reader_login), "the copy's read-only login drifted: {checked:#}");
    let checked = env.json(["check", "branch-db", "--json"]);
    assert_eq!(checked[0]["status"], "ok", "{checked:#}");
    env.ok(["deprovision", "main-db", "branch-db", "--wait"]);
    for id in [&source, &copy_id] {
        assert_eq!(logins("postgres", &admin, id), Vec::<String>::new());
        assert_eq!(servers::traces("postgres", &admin, id), Vec::<String>::new());
    }
}

/// Runs a redis command as `conn`'s user: `Err` holds the server's refusal.
fn redis_run(conn: &mut redis::Connection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(conn)
}

/// Asserts the reader at `url` reads the keys under `prefix` and changes nothing.
fn redis_reads_and_writes_nothing(url: &str, prefix: &str) {
    let mut conn = connect_redis(url).unwrap();
    let (early, later) = (format!("{prefix}early"), format!("{prefix}later"));
    let got: String = redis::cmd("GET").arg(&early).query(&mut conn).expect("the read-only user can't GET early");
    assert_eq!(got, "first");
    let got: String = redis::cmd("GET").arg(&later).query(&mut conn).expect("the read-only user can't GET later");
    assert_eq!(got, "second");
    let len: u64 = redis::cmd("STRLEN").arg(&early).query(&mut conn).unwrap();
    assert_eq!(len, 5);
    let made = format!("{prefix}made");
    for args in [
        vec!["SET", early.as_str(), "changed"],
        vec!["SET", made.as_str(), "x"],
        vec!["APPEND", early.as_str(), "x"],
        vec!["DEL", early.as_str()],
        vec!["UNLINK", later.as_str()],
        vec!["EXPIRE", early.as_str(), "1"],
        vec!["PEXPIRE", later.as_str(), "1"],
        vec!["PERSIST", early.as_str()],
        vec!["RENAME", early.as_str(), made.as_str()],
        vec!["INCR", made.as_str()],
        vec!["GETDEL", early.as_str()],
        vec!["GETEX", early.as_str(), "EX", "1"],
        vec!["COPY", early.as_str(), made.as_str()],
        vec!["FLUSHDB"],
        vec!["FLUSHALL"],
        vec!["SWAPDB", "0", "1"],
        vec!["PUBLISH", made.as_str(), "x"],
        vec!["EVAL", "return 1", "0"],
        vec!["CONFIG", "GET", "maxmemory"],
        vec!["ACL", "SETUSER", "someone", "on"],
        vec!["SORT", early.as_str(), "STORE", made.as_str()],
        vec!["SET", "elsewhere", "x"],
    ] {
        assert!(redis_run(&mut conn, &args).is_err(), "the read-only redis user may run {args:?}");
    }
    let ttl: i64 = redis::cmd("TTL").arg(&early).query(&mut conn).unwrap();
    assert_eq!(ttl, -1, "early was given an expiry");
    let got: String = redis::cmd("GET").arg(&early).query(&mut conn).unwrap();
    assert_eq!(got, "first", "early changed");
}

#[test]
fn redis_a_read_only_user_reads_every_key_present_and_future_and_changes_nothing() {
    let Some(admin) = server("redis", "redis read-only attachments") else { return };
    let env = TestEnv::with_config(&servers::config("redis", &admin));
    let id = env.provision_ready("redis", "web", &["--name", "cache"])["id"].as_str().unwrap().to_string();
    let vars = env.vars("web");
    let (web, prefix) = (vars["REDIS_URL"].clone(), vars["REDIS_KEY_PREFIX"].clone());
    let mut owner = connect_redis(&web).unwrap();
    redis::cmd("SET").arg(format!("{prefix}early")).arg("first").query::<()>(&mut owner).unwrap();

    env.ok(["attach", "cache", "reports", "--read-only", "--wait"]);
    let reader = env.vars("reports")["REDIS_URL"].clone();
    assert_eq!(env.vars("reports")["REDIS_KEY_PREFIX"], prefix);
    assert_ne!(user_of(&reader), user_of(&web));
    assert_eq!(env.info("cache")["attachments"][0]["read_only"], true);
    redis::cmd("SET").arg(format!("{prefix}later")).arg("second").query::<()>(&mut owner).unwrap();
    redis_reads_and_writes_nothing(&reader, &prefix);
    // Reading is confined to the prefix as ever.
    let mut conn = connect_redis(&reader).unwrap();
    assert!(redis_run(&mut conn, &["GET", "elsewhere"]).is_err(), "the read-only user reads outside its prefix");
    assert_eq!(env.json(["check", "cache", "--json"])[0]["status"], "ok");

    env.ok(["rotate", "cache", "--app", "reports", "--grace", "0", "--wait"]);
    let rotated = env.vars("reports")["REDIS_URL"].clone();
    assert_ne!(user_of(&rotated), user_of(&reader));
    assert!(connect_redis(&reader).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c)).is_err());
    redis_reads_and_writes_nothing(&rotated, &prefix);

    // Write rights given by hand are drift; check takes them away.
    let mut admin_conn = connect_redis(&admin).unwrap();
    let user = user_of(&rotated);
    redis_run(&mut admin_conn, &["ACL", "SETUSER", &user, &format!("~{prefix}*"), "+@write"]).unwrap();
    redis::cmd("SET")
        .arg(format!("{prefix}made"))
        .arg("x")
        .query::<()>(&mut connect_redis(&rotated).unwrap())
        .expect("the hand-made rule did not take");
    redis::cmd("DEL").arg(format!("{prefix}made")).query::<()>(&mut owner).unwrap();
    let run = env.run(["check", "cache"]);
    assert!(run.stdout.contains("repaired"), "{run}");
    redis_reads_and_writes_nothing(&rotated, &prefix);

    env.ok(["deprovision", "cache", "--wait"]);
    assert_eq!(logins("redis", &admin, &id), Vec::<String>::new(), "users left on the redis server");
}

#[test]
fn sqlite_hands_a_read_only_app_a_mode_ro_uri_that_sqlalchemy_opens_read_only() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "web", &["--name", "db"]);
    let web = env.vars("web")["DATABASE_URL"].clone();
    let path = web.strip_prefix("sqlite:///").unwrap().to_string();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE early (v TEXT); INSERT INTO early VALUES ('first')").unwrap();
    let run = env.ok(["attach", "db", "reports", "--read-only", "--wait"]);
    assert!(run.stderr.contains("not enforced"), "{run}");
    let reader = env.vars("reports")["DATABASE_URL"].clone();
    assert_eq!(reader, format!("sqlite:///file:{path}?mode=ro&uri=true"));
    assert_eq!(env.info("db")["attachments"][0]["read_only"], true);
    conn.execute_batch("CREATE TABLE later (v TEXT); INSERT INTO later VALUES ('second')").unwrap();
    // SQLite's own URI filenames open it read-only.
    let uri = reader.strip_prefix("sqlite:///").unwrap().strip_suffix("&uri=true").unwrap();
    let ro = rusqlite::Connection::open_with_flags(
        uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .unwrap();
    let got: String = ro.query_row("SELECT v FROM later", [], |row| row.get(0)).unwrap();
    assert_eq!(got, "second");
    assert!(ro.execute_batch("INSERT INTO early VALUES ('x')").is_err(), "a mode=ro URI opened for writing");
    let Some(readers) = readers("the sqlite read-only URL readers") else { return };
    let script = "import os, sqlalchemy\n\
                  e = sqlalchemy.create_engine(os.environ['DATABASE_URL'])\n\
                  with e.connect() as c:\n    \
                  print(c.execute(sqlalchemy.text('SELECT v FROM early')).scalar(), \
                  c.execute(sqlalchemy.text('SELECT v FROM later')).scalar())\n    \
                  for s in ['INSERT INTO early VALUES (1)', 'DELETE FROM later', 'CREATE TABLE t (v)', 'DROP TABLE early']:\n        \
                  try:\n            c.execute(sqlalchemy.text(s)); c.commit(); print('WROTE', s)\n        \
                  except Exception as e2:\n            print('refused')\n";
    let mut command = readers.python(script);
    command.env("DATABASE_URL", &reader);
    assert_eq!(stdout_of(command), "first second\nrefused\nrefused\nrefused\nrefused\n");
}

/// Attaching `--read-only` to an addon of a provider that makes no read-only logins is
/// refused (exit 2, one line naming those that do) with nothing changed; the attachment
/// without the flag then works.
fn refused_read_only(env: &TestEnv, provider: &str) {
    let addon = format!("{provider}-addon");
    env.provision_ready(provider, "web", &["--name", &addon]);
    let before = env.info(&addon);
    let refused = env.fails(2, ["attach", &addon, "reports", "--read-only"]);
    assert!(
        refused.contains(&format!("the {provider} provider can't give an app read-only access"))
            && refused.contains("sqlite")
            && refused.contains("without --read-only"),
        "{refused}"
    );
    assert_eq!(env.info(&addon), before, "a refused attach changed the addon");
    let unknown = env.run(["env", "reports"]);
    assert!(unknown.stderr.contains("no app named \"reports\""), "a refused attach made the app: {unknown}");
    env.ok(["attach", &addon, "reports", "--wait"]);
    env.ok(["deprovision", &addon, "--wait"]);
}

/// Every serverless provider but sqlite says nothing of read-only logins (the fake one of
/// the test build is a provider added without a word of it): each refuses the flag.
#[test]
fn a_provider_without_read_only_logins_refuses_the_flag_and_changes_nothing() {
    let providers: Vec<&str> = common::providers::serverless().into_iter().filter(|p| *p != "sqlite").collect();
    assert!(providers.contains(&"secret"), "{providers:?}");
    for provider in providers {
        let env = TestEnv::with_config(&common::providers::serverless_config(provider));
        refused_read_only(&env, provider);
    }
}

#[test]
fn rabbitmq_refuses_read_only_attachments() {
    let Some(admin) = server("rabbitmq", "the rabbitmq read-only refusal") else { return };
    let env = TestEnv::with_config(&servers::config("rabbitmq", &admin));
    refused_read_only(&env, "rabbitmq");
}

/// With the `failpoints` feature: a SIGKILL at each point inside a read-only attach and
/// its rotation, then ticks, leave the app a login that reads and does not write, and no
/// other login behind.
#[cfg(feature = "failpoints")]
mod crashes {
    use super::*;

    /// Whether the app `reports` reads what `web` made (`early`) and is refused a write.
    fn reads_only(env: &TestEnv, kind: &str) -> bool {
        let vars = env.vars("reports");
        match kind {
            "redis" => {
                let (url, prefix) = (&vars["REDIS_URL"], &vars["REDIS_KEY_PREFIX"]);
                let Ok(mut conn) = connect_redis(url) else { return false };
                let read = redis::cmd("GET").arg(format!("{prefix}early")).query::<String>(&mut conn);
                let write = redis::cmd("SET").arg(format!("{prefix}early")).arg("x").query::<()>(&mut conn);
                read.as_deref() == Ok("first") && write.is_err()
            }
            _ => {
                let url = &vars["DATABASE_URL"];
                value(kind, url, "SELECT v FROM early").as_deref() == Ok("first")
                    && sql(kind, url, "INSERT INTO early (v) VALUES ('x')").is_err()
            }
        }
    }

    fn crash_inside_a_read_only_attach(kind: &'static str) {
        let Some(admin) = server(kind, &format!("{kind} read-only attach crashes")) else { return };
        let env = TestEnv::with_config(&servers::config(kind, &admin));
        let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
        let vars = env.vars("web");
        let web_login = match kind {
            "redis" => {
                let prefix = &vars["REDIS_KEY_PREFIX"];
                let mut conn = connect_redis(&vars["REDIS_URL"]).unwrap();
                redis::cmd("SET").arg(format!("{prefix}early")).arg("first").query::<()>(&mut conn).unwrap();
                user_of(&vars["REDIS_URL"])
            }
            _ => {
                let url = &vars["DATABASE_URL"];
                sql(kind, url, "CREATE TABLE early (v TEXT); INSERT INTO early (v) VALUES ('first')").unwrap();
                user_of(url)
            }
        };
        let url_var = if kind == "redis" { "REDIS_URL" } else { "DATABASE_URL" };
        let allowed = |reader: &str| vec![format!("addons_{id}"), web_login.clone(), reader.to_string()];
        for point in ["after-attach-credential", "before-step-commit"] {
            env.ok(["attach", "db", "reports", "--read-only"]);
            env.killed_at(point, &["tick"]);
            env.settle();
            assert!(reads_only(&env, kind), "{kind}: the read-only app is not read-only after a kill at {point}");
            let reader = user_of(&env.vars("reports")[url_var]);
            for login in logins(kind, &admin, &id) {
                assert!(allowed(&reader).contains(&login), "{kind}: login {login} leaked after a kill at {point}");
            }
            env.ok(["detach", "db", "reports", "--wait"]);
        }
        env.ok(["attach", "db", "reports", "--read-only", "--wait"]);
        for point in ["after-attach-credential", "before-step-commit", "after-revoke-credential"] {
            env.ok(["rotate", "db", "--app", "reports", "--grace", "0"]);
            if point == "after-revoke-credential" {
                env.ok(["tick"]);
            }
            env.killed_at(point, &["tick"]);
            env.settle();
            assert!(reads_only(&env, kind), "{kind}: the rotated login is not read-only after a kill at {point}");
            let reader = user_of(&env.vars("reports")[url_var]);
            for login in logins(kind, &admin, &id) {
                assert!(allowed(&reader).contains(&login), "{kind}: login {login} leaked after a kill at {point}");
            }
        }
        env.ok(["deprovision", "db", "--wait"]);
        assert_eq!(logins(kind, &admin, &id), Vec::<String>::new(), "logins left on the {kind} server");
    }

    #[test]
    fn postgres_a_read_only_attach_survives_a_kill_at_each_point() {
        crash_inside_a_read_only_attach("postgres");
    }

    #[test]
    fn mysql_a_read_only_attach_survives_a_kill_at_each_point() {
        crash_inside_a_read_only_attach("mysql");
    }

    #[test]
    fn redis_a_read_only_attach_survives_a_kill_at_each_point() {
        crash_inside_a_read_only_attach("redis");
    }
}
