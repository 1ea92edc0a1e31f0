//! Drift through the binary, against the real servers: a password changed, a login
//! dropped, an ACL user deleted, a file's mode or the file itself changed by hand.
//! `check` reports and repairs it (a lost file only with `--repair-data`, else the
//! addon is marked), a tick repairs it every `engine.verify_interval`, and the app's
//! vars work again. A server that does not answer is not drift.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::servers::{self, connect_mysql, connect_postgres, connect_redis, server};
use common::TestEnv;

/// Whether the URL in the app's vars logs in.
fn vars_work(env: &TestEnv, kind: &str) -> bool {
    let vars = env.vars("web");
    match kind {
        "postgres" => connect_postgres(&vars["DATABASE_URL"]).and_then(|mut c| c.batch_execute("SELECT 1")).is_ok(),
        "mysql" => connect_mysql(&vars["DATABASE_URL"]).is_ok(),
        "rabbitmq" => servers::connect_rabbitmq(&vars["RABBITMQ_URL"]).is_ok(),
        "mqtt" => common::mosquitto::connect(&vars["MQTT_URL"], None).is_ok(),
        _ => connect_redis(&vars["REDIS_URL"]).and_then(|mut c| redis::cmd("PING").query::<String>(&mut c)).is_ok(),
    }
}

/// Breaks the addon's login by hand, as the server's admin.
fn break_login(kind: &str, admin: &str, id: &str, how: &str) {
    // A postgres app logs in as a member of the owner role `addons_<id>`, which never logs in.
    let login = match kind {
        "postgres" => format!("addons_{id}_0_0"),
        _ => format!("addons_{id}"),
    };
    match (kind, how) {
        ("postgres", "password") => connect_postgres(admin)
            .unwrap()
            .batch_execute(&format!("ALTER ROLE \"{login}\" PASSWORD 'changed-by-hand'"))
            .unwrap(),
        ("mysql", "drop") => {
            use mysql::prelude::Queryable;
            let mut conn = connect_mysql(admin).unwrap();
            let hosts: Vec<String> = conn.exec("SELECT host FROM mysql.user WHERE user = ?", (&login,)).unwrap();
            assert!(!hosts.is_empty());
            for host in hosts {
                conn.query_drop(format!("DROP USER `{login}`@`{host}`")).unwrap();
            }
        }
        ("redis", "drop") => {
            let mut conn = connect_redis(admin).unwrap();
            let users: Vec<String> = redis::cmd("ACL").arg("USERS").query(&mut conn).unwrap();
            let mine: Vec<String> = users.into_iter().filter(|user| user.contains(id)).collect();
            assert!(!mine.is_empty());
            redis::cmd("ACL").arg("DELUSER").arg(mine).query::<u64>(&mut conn).unwrap();
        }
        ("rabbitmq", "password") => {
            let body = serde_json::json!({"password": "changed-by-hand", "tags": ""});
            servers::rabbitmq_send(admin, "PUT", &format!("/api/users/{login}"), Some(body)).unwrap();
        }
        ("mqtt", "password") => {
            common::mosquitto::dynsec(admin, &["setClientPassword", &login, "changed-by-hand"]).unwrap();
        }
        other => panic!("no way to break {other:?}"),
    }
}

fn events(env: &TestEnv, addon: &str) -> Vec<String> {
    let log = env.json(["log", addon, "--json"]);
    log.as_array().unwrap().iter().map(|e| format!("{}: {}", e["event"].as_str().unwrap(), e["message"])).collect()
}

/// A tick repairs a broken login once the verify interval has passed.
fn a_tick_repairs(kind: &'static str, how: &str) {
    let Some(admin) = server(kind, &format!("{kind} drift")) else { return };
    let env = TestEnv::with_config(&format!("{}[engine]\nverify_interval = \"1s\"\n", servers::config(kind, &admin)));
    let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    assert!(vars_work(&env, kind));
    break_login(kind, &admin, &id, how);
    // The test server trusts local logins by password: postgres's drift shows in the log alone.
    if kind != "postgres" {
        assert!(!vars_work(&env, kind), "breaking the {kind} login by hand did not break it");
    }
    std::thread::sleep(Duration::from_millis(1100));
    env.ok(["tick"]);
    assert!(vars_work(&env, kind), "the tick did not repair the {kind} login: {:?}", events(&env, "db"));
    let log = events(&env, "db");
    assert!(log.iter().any(|e| e.starts_with("drift: ")), "{log:?}");
    assert!(log.iter().any(|e| e.starts_with("repaired: ")), "{log:?}");
    // Nothing differs now: check says ok.
    let checks = env.json(["check", "db", "--json"]);
    assert_eq!(checks[0]["status"], "ok", "{checks:#}");
    env.ok(["deprovision", "db", "--wait"]);
}

