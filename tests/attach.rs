//! `addons attach` and `addons detach` through the binary: for each server provider two
//! apps log in with logins of their own and see the same data; a detached app's login is
//! refused while the other's works; nothing is left on the server after deprovision.
//! secret and sqlite hand out the same value. Refusals change nothing. With the
//! `failpoints` feature, a SIGKILL at each point inside attach and detach is followed by
//! ticks that settle with every attachment working or gone and no login leaked.

use crate::common;

use common::apps::{login_of, logins, App};
use common::servers::{self, connect_postgres, drop_login, server};
use common::TestEnv;

/// What `app` holds of the addon's vars now (`prefix` as given to `--as`, upper-cased).
fn app_now(env: &TestEnv, app: &str, kind: &'static str, prefix: &str) -> App {
    let vars = env.vars(app);
    let key = |var: &str| if prefix.is_empty() { var.to_string() } else { format!("{prefix}_{var}") };
    let url = ["DATABASE_URL", "REDIS_URL", "RABBITMQ_URL", "MQTT_URL"].iter().find_map(|var| vars.get(&key(var)));
    let url = url.unwrap_or_else(|| panic!("app {app} has no URL var: {vars:?}")).clone();
    let prefix = vars.get(&key("REDIS_KEY_PREFIX")).or(vars.get(&key("MQTT_TOPIC_PREFIX")));
    App { kind, url, prefix: prefix.cloned().unwrap_or_default() }
}

/// The events of an addon's log, by name.
fn events(env: &TestEnv, addon: &str) -> Vec<String> {
    let log = env.json(["log", addon, "--json"]);
    log.as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_string()).collect()
}