#[test]
fn a_tick_resets_a_postgres_password_changed_by_hand() {
    a_tick_repairs("postgres", "password");
}

#[test]
fn a_tick_recreates_a_mysql_user_dropped_by_hand() {
    a_tick_repairs("mysql", "drop");
}

#[test]
fn a_tick_recreates_a_redis_acl_user_deleted_by_hand() {
    a_tick_repairs("redis", "drop");
}

#[test]
fn a_tick_resets_a_rabbitmq_password_changed_by_hand() {
    a_tick_repairs("rabbitmq", "password");
}

#[test]
fn a_tick_resets_an_mqtt_password_changed_by_hand() {
    a_tick_repairs("mqtt", "password");
}

#[test]
fn check_repairs_now_and_verify_interval_0_turns_the_ticks_off() {
    let Some(admin) = server("postgres", "postgres drift check") else { return };
    let env =
        TestEnv::with_config(&format!("{}[engine]\nverify_interval = \"0\"\n", servers::config("postgres", &admin)));
    let id = env.provision_ready("postgres", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    break_login("postgres", &admin, &id, "password");
    env.ok(["tick"]);
    assert!(!events(&env, "db").iter().any(|e| e.starts_with("drift")), "a tick checked although verify_interval is 0");
    let run = env.ok(["check", "--all"]);
    assert!(run.stdout.contains("repaired"), "{run}");
    assert!(!run.stdout.contains("changed-by-hand"), "{run}");
    assert!(vars_work(&env, "postgres"));
    assert_eq!(env.json(["check", "db", "--json"])[0]["status"], "ok");
    env.ok(["deprovision", "db", "--wait"]);
}

#[test]
fn a_server_that_does_not_answer_is_not_drift() {
    let Some(admin) = server("postgres", "postgres down during a check") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    env.provision_ready("postgres", "web", &["--name", "db"]);
    env.write_config(&servers::config("postgres", "postgres://postgres@127.0.0.1:1/postgres"));
    let run = env.run(["check", "db"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("unknown"), "{run}");
    assert!(!events(&env, "db").iter().any(|e| e.starts_with("drift")), "a silent server was taken for drift");
    assert!(env.info("db")["drift"].is_null());
    env.write_config(&servers::config("postgres", &admin));
    env.ok(["deprovision", "db", "--wait"]);
}

#[test]
fn a_sqlite_file_mode_is_put_back_and_a_lost_file_waits_for_repair_data() {
    let env = TestEnv::new();
    let id = env.provision_ready("sqlite", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let file = env.sqlite_dir().join(format!("{id}.db"));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let checks = env.json(["check", "db", "--json"]);
    assert_eq!(checks[0]["status"], "repaired", "{checks:#}");
    assert_eq!(common::mode(&file), 0o600);

    std::fs::remove_file(&file).unwrap();
    let run = env.run(["check", "--all"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("drift") && run.stdout.contains("--repair-data"), "{run}");
    assert!(!file.exists(), "check recreated a lost file without --repair-data");
    assert!(env.ok(["list"]).stdout.contains("ready (drift)"));
    assert!(env.info("db")["drift"].as_str().unwrap().contains("gone"));
    // Checked again, the loss is not logged twice.
    env.run(["check", "db"]);
    let lost = events(&env, "db").into_iter().filter(|e| e.starts_with("drift") && e.contains("gone")).count();
    assert_eq!(lost, 1, "{:?}", events(&env, "db"));

    env.ok(["check", "db", "--repair-data"]);
    assert!(file.exists());
    assert!(env.info("db")["drift"].is_null());
    assert!(!env.ok(["list"]).stdout.contains("drift"));
}

#[test]
fn a_postgres_addon_dropped_before_its_first_tick_is_begun_again() {
    let Some(admin) = server("postgres", "postgres dropped before ready") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let id = env.json(["provision", "postgres", "web", "--name", "db", "--json"])["id"].as_str().unwrap().to_string();
    let name = format!("addons_{id}");
    let mut admin_client = connect_postgres(&admin).unwrap();
    admin_client.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).unwrap();
    admin_client.batch_execute(&format!("DROP ROLE \"{name}\"")).unwrap();
    // Before: "waiting for the provider" until the 30-minute provision timeout.
    let run = env.run(["wait", "db", "--timeout", "20s"]);
    assert_eq!(run.code, 0, "{run}");
    assert!(vars_work(&env, "postgres"));
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(servers::traces("postgres", &admin, &id), Vec::<String>::new());
}