/// The whole life of a server addon shared by three apps.
fn shared_by_apps(kind: &'static str) {
    let Some(admin) = server(kind, &format!("{kind} attach")) else { return };
    let env = TestEnv::with_config(&servers::config(kind, &admin));
    let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let web = app_now(&env, "web", kind, "");
    web.make("made_by_web");

    let run = env.ok(["attach", "db", "worker", "--wait"]);
    assert!(!run.stderr.contains("same value"), "{run}");
    let worker = app_now(&env, "worker", kind, "");
    assert_ne!(login_of(&worker), login_of(&web), "worker was handed web's login");
    assert!(worker.works(), "worker's own {kind} login does not work");
    worker.own("made_by_web", false).expect("worker can't use what web made");
    worker.make("made_by_worker");
    web.own("made_by_worker", false).expect("web can't use what worker made");

    env.ok(["attach", "db", "reports", "--as", "shared", "--wait"]);
    let reports = app_now(&env, "reports", kind, "SHARED");
    assert!(reports.works(), "the prefixed attachment's {kind} login does not work");
    reports.own("made_by_worker", false).expect("reports can't use what worker made");

    let info = env.info("db");
    let apps: Vec<(String, String)> = info["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["app"].as_str().unwrap().to_string(), t["state"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(apps, [("worker".into(), "attached".into()), ("reports".into(), "attached".into())], "{info:#}");
    assert_eq!(info["attachments"][1]["prefix"], "SHARED");
    let listed = env.json(["list", "worker", "--json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed:#}");
    assert_eq!((&listed[0]["name"], &listed[0]["attached"]), (&"db".into(), &true.into()));
    assert!(env.ok(["list", "worker"]).stdout.contains("worker (attached)"));

    // A login of an attached app dropped by hand is drift, and `check` makes it again.
    drop_login(kind, &admin, &login_of(&worker));
    assert!(!worker.works());
    let checked = env.run(["check", "db"]);
    assert!(checked.stdout.contains("repaired"), "{checked}");
    assert!(worker.works(), "check did not make worker's {kind} login again");
    let mut open = worker.connect().unwrap();

    // A rotation of one attached app's login: the others' stay as they were.
    let run = env.ok(["rotate", "db", "--app", "worker", "--grace", "0", "--wait"]);
    assert!(run.stderr.contains("Rotating app worker's login to db to generation 1"), "{run}");
    let rotated = app_now(&env, "worker", kind, "");
    assert_ne!(login_of(&rotated), login_of(&worker));
    assert!(rotated.works(), "worker's rotated {kind} login does not work");
    assert!(!worker.works(), "worker's old {kind} login works after a rotation with --grace 0");
    assert!(open.run(&worker.prefix, "SELECT 1").is_err(), "a session of worker's old {kind} login lives on");
    assert!(web.works() && reports.works(), "a rotation of worker's login broke another app's");
    assert_eq!(app_now(&env, "web", kind, "").url, web.url);
    rotated.own("made_by_worker", false).expect("worker's rotated login can't use the data");
    let worker = rotated;
    let mut open = worker.connect().unwrap();
    // With a grace, the old login works until it ends; then a tick revokes it. The grace
    // leaves room for a loaded machine to check both logins within it; it began before
    // the rotate command returned, so it has ended 8 s after that.
    env.ok(["rotate", "db", "--app", "reports", "--grace", "8s", "--wait"]);
    let returned = std::time::Instant::now();
    let next = app_now(&env, "reports", kind, "SHARED");
    assert!(next.works() && reports.works(), "both of reports' {kind} logins should work during the grace");
    assert!(env.info("db")["pending"] == true, "a revocation to come is work left");
    std::thread::sleep(std::time::Duration::from_millis(8100).saturating_sub(returned.elapsed()));
    env.ok(["wait", "db"]);
    assert!(!reports.works(), "reports' old {kind} login works after the grace");
    assert!(next.works() && worker.works());
    let reports = next;

    env.ok(["detach", "db", "worker"]);
    assert!(env.vars("worker").is_empty(), "worker's vars outlived the detach");
    env.ok(["tick"]);
    assert!(!worker.works(), "the detached {kind} login still works");
    assert!(open.run(&worker.prefix, "SELECT 1").is_err(), "a session of the detached {kind} login lives on");
    assert!(web.works() && reports.works(), "a detach broke another app's login");
    web.own("made_by_worker", false).expect("what the detached app made is gone");
    let left: Vec<String> = logins(kind, &admin, &id);
    assert!(!left.contains(&login_of(&worker)), "{left:?}");
    let events = events(&env, "db");
    for event in ["attach", "attached", "detach", "detached"] {
        assert!(events.iter().any(|e| e == event), "no {event} in the log: {events:?}");
    }

    env.ok(["deprovision", "db", "--wait"]);
    assert!(env.vars("reports").is_empty(), "an attached app kept the vars of a deprovisioned addon");
    assert!(!reports.works(), "an attached {kind} login outlived the deprovision");
    assert_eq!(logins(kind, &admin, &id), Vec::<String>::new(), "logins left on the {kind} server");
    assert_eq!(servers::traces(kind, &admin, &id), Vec::<String>::new());
}

#[test]
fn postgres_apps_attached_share_the_data_with_logins_of_their_own() {
    shared_by_apps("postgres");
}

/// Every role of addon `id` on the postgres server at `admin`: its name, whether it may log
/// in, its powers, a digest of its password verifier ("-" when it has none), the roles it
/// is a member of and its settings.
fn postgres_roles(admin: &str, id: &str) -> Vec<String> {
    let rows = connect_postgres(admin)
        .unwrap()
        .query(
            "SELECT concat_ws(' ', a.rolname, a.rolcanlogin, a.rolsuper, a.rolcreaterole, a.rolcreatedb, \
               a.rolreplication, a.rolbypassrls, a.rolconnlimit, a.rolvaliduntil, \
               coalesce(md5(a.rolpassword), '-'), \
               (SELECT string_agg(b.rolname || CASE WHEN m.admin_option THEN '+admin' ELSE '' END, ',') \
                FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid WHERE m.member = a.oid), \
               s.setconfig::text) \
             FROM pg_authid a LEFT JOIN pg_db_role_setting s ON s.setrole = a.oid AND s.setdatabase = 0 \
             WHERE a.rolname = $1 OR a.rolname LIKE $2 ORDER BY a.rolname",
            &[&format!("addons_{id}"), &format!("addons\\_{id}\\_%")],
        )
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// The roles of `postgres_roles` that may log in, but `except`'s.
fn postgres_logins_but(admin: &str, id: &str, except: &str) -> Vec<String> {
    let roles = postgres_roles(admin, id).into_iter();
    roles.filter(|role| role.split(' ').nth(1) == Some("t") && role.split(' ').next() != Some(except)).collect()
}

/// Whether the role `user` logs in with `password` (the test server may trust every login:
/// then what counts is whether the role may log in at all).
fn postgres_logs_in(url: &str, user: &str, password: &str) -> bool {
    let mut url = url::Url::parse(url).unwrap();
    url.set_username(user).unwrap();
    url.set_password(Some(password)).unwrap();
    connect_postgres(url.as_str()).and_then(|mut client| client.batch_execute("SELECT 1")).is_ok()
}

/// What the login of an attached app tries against the addon's other roles: become each
/// and set its password, set it as itself, take it the right to log in or its membership,
/// rename it, or give it another role on login. Each try stands alone; whichever succeeds
/// shows in the roles.
fn attack(url: &str, owner: &str, others: &[String]) {
    let mut session = connect_postgres(url).unwrap();
    let mut tries = vec![
        format!("SET ROLE \"{owner}\"; ALTER ROLE \"{owner}\" PASSWORD 'x'"),
        format!("RESET ROLE; ALTER ROLE \"{owner}\" LOGIN PASSWORD 'x'"),
        format!("SET ROLE \"{owner}\"; ALTER ROLE \"{owner}\" LOGIN"),
        format!("SET ROLE \"{owner}\"; ALTER ROLE \"{owner}\" VALID UNTIL 'infinity'"),
    ];
    for other in others {
        tries.push(format!("SET ROLE \"{other}\"; ALTER ROLE \"{other}\" PASSWORD 'x'"));
        tries.push(format!("ALTER ROLE \"{other}\" PASSWORD 'x'"));
        tries.push(format!("RESET ROLE; ALTER ROLE \"{other}\" PASSWORD 'x'"));
        tries.push(format!("ALTER ROLE \"{other}\" NOLOGIN"));
        tries.push(format!("ALTER ROLE \"{other}\" SET role = \"{owner}\""));
        tries.push(format!("GRANT \"{owner}\" TO \"{other}\" WITH ADMIN OPTION"));
        tries.push(format!("SET ROLE \"{owner}\"; REVOKE \"{owner}\" FROM \"{other}\""));
        tries.push(format!("ALTER ROLE \"{other}\" RENAME TO \"{other}_x\""));
    }
    for statement in tries {
        let _ = session.batch_execute(&statement);
    }
}

/// The role names of the URLs of these apps.
fn login_names(apps: &[&App]) -> Vec<String> {
    apps.iter().map(|app| login_of(app)).collect()
}

#[test]
fn postgres_an_attached_login_can_change_no_other_login() {
    let Some(admin) = server("postgres", "the postgres attached login attack") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let id = env.provision_ready("postgres", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let _sweep = servers::Sweep::new("postgres", &admin, &id);
    let owner = format!("addons_{id}");
    env.ok(["attach", "db", "worker", "--wait"]);
    env.ok(["attach", "db", "reports", "--wait"]);
    let (web, worker, reports) = (
        app_now(&env, "web", "postgres", ""),
        app_now(&env, "worker", "postgres", ""),
        app_now(&env, "reports", "postgres", ""),
    );
    web.make("made_by_web");
    let attacker = login_of(&worker);
    let before = postgres_logins_but(&admin, &id, &attacker);
    assert_eq!(before.len(), 2, "web's and reports' logins: {before:?}");

    attack(&worker.url, &owner, &login_names(&[&web, &reports]));
    assert_eq!(postgres_logins_but(&admin, &id, &attacker), before, "the attached login changed another login");
    assert!(!postgres_logs_in(&admin, &owner, "x"), "the owner role logs in with the password the attacker set");
    assert!(web.works() && reports.works());
    web.own("made_by_web", false).expect("web lost its data to the attack");

    // The owner's password set by the attacker is drift, taken away again even while the
    // attacker holds the owner's row in an open transaction.
    let mut holding = connect_postgres(&worker.url).unwrap();
    holding.batch_execute(&format!("BEGIN; ALTER ROLE \"{owner}\" PASSWORD 'y'")).unwrap();
    let checked = env.json(["check", "db", "--json"]);
    assert_eq!(checked[0]["status"], "repaired", "{checked:#}");
    let found = checked[0]["found"].to_string();
    assert!(found.contains(&format!("role {owner}")) && found.contains("password"), "{checked:#}");
    assert!(holding.batch_execute("COMMIT").is_err(), "the attacker's transaction outlived the repair");
    let roles = postgres_roles(&admin, &id);
    assert_eq!(roles[0], format!("{owner} f f f f f f -1 -"), "{roles:?}");
    assert_eq!(env.json(["check", "db", "--json"])[0]["status"], "ok");
    assert_eq!(postgres_logins_but(&admin, &id, &attacker), before);

    // Detached, the attacker logs in with nothing: not its own URL, not the owner's role.
    attack(&worker.url, &owner, &login_names(&[&web, &reports]));
    env.ok(["detach", "db", "worker", "--wait"]);
    assert!(!worker.works(), "the detached login still works");
    assert!(!postgres_logs_in(&admin, &owner, "x"), "the detached attacker logs in as the owner");
    assert_eq!(postgres_logins_but(&admin, &id, &attacker), before, "a login changed");
    assert!(web.works() && reports.works());
    reports.own("made_by_web", false).expect("reports lost the data");

    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(postgres_roles(&admin, &id), Vec::<String>::new(), "roles left on the server");
    assert_eq!(servers::traces("postgres", &admin, &id), Vec::<String>::new());
}

/// Makes addon `db` (of app web) as earlier versions made it: its own app logs in as the
/// owner role itself, with the addon's password, and there is no `addons_<id>_0_0`.
fn make_it_as_earlier_versions_did(env: &TestEnv, admin: &str, id: &str) {
    let owner = format!("addons_{id}");
    let mut url = url::Url::parse(&env.vars("web")["DATABASE_URL"]).unwrap();
    let password = url.password().unwrap().to_string();
    connect_postgres(admin)
        .unwrap()
        .batch_execute(&format!(
            "ALTER ROLE \"{owner}\" LOGIN PASSWORD '{password}'; DROP ROLE IF EXISTS \"{owner}_0_0\""
        ))
        .unwrap();
    url.set_username(&owner).unwrap();
    env.state_sql(&format!("UPDATE config_vars SET value = '{url}' WHERE app = 'web' AND key = 'DATABASE_URL'"));
}

#[test]
fn postgres_an_addon_whose_app_logs_in_as_the_owner_is_attached_only_after_a_rotation() {
    let Some(admin) = server("postgres", "the postgres attached login attack") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let id = env.provision_ready("postgres", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let _sweep = servers::Sweep::new("postgres", &admin, &id);
    let owner = format!("addons_{id}");
    make_it_as_earlier_versions_did(&env, &admin, &id);
    let web = app_now(&env, "web", "postgres", "");
    assert_eq!(login_of(&web), owner);
    web.make("made_by_web");
    assert_eq!(env.json(["check", "db", "--json"])[0]["status"], "ok", "the old login is what was made");

    // A login of another app would be a member of the role web logs in as.
    let run = env.run(["attach", "db", "worker", "--wait"]);
    assert_eq!(run.code, 1, "{run}");
    let errors: Vec<&str> = run.stderr.lines().filter(|line| line.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{run}");
    assert!(errors[0].contains(&format!("the addon's own app logs in as role {owner}, the owner")), "{run}");
    assert!(errors[0].contains("rotate the addon first (addons rotate NAME)"), "{run}");
    assert_eq!(logins("postgres", &admin, &id), [owner.as_str()], "a login was made for worker");
    assert!(env.vars("worker").values().all(|value| value.is_empty()), "{:?}", env.vars("worker"));

    // The rotation takes the owner's login away; then the attachment is made.
    env.ok(["rotate", "db", "--grace", "0", "--wait"]);
    let rotated = app_now(&env, "web", "postgres", "");
    assert_eq!(login_of(&rotated), format!("{owner}_0_1"));
    assert!(!web.works(), "web's old login, the owner, still logs in");
    rotated.own("made_by_web", false).expect("web's new login can't use its data");
    let roles = postgres_roles(&admin, &id);
    assert_eq!(roles[0], format!("{owner} f f f f f f -1 -"), "{roles:?}");
    env.ok(["wait", "db"]);
    let worker = app_now(&env, "worker", "postgres", "");
    assert!(worker.works(), "worker was not attached after the rotation");
    worker.own("made_by_web", false).expect("worker can't use web's data");

    let before = postgres_logins_but(&admin, &id, &login_of(&worker));
    attack(&worker.url, &owner, &[login_of(&rotated)]);
    assert_eq!(postgres_logins_but(&admin, &id, &login_of(&worker)), before, "the attached login changed web's");
    assert!(!postgres_logs_in(&admin, &owner, "x"), "the owner role logs in with the password the attacker set");
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(postgres_roles(&admin, &id), Vec::<String>::new(), "roles left on the server");
}

#[test]
fn mysql_apps_attached_share_the_data_with_logins_of_their_own() {
    shared_by_apps("mysql");
}

#[test]
fn redis_apps_attached_share_the_keys_with_users_of_their_own() {
    shared_by_apps("redis");
}

#[test]
fn rabbitmq_apps_attached_share_the_queues_with_users_of_their_own() {
    shared_by_apps("rabbitmq");
}

#[test]
fn mqtt_apps_attached_share_the_topics_with_clients_of_their_own() {
    shared_by_apps("mqtt");
}

#[test]
fn deprovision_of_an_app_also_detaches_it_from_the_addons_it_is_attached_to() {
    let Some(admin) = server("postgres", "deprovision --app of an attached app") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let id = env.provision_ready("postgres", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let _sweep = servers::Sweep::new("postgres", &admin, &id);
    env.provision_ready("secret", "worker", &["--name", "worker-key"]);
    env.ok(["attach", "db", "worker", "--wait"]);
    env.ok(["attach", "db", "reports", "--as", "shared", "--wait"]);
    let (web, worker, reports) = (
        app_now(&env, "web", "postgres", ""),
        app_now(&env, "worker", "postgres", ""),
        app_now(&env, "reports", "postgres", "SHARED"),
    );
    assert!(web.works() && worker.works() && reports.works());
    // An app with addons of its own and an attachment: both go.
    let run = env.ok(["deprovision", "--app", "worker", "--wait"]);
    assert!(run.stderr.contains("Deprovisioning worker-key: SECRET_KEY removed from app worker"), "{run}");
    assert!(run.stderr.contains("Detaching app worker from db: DATABASE_URL removed"), "{run}");
    assert!(env.vars("worker").is_empty(), "{:?}", env.vars("worker"));
    assert!(!worker.works(), "the login of an app deprovisioned with --app still works");
    assert_eq!(env.info("worker-key")["state"], "deprovisioned");
    let attachments = env.info("db")["attachments"].clone();
    assert_eq!(attachments.as_array().unwrap().len(), 1, "{attachments:#}");
    assert_eq!(attachments[0]["app"], "reports");
    assert!(web.works() && reports.works(), "another app's login went with worker's");
    // An app with only an attachment: not "nothing to remove".
    let run = env.ok(["deprovision", "--app", "reports"]);
    assert!(!run.stderr.contains("No live addon matches"), "{run}");
    assert!(run.stderr.contains("Detaching app reports from db: SHARED_DATABASE_URL removed"), "{run}");
    assert!(env.vars("reports").is_empty());
    env.ok(["wait", "db"]);
    assert!(!reports.works(), "the login of an app deprovisioned with --app still works");
    assert!(web.works(), "the owner's login went with an attached app's");
    assert_eq!(logins("postgres", &admin, &id), vec![login_of(&web)], "logins left besides the owner's");
    // Nothing of the app's left: now there is nothing to remove.
    let run = env.ok(["deprovision", "--app", "reports"]);
    assert!(run.stderr.contains("No live addon of app reports and no attachment"), "{run}");
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(servers::traces("postgres", &admin, &id), Vec::<String>::new());
}

#[test]
fn waits_for_an_attached_apps_login_name_that_app_and_what_holds_them_up() {
    let Some(admin) = server("postgres", "the waits of an attached app's login") else { return };
    let env = TestEnv::with_config(&servers::config("postgres", &admin));
    let id = env.provision_ready("postgres", "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
    let _sweep = servers::Sweep::new("postgres", &admin, &id);
    env.ok(["attach", "db", "worker", "--wait"]);
    let last = |run: &common::Run| run.stderr.lines().last().unwrap_or_default().to_string();
    // Done: the app whose login was rotated is named, not the addon's own.
    let run = env.ok(["rotate", "db", "--app", "worker", "--grace", "0", "--wait"]);
    assert_eq!(last(&run), "db is rotated for app worker: DATABASE_URL set on app worker", "{run}");
    assert!(!run.stderr.contains("app web"), "{run}");
    // Held up for good: what is held up is named.
    let broken = servers::config("postgres", "postgres://nosuchuser@127.0.0.1:5432/postgres");
    let held_up = [
        (
            vec!["rotate", "db", "--app", "worker", "--grace", "0", "--wait"],
            "db's rotation of app worker's login can't finish: postgres: ",
        ),
        (vec!["detach", "db", "worker", "--wait"], "db's detach of app worker can't finish: postgres: "),
    ];
    for (args, said) in held_up {
        env.write_config(&broken);
        let run = env.run_within(std::time::Duration::from_secs(60), &args);
        assert_eq!(run.code, 1, "{run}");
        assert!(last(&run).starts_with(&format!("error: {said}")), "{run}");
        assert!(last(&run).ends_with("run 'addons wait db'"), "{run}");
        env.write_config(&servers::config("postgres", &admin));
        env.ok(["wait", "db"]);
    }
    assert_eq!(logins("postgres", &admin, &id).len(), 1, "worker's logins outlived the detach");
    env.ok(["deprovision", "db", "--wait"]);
    assert_eq!(servers::traces("postgres", &admin, &id), Vec::<String>::new());
}

#[test]
fn secret_and_sqlite_hand_out_the_same_value_and_say_so() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    env.provision_ready("sqlite", "web", &["--name", "db"]);
    let run = env.ok(["attach", "key", "worker", "--wait"]);
    assert!(run.stderr.contains("secret: hands worker the same value as web; no per-app credential"), "{run}");
    let run = env.ok(["attach", "db", "worker", "--as", "shared", "--wait"]);
    assert!(run.stderr.contains("sqlite: hands worker the same value as web"), "{run}");
    let (web, worker) = (env.vars("web"), env.vars("worker"));
    assert!(!run.stderr.contains(&web["SECRET_KEY"]) && !run.stdout.contains(&web["DATABASE_URL"]));
    assert_eq!(worker["SECRET_KEY"], web["SECRET_KEY"]);
    assert_eq!(worker["SHARED_DATABASE_URL"], web["DATABASE_URL"]);
    env.ok(["detach", "key", "worker", "--wait"]);
    assert_eq!(env.vars("worker").keys().collect::<Vec<_>>(), ["SHARED_DATABASE_URL"]);
    assert_eq!(env.vars("web").len(), 2, "a detach took the owner's vars");
    // Attached again after a detach: a new slot, the same value.
    env.ok(["attach", "key", "worker", "--wait"]);
    assert_eq!(env.vars("worker")["SECRET_KEY"], web["SECRET_KEY"]);
    // A rotation of a same-value addon gives every attached app the new value.
    env.ok(["rotate", "key", "--wait"]);
    let rotated = env.vars("web")["SECRET_KEY"].clone();
    assert_ne!(rotated, web["SECRET_KEY"]);
    assert_eq!(env.vars("worker")["SECRET_KEY"], rotated, "the attached app kept the old value");
    env.ok(["detach", "key", "worker"]);
    env.ok(["attach", "key", "worker", "--wait"]);
    assert_eq!(env.vars("worker")["SECRET_KEY"], rotated, "attached after a rotation: not the current value");
    env.ok(["deprovision", "key", "db", "--wait"]);
    assert!(env.vars("worker").is_empty());
}

#[test]
fn info_list_and_attach_print_these_whole_outputs() {
    let env = TestEnv::new();
    let id = env.provision_ready("secret", "web", &["--name", "key"])["id"].as_str().unwrap().to_string();
    let run = env.ok(["attach", "key", "worker", "--as", "shared"]);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "Attaching key to app worker: SHARED_SECRET_KEY reserved\n\
         secret: hands worker the same value as web; no per-app credential\n\
         Run 'addons tick' (or 'addons wait key') to set the vars on app worker.\n"
    );
    env.ok(["attach", "key", "jobs"]);
    // One step per addon per tick: one tick attaches worker, the next jobs.
    env.ok(["tick"]);
    assert_eq!(env.info("key")["attachments"][1]["state"], "attaching");
    env.ok(["tick"]);
    let info = env.normalize(&env.ok(["info", "key"]).stdout).replace(&id, "<id>");
    let expected = format!(
        "name      key\n\
         id        <id>\n\
         provider  secret\n\
         app       web\n\
         prefix    -\n\
         params    -\n\
         state     ready\n\
         message   config vars set on app web: SECRET_KEY\n\
         labels    -\n\
         expires   never\n\
         created   {TIME}\n\
         updated   {TIME}\n\
         apps\n\
         \x20 web (owner)\n\
         \x20 worker (attached) as SHARED\n\
         \x20 jobs (attached)\n\
         vars\n\
         \x20 SECRET_KEY=********\n",
        TIME = common::TIME
    );
    assert_eq!(info, expected);
    let list = env.ok(["list", "worker"]).stdout;
    assert_eq!(
        list,
        "NAME  PROVIDER  APP                STATE  VARS               MESSAGE\n\
         key   secret    worker (attached)  ready  SHARED_SECRET_KEY  config vars set on app web: SECRET_KEY\n"
    );
    env.ok(["detach", "key", "jobs"]);
    let log = env.normalize(&env.ok(["log", "key"]).stdout);
    let tail: Vec<&str> = log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect();
    let row = |event: &str, message: &str| {
        format!("{TIME}  ready                  ready                  {event:<18}  {message}", TIME = common::TIME)
    };
    assert_eq!(
        tail,
        [
            row("attach", "attaching app worker (SHARED_SECRET_KEY; credential slot 1)"),
            row("attach", "attaching app jobs (SECRET_KEY; credential slot 2)"),
            row("attached", "app worker attached: handed the same value as app web"),
            row("attached", "app jobs attached: handed the same value as app web"),
            row("detach", "app jobs detached: its vars removed; its credential is revoked on the next tick"),
        ]
    );
}

#[test]
fn an_attachment_made_while_provisioning_is_set_once_ready() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "web", "--name", "key"]);
    env.ok(["attach", "key", "worker", "--as", "web"]);
    assert_eq!(env.info("key")["attachments"][0]["state"], "attaching");
    assert!(env.vars("worker").is_empty(), "vars set before the addon was ready");
    let waited = env.json(["wait", "key", "--json"]);
    assert_eq!(waited[0]["attachments"][0]["state"], "attached", "{waited:#}");
    assert_eq!(env.vars("worker")["WEB_SECRET_KEY"], env.vars("web")["SECRET_KEY"]);
    assert_eq!(env.json(["tick", "--json"])["pending"], 0);
}

#[test]
fn refusals_change_nothing() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    env.ok(["config", "set", "worker", "SECRET_KEY=mine"]);
    let before = env.state_bytes();
    let why = env.fails(1, ["attach", "key", "worker"]);
    assert!(why.contains("app worker already has SECRET_KEY (set by hand); pass --as PREFIX"), "{why}");
    assert_eq!(env.state_bytes(), before, "a refused attach changed the state");
    for (code, args, says) in [
        (2, vec!["attach", "key", "web"], "key belongs to app web already"),
        (2, vec!["attach", "nope", "worker"], "no addon named \"nope\""),
        (2, vec!["attach", "key", "Bad App"], "app"),
        (2, vec!["attach", "key", "worker", "--as", "1bad"], "prefix"),
        (2, vec!["detach", "key", "worker"], "key is not attached to app worker"),
        (2, vec!["detach", "key", "web"], "an addon's own app can't be detached"),
    ] {
        let why = env.fails(code, &args);
        assert!(why.contains(says), "{args:?}: {why}");
        assert_eq!(why.trim().lines().count(), 1, "{args:?}: {why}");
        assert_eq!(env.state_bytes(), before, "{args:?} changed the state");
    }
    env.ok(["attach", "key", "worker", "--as", "web"]);
    let before = env.state_bytes();
    let why = env.fails(1, ["rotate", "key", "--app", "worker"]);
    assert!(why.contains("hands app worker the same value as app web"), "{why}");
    let why = env.fails(2, ["rotate", "key", "--app", "jobs"]);
    assert!(why.contains("key is not attached to app jobs"), "{why}");
    assert_eq!(env.state_bytes(), before);
    let why = env.fails(2, ["attach", "key", "worker", "--as", "other"]);
    assert!(why.contains("key is attached to app worker already"), "{why}");
    assert_eq!(env.state_bytes(), before);
    env.ok(["deprovision", "key"]);
    let why = env.fails(1, ["attach", "key", "jobs"]);
    assert!(why.contains("key is deprovisioned; only a live addon can be attached"), "{why}");
}

#[cfg(feature = "failpoints")]
mod crashes {

    use super::*;

    /// Every login of the addon on the server is one of `allowed`.
    fn no_login_but(kind: &str, admin: &str, id: &str, allowed: &[String], after: &str) {
        for login in logins(kind, admin, id) {
            assert!(allowed.contains(&login), "{kind} login {login} leaked after {after} (allowed: {allowed:?})");
        }
    }

    fn crash_inside_attach_and_detach(kind: &'static str) {
        let Some(admin) = server(kind, &format!("{kind} attach crashes")) else { return };
        let env = TestEnv::new();
        let env_file = env.root().join("worker.env");
        env.write_config(&format!("{}[apps.worker]\nenv_file = {:?}\n", servers::config(kind, &admin), env_file));
        let id = env.provision_ready(kind, "web", &["--name", "db"])["id"].as_str().unwrap().to_string();
        let web = app_now(&env, "web", kind, "");
        web.make("kept");
        let owner = vec![format!("addons_{id}"), login_of(&web)];
        // Inside the attach: the login is made (or the step is done) but not committed.
        for point in ["after-attach-credential", "before-step-commit"] {
            env.ok(["attach", "db", "worker"]);
            env.killed_at(point, &["tick"]);
            env.settle();
            let worker = app_now(&env, "worker", kind, "");
            assert!(worker.works(), "{kind}: worker's login does not work after a kill at {point}");
            worker.own("kept", false).expect("worker can't use the data after the crash");
            assert!(std::fs::read_to_string(&env_file).unwrap().contains(&worker.url), "the env file lags");
            let allowed = [owner.clone(), vec![login_of(&worker)]].concat();
            no_login_but(kind, &admin, &id, &allowed, point);
            env.ok(["detach", "db", "worker", "--wait"]);
            assert!(!worker.works());
        }
        // Inside the detach: the login is revoked (or not yet) but that is not committed.
        for point in ["before-detach-revoke", "after-detach-revoke", "before-step-commit"] {
            env.ok(["attach", "db", "worker", "--wait"]);
            let worker = app_now(&env, "worker", kind, "");
            assert!(worker.works());
            env.ok(["detach", "db", "worker"]);
            env.killed_at(point, &["tick"]);
            env.settle();
            assert!(!worker.works(), "{kind}: the detached login works after a kill at {point}");
            assert!(web.works(), "{kind}: web's login broke after a kill at {point}");
            assert!(env.vars("worker").is_empty());
            no_login_but(kind, &admin, &id, &owner, point);
        }
        // Inside a rotation of the attached app's login: made, switched, old one revoked.
        env.ok(["attach", "db", "worker", "--wait"]);
        for point in ["after-attach-credential", "before-step-commit", "after-revoke-credential"] {
            let before = app_now(&env, "worker", kind, "");
            env.ok(["rotate", "db", "--app", "worker", "--grace", "0"]);
            if point == "after-revoke-credential" {
                env.ok(["tick"]);
            }
            env.killed_at(point, &["tick"]);
            env.settle();
            let now = app_now(&env, "worker", kind, "");
            assert!(now.works(), "{kind}: worker's login does not work after a kill at {point} in a rotation");
            assert!(!before.works(), "{kind}: worker's replaced login works after a kill at {point}");
            assert!(web.works());
            no_login_but(kind, &admin, &id, &[owner.clone(), vec![login_of(&now)]].concat(), point);
        }
        env.ok(["detach", "db", "worker", "--wait"]);
        // A detach that overtakes an attach killed after its login was made.
        env.ok(["attach", "db", "worker", "--as", "again"]);
        env.killed_at("after-attach-credential", &["tick"]);
        env.ok(["detach", "db", "worker"]);
        env.settle();
        assert!(env.vars("worker").is_empty());
        no_login_but(kind, &admin, &id, &owner, "a detach overtaking an attach");
        env.ok(["deprovision", "db", "--wait"]);
        assert_eq!(logins(kind, &admin, &id), Vec::<String>::new(), "logins left on the {kind} server");
    }

    #[test]
    fn same_value_attachments_survive_a_kill_at_each_point() {
        let env = TestEnv::new();
        env.provision_ready("secret", "web", &["--name", "db"]);
        let value = env.vars("web")["SECRET_KEY"].clone();
        for point in ["after-attach-credential", "before-step-commit"] {
            env.ok(["attach", "db", "worker"]);
            env.killed_at(point, &["tick"]);
            env.settle();
            assert_eq!(env.vars("worker")["SECRET_KEY"], value, "after a kill at {point}");
            env.ok(["detach", "db", "worker", "--wait"]);
        }
        for point in ["before-detach-revoke", "after-detach-revoke", "before-step-commit"] {
            env.ok(["attach", "db", "worker", "--wait"]);
            env.ok(["detach", "db", "worker"]);
            env.killed_at(point, &["tick"]);
            env.settle();
            assert!(env.vars("worker").is_empty(), "after a kill at {point}");
            assert_eq!(env.info("db")["attachments"], serde_json::json!([]));
        }
        assert_eq!(env.vars("web")["SECRET_KEY"], value);
    }

    #[test]
    fn postgres_attach_and_detach_survive_a_kill_at_each_point() {
        crash_inside_attach_and_detach("postgres");
    }

    #[test]
    fn mysql_attach_and_detach_survive_a_kill_at_each_point() {
        crash_inside_attach_and_detach("mysql");
    }

    #[test]
    fn redis_attach_and_detach_survive_a_kill_at_each_point() {
        crash_inside_attach_and_detach("redis");
    }

    #[test]
    fn rabbitmq_attach_and_detach_survive_a_kill_at_each_point() {
        crash_inside_attach_and_detach("rabbitmq");
    }

    #[test]
    fn mqtt_attach_and_detach_survive_a_kill_at_each_point() {
        crash_inside_attach_and_detach("mqtt");
    }
}
