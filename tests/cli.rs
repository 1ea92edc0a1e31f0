//! Tests that drive the real binary through every command: the happy paths, the
//! files it writes, the secrets it must not show, and every kind of bad input.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use rstest::rstest;
use serde_json::{json, Value};

use common::providers::Needs;
use common::{is_rfc3339_utc, mode, subcommands, TestEnv, TIME};

/// The fields docs/contract.md promises on every addon JSON object.
const ADDON_FIELDS: [&str; 13] = [
    "attachments",
    "name",
    "id",
    "provider",
    "app",
    "prefix",
    "state",
    "message",
    "vars",
    "labels",
    "expires_at",
    "created_at",
    "updated_at",
];

fn assert_addon_shape(addon: &Value) {
    for field in ADDON_FIELDS {
        assert!(addon.get(field).is_some(), "no {field} in {addon:#}");
    }
    assert!(is_rfc3339_utc(addon["created_at"].as_str().unwrap()));
    assert!(is_rfc3339_utc(addon["updated_at"].as_str().unwrap()));
    assert!(addon["vars"].is_array(), "{addon:#}");
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_else(|| panic!("{key} is not a string in {value:#}"))
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

// ---------------------------------------------------------------------------
// provision

#[test]
fn provision_wait_prints_the_name_then_each_transition() {
    let env = TestEnv::new();
    let run = env.ok(["provision", "secret", "myapp", "--name", "web-key", "--wait"]);
    assert_eq!(run.stdout, "web-key\n");
    // The first provision makes the state, and says so.
    assert_eq!(
        run.stderr,
        format!("note: no state at {} yet: making a new one\n", env.state_shown())
            + "Provisioning web-key (secret for app myapp): generating a secret key\n\
         web-key: waiting_for_provision -> provisioned (provision_complete): provisioned\n\
         web-key: provisioned -> ready (config_vars_set): config vars set on app myapp: SECRET_KEY\n\
         web-key is ready: SECRET_KEY set on app myapp\n"
    );
    let vars = env.vars("myapp");
    let key = &vars["SECRET_KEY"];
    assert_eq!(key.len(), 100, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
    assert_eq!(env.info("web-key")["state"], "ready");
}

#[test]
fn provision_generates_an_adjective_noun_hex_name() {
    let env = TestEnv::new();
    let run = env.ok(["provision", "secret", "myapp", "-q"]);
    assert_eq!(run.stderr, "");
    let name = run.stdout.trim_end();
    assert_eq!(run.stdout, format!("{name}\n"));
    let parts: Vec<&str> = name.split('-').collect();
    assert_eq!(parts.len(), 3, "{name}");
    assert!(parts[0].bytes().all(|b| b.is_ascii_lowercase()), "{name}");
    assert!(parts[1].bytes().all(|b| b.is_ascii_lowercase()), "{name}");
    assert_eq!(parts[2].len(), 6, "{name}");
    assert!(parts[2].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{name}");
    assert_eq!(env.info(name)["name"], name);
}

#[test]
fn provision_without_wait_leaves_the_rest_to_a_tick() {
    let env = TestEnv::new();
    let run = env.ok(["provision", "secret", "myapp", "--name", "k"]);
    assert_eq!(run.stdout, "k\n");
    assert_eq!(
        run.stderr,
        format!("note: no state at {} yet: making a new one\n", env.state_shown())
            + "Provisioning k (secret for app myapp): generating a secret key\n\
         Run 'addons tick' (or 'addons wait k') to finish provisioning.\n"
    );
    let addon = env.info("k");
    assert_eq!(addon["state"], "waiting_for_provision");
    assert_eq!(addon["pending"], true);
    // The var is reserved but has no value until the addon is ready.
    assert_eq!(env.vars("myapp").len(), 0);
    env.ok(["tick"]);
    assert_eq!(env.info("k")["state"], "provisioned");
    env.ok(["tick"]);
    assert_eq!(env.info("k")["state"], "ready");
    assert!(env.vars("myapp").contains_key("SECRET_KEY"));
}

#[test]
fn provision_json_prints_the_addon_with_prefix_and_params() {
    let env = TestEnv::new();
    let run = env.ok([
        "provision",
        "secret",
        "myapp",
        "--as",
        "primary",
        "--param",
        "length=32",
        "--param",
        "alphabet=hex",
        "--name",
        "api-key",
        "--json",
    ]);
    assert_eq!(run.stderr, "");
    let addon = run.json();
    assert_addon_shape(&addon);
    let id = str_of(&addon, "id");
    assert_eq!(
        addon,
        json!({
            "name": "api-key",
            "id": id,
            "provider": "secret",
            "app": "myapp",
            "prefix": "PRIMARY",
            "state": "waiting_for_provision",
            "message": "generating a secret key",
            "failure": null,
            "vars": ["PRIMARY_SECRET_KEY"],
            "params": {"length": "32", "alphabet": "hex"},
            "cleanup": "none",
            "pending": true,
            "created_at": addon["created_at"],
            "updated_at": addon["updated_at"],
            "labels": {},
            "expires_at": null,
            "server": null,
            "backup_every": null,
            "backup_keep": null,
            "attachments": [],
            "created": true,
        })
    );
    env.ok(["tick"]);
    env.ok(["tick"]);
    let vars = env.vars("myapp");
    assert_eq!(vars.keys().collect::<Vec<_>>(), ["PRIMARY_SECRET_KEY"]);
    let key = &vars["PRIMARY_SECRET_KEY"];
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
}

#[test]
fn provision_wait_json_prints_the_ready_addon_and_nothing_else() {
    let env = TestEnv::new();
    let run = env.ok(["provision", "secret", "myapp", "--wait", "--json"]);
    assert_eq!(run.stderr, "");
    let addon = run.json();
    assert_addon_shape(&addon);
    assert_eq!(addon["state"], "ready");
    assert_eq!(addon["prefix"], Value::Null);
    assert_eq!(addon["vars"], json!(["SECRET_KEY"]));
}

#[test]
fn provision_sqlite_makes_a_database_file_and_deprovision_deletes_it() {
    let env = TestEnv::new();
    let addon = env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    let file = env.state.parent().unwrap().join("sqlite").join(format!("{}.db", str_of(&addon, "id")));
    assert_eq!(env.vars("myapp")["DATABASE_URL"], format!("sqlite:///{}", file.display()));
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"), "not a database");
    assert_eq!(mode(&file), 0o600);
    env.ok(["deprovision", "db", "--wait"]);
    assert!(!file.exists(), "{} is still there", file.display());
    assert!(!env.vars("myapp").contains_key("DATABASE_URL"));
}

// ---------------------------------------------------------------------------
// deprovision

#[test]
fn deprovision_removes_the_vars_at_once_and_the_resource_on_a_tick() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    env.ok(["config", "set", "myapp", "OTHER=1"]);
    let run = env.ok(["deprovision", "k"]);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "Deprovisioning k: SECRET_KEY removed from app myapp\n\
         The resources are removed on the next 'addons tick'.\n"
    );
    assert_eq!(json!(env.vars("myapp")), json!({"OTHER": "1"}));
    let addon = env.info("k");
    assert_eq!(
        (&addon["state"], &addon["cleanup"], &addon["pending"]),
        (&json!("deprovisioned"), &json!("pending"), &json!(true))
    );
    assert_eq!(env.ok(["tick"]).stdout, "k: deprovisioned cleanup: secret key discarded\n");
    let addon = env.info("k");
    assert_eq!((&addon["cleanup"], &addon["pending"]), (&json!("done"), &json!(false)));
    let again = env.ok(["deprovision", "k"]);
    assert_eq!(again.stdout, "");
    assert!(again.stderr.starts_with("k is already deprovisioned\n"), "{again}");
}

#[test]
fn deprovision_of_one_with_json_prints_the_addon() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    let run = env.ok(["deprovision", "k", "--json"]);
    assert_eq!(run.stderr, "");
    let addon = run.json();
    assert_addon_shape(&addon);
    assert_eq!((&addon["name"], &addon["state"]), (&json!("k"), &json!("deprovisioned")));
}

#[test]
fn deprovision_of_several_with_wait_cleans_each_up() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    env.provision_ready("secret", "other", &["--name", "stays"]);
    let run = env.ok(["deprovision", "k", "db", "--wait", "--json"]);
    assert_eq!(run.stderr, "");
    let docs = run.json();
    let docs = docs.as_array().expect("an array for several addons");
    assert_eq!(docs.len(), 2);
    for (doc, name) in docs.iter().zip(["k", "db"]) {
        assert_addon_shape(doc);
        assert_eq!(doc["name"], name);
        assert_eq!(doc["state"], "deprovisioned");
        assert_eq!(doc["cleanup"], "done");
        assert_eq!(doc["pending"], false);
    }
    assert_eq!(env.vars("myapp").len(), 0);
    assert_eq!(env.info("stays")["state"], "ready");
    let plain = env.ok(["deprovision", "stays", "--wait"]);
    assert_eq!(plain.stdout, "");
    assert!(plain.stderr.contains("stays: deprovisioned cleanup: secret key discarded\n"), "{plain}");
    assert!(plain.stderr.ends_with("stays is deprovisioned: secret key discarded\n"), "{plain}");
}

// ---------------------------------------------------------------------------
// list

/// web-key and db ready on myapp; wkr-key waiting on worker; old-key deprovisioned.
fn listed_env() -> TestEnv {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "web-key"]);
    env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    env.ok(["provision", "secret", "worker", "--name", "wkr-key"]);
    env.provision_ready("secret", "worker", &["--name", "old-key", "--as", "old"]);
    env.ok(["deprovision", "old-key", "--wait"]);
    env
}

#[test]
fn list_shows_the_live_addons_as_a_table() {
    let env = listed_env();
    let run = env.ok(["list"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "\
NAME     PROVIDER  APP     STATE                  VARS          MESSAGE
web-key  secret    myapp   ready                  SECRET_KEY    config vars set on app myapp: SECRET_KEY
db       sqlite    myapp   ready                  DATABASE_URL  config vars set on app myapp: DATABASE_URL
wkr-key  secret    worker  waiting_for_provision  SECRET_KEY    generating a secret key
"
    );
}

#[test]
fn list_filters_by_app_and_all_includes_deprovisioned() {
    let env = listed_env();
    assert_eq!(
        env.ok(["list", "myapp"]).stdout,
        "\
NAME     PROVIDER  APP    STATE  VARS          MESSAGE
web-key  secret    myapp  ready  SECRET_KEY    config vars set on app myapp: SECRET_KEY
db       sqlite    myapp  ready  DATABASE_URL  config vars set on app myapp: DATABASE_URL
"
    );
    assert_eq!(
        env.ok(["list", "worker", "--all"]).stdout,
        "\
NAME     PROVIDER  APP     STATE                  VARS            MESSAGE
wkr-key  secret    worker  waiting_for_provision  SECRET_KEY      generating a secret key
old-key  secret    worker  deprovisioned          OLD_SECRET_KEY  secret key discarded
"
    );
    let run = env.ok(["list", "nothing-here"]);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "App nothing-here has no addons.\n");
}

#[test]
fn list_json_is_an_array_of_addons() {
    let env = listed_env();
    let names = |docs: Value| -> Vec<String> {
        docs.as_array()
            .expect("an array")
            .iter()
            .map(|doc| {
                assert_addon_shape(doc);
                str_of(doc, "name").to_string()
            })
            .collect()
    };
    let run = env.ok(["list", "--json"]);
    assert_eq!(run.stderr, "");
    assert_eq!(names(run.json()), ["web-key", "db", "wkr-key"]);
    assert_eq!(names(env.json(["list", "--all", "--json"])), ["web-key", "db", "wkr-key", "old-key"]);
    assert_eq!(names(env.json(["list", "worker", "--all", "--json"])), ["wkr-key", "old-key"]);
    let old = &env.json(["list", "worker", "--all", "--json"])[1];
    assert_eq!(old["prefix"], "OLD");
    assert_eq!(old["state"], "deprovisioned");
}

#[test]
fn list_on_a_fresh_machine_says_so_and_creates_no_state_file() {
    let env = TestEnv::on_sqlite_file();
    let run = env.ok(["list"]);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!("No addons: no state at {} yet (is this the state you meant?).\n", env.state.display())
    );
    assert_eq!(env.ok(["list", "--json"]).stdout, "[]\n");
    assert!(!env.state.parent().unwrap().exists(), "a read-only command created the state directory");
}

// ---------------------------------------------------------------------------
// info

#[test]
fn info_masks_the_values_unless_reveal() {
    let env = TestEnv::new();
    let addon = env.provision_ready("secret", "myapp", &["--name", "key", "--as", "api", "--param", "length=20"]);
    let id = str_of(&addon, "id");
    let value = env.vars("myapp")["API_SECRET_KEY"].clone();
    let expected = |shown: &str| {
        format!(
            "\
name      key
id        {id}
provider  secret
app       myapp
prefix    API
params    length=20
state     ready
message   config vars set on app myapp: API_SECRET_KEY
labels    -
expires   never
created   {TIME}
updated   {TIME}
vars
  API_SECRET_KEY={shown}
"
        )
    };
    let run = env.ok(["info", "key"]);
    assert_eq!(run.stderr, "");
    assert_eq!(env.normalize(&run.stdout), expected("********"));
    assert_eq!(env.normalize(&env.ok(["info", "key", "--reveal"]).stdout), expected(&value));
    // By id as well as by name.
    assert_eq!(env.normalize(&env.ok(["info", id]).stdout), expected("********"));

    let doc = env.info("key");
    assert_addon_shape(&doc);
    assert_eq!(doc["config"], json!({"API_SECRET_KEY": "********"}));
    let doc = env.json(["info", "key", "--reveal", "--json"]);
    assert_eq!(doc["config"], json!({"API_SECRET_KEY": value}));
}

#[test]
fn info_of_a_deprovisioned_addon_shows_its_cleanup() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "key"]);
    env.ok(["deprovision", "key"]);
    let text = env.ok(["info", "key"]).stdout;
    assert!(text.contains("\nstate     deprovisioned (cleanup pending)\n"), "{text}");
    env.ok(["tick"]);
    let text = env.ok(["info", "key"]).stdout;
    assert!(text.contains("\nstate     deprovisioned (cleanup done)\n"), "{text}");
}

// ---------------------------------------------------------------------------
// log

#[test]
fn log_shows_every_transition_with_its_time_and_message() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "key"]);
    env.ok(["deprovision", "key", "--wait"]);
    let run = env.ok(["log", "key"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        env.normalize(&run.stdout),
        format!(
            "\
AT                    FROM                   TO                     EVENT               MESSAGE
{TIME}  -                      waiting_for_provision  provision           provisioning
{TIME}  waiting_for_provision  provisioned            provision_complete  provisioned
{TIME}  provisioned            ready                  config_vars_set     config vars set on app myapp: SECRET_KEY
{TIME}  ready                  deprovisioned          deprovision         deprovision requested
{TIME}  deprovisioned          deprovisioned          cleanup             secret key discarded
"
        )
    );
}

#[test]
fn log_json_is_an_array_of_name_at_from_to_event_message() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "key"]);
    let run = env.ok(["log", "key", "--json"]);
    assert_eq!(run.stderr, "");
    let events = run.json();
    let events = events.as_array().expect("an array");
    for event in events {
        let keys: Vec<&String> = event.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["at", "event", "from", "message", "name", "to"], "{event}");
        assert!(is_rfc3339_utc(str_of(event, "at")), "{event}");
        assert_eq!(event["name"], "key");
    }
    let without_time: Vec<Value> =
        events.iter().map(|e| json!([e["from"], e["to"], e["event"], e["message"]])).collect();
    assert_eq!(
        without_time,
        [
            json!([null, "waiting_for_provision", "provision", "provisioning"]),
            json!(["waiting_for_provision", "provisioned", "provision_complete", "provisioned"]),
            json!(["provisioned", "ready", "config_vars_set", "config vars set on app myapp: SECRET_KEY"]),
        ]
    );
}

// ---------------------------------------------------------------------------
// tick

#[test]
fn tick_prints_one_line_per_transition() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    env.ok(["provision", "sqlite", "myapp", "--name", "db"]);

    let first = env.ok(["tick"]);
    assert_eq!(
        sorted_lines(&first.stdout),
        [
            "db: waiting_for_provision -> provisioned (provision_complete): provisioned",
            "k: waiting_for_provision -> provisioned (provision_complete): provisioned",
        ]
    );
    assert_eq!(first.stderr, "2 transitions; 2 addons with work left\n");

    let second = env.ok(["tick", "--jobs", "1"]);
    assert_eq!(
        sorted_lines(&second.stdout),
        [
            "db: provisioned -> ready (config_vars_set): config vars set on app myapp: DATABASE_URL",
            "k: provisioned -> ready (config_vars_set): config vars set on app myapp: SECRET_KEY",
        ]
    );
    assert_eq!(second.stderr, "2 transitions; 0 addons with work left\n");

    // Nothing to do: nothing to say (cron mails whatever a job prints).
    let idle = env.ok(["tick"]);
    assert_eq!(idle.stdout, "");
    assert_eq!(idle.stderr, "", "a tick that moves nothing says nothing (for cron)");
}

#[test]
fn tick_json_gives_transitions_and_pending() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    env.ok(["provision", "secret", "other", "--name", "j"]);
    let by_name = |doc: Value| {
        let mut doc = without_times(doc);
        doc["transitions"]
            .as_array_mut()
            .expect("transitions is an array")
            .sort_by_key(|t| t["name"].as_str().unwrap_or_default().to_string());
        doc
    };
    let run = env.ok(["tick", "--json"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        by_name(run.json()),
        json!({
            "transitions": [
                {"name": "j", "from": "waiting_for_provision", "to": "provisioned", "event": "provision_complete", "message": "provisioned"},
                {"name": "k", "from": "waiting_for_provision", "to": "provisioned", "event": "provision_complete", "message": "provisioned"},
            ],
            "pending": 2,
            "env_file_failures": [],
            "hooks": [],
        })
    );
    assert_eq!(
        by_name(env.json(["tick", "--json"])),
        json!({
            "transitions": [
                {"name": "j", "from": "provisioned", "to": "ready", "event": "config_vars_set", "message": "config vars set on app other: SECRET_KEY"},
                {"name": "k", "from": "provisioned", "to": "ready", "event": "config_vars_set", "message": "config vars set on app myapp: SECRET_KEY"},
            ],
            "pending": 0,
            "env_file_failures": [],
            "hooks": [],
        })
    );
    assert_eq!(
        env.json(["tick", "--json"]),
        json!({"transitions": [], "pending": 0, "env_file_failures": [], "hooks": []})
    );
}

/// A `tick` or `watch` document with each transition's `at` checked (RFC 3339 UTC)
/// and taken out, so the rest compares whole.
fn without_times(mut doc: Value) -> Value {
    for transition in doc["transitions"].as_array_mut().expect("transitions is an array") {
        let at = transition.as_object_mut().expect("a transition is an object").remove("at");
        assert!(at.as_ref().and_then(Value::as_str).is_some_and(is_rfc3339_utc), "at is {at:?}");
    }
    doc
}

// ---------------------------------------------------------------------------
// watch

#[test]
fn watch_ticks_until_no_work_is_left_with_plain_lines() {
    let env = TestEnv::new();
    env.provision_ready("secret", "gone", &["--name", "old"]);
    env.ok(["deprovision", "old"]);
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    env.ok(["provision", "sqlite", "myapp", "--name", "db"]);
    let run = env.run_within(Duration::from_secs(20), ["watch"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stderr, "No work left.\n");
    let db_file = env.state.parent().unwrap().join("sqlite").join(format!("{}.db", str_of(&env.info("db"), "id")));
    assert!(db_file.exists());
    assert_eq!(
        sorted_lines(&run.stdout),
        [
            "db: provisioned -> ready (config_vars_set): config vars set on app myapp: DATABASE_URL",
            "db: waiting_for_provision -> provisioned (provision_complete): provisioned",
            "k: provisioned -> ready (config_vars_set): config vars set on app myapp: SECRET_KEY",
            "k: waiting_for_provision -> provisioned (provision_complete): provisioned",
            "old: deprovisioned cleanup: secret key discarded",
        ]
    );
    for addon in env.json(["list", "--all", "--json"]).as_array().unwrap() {
        assert_eq!(addon["pending"], false, "{addon:#}");
    }
}

#[test]
fn watch_json_prints_the_transitions_once_done() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    let run = env.run_within(Duration::from_secs(20), ["watch", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stderr, "");
    assert_eq!(
        without_times(run.json()),
        json!({
            "transitions": [
                {"name": "k", "from": "waiting_for_provision", "to": "provisioned", "event": "provision_complete", "message": "provisioned"},
                {"name": "k", "from": "provisioned", "to": "ready", "event": "config_vars_set", "message": "config vars set on app myapp: SECRET_KEY"},
            ],
            "pending": 0,
        })
    );
}

// ---------------------------------------------------------------------------
// wait

#[test]
fn wait_exits_0_once_the_addons_are_ready() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    env.ok(["provision", "sqlite", "other", "--name", "db"]);
    let run = env.run_within(Duration::from_secs(20), ["wait", "k"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "k: waiting_for_provision -> provisioned (provision_complete): provisioned\n\
         k: provisioned -> ready (config_vars_set): config vars set on app myapp: SECRET_KEY\n\
         k is ready: SECRET_KEY set on app myapp\n"
    );
    // Only the named addon was ticked.
    assert_eq!(env.info("db")["state"], "waiting_for_provision");
    let run = env.run_within(Duration::from_secs(20), ["wait", "db", "k", "--json"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stderr, "");
    let states: Vec<Value> =
        run.json().as_array().expect("an array").iter().map(|a| json!([a["name"], a["state"]])).collect();
    assert_eq!(states, [json!(["db", "ready"]), json!(["k", "ready"])]);
}

#[test]
fn wait_exits_3_when_the_timeout_passes_first_and_resumes_later() {
    let env = TestEnv::new();
    env.provision_ready("sqlite", "myapp", &["--name", "stuck"]);
    env.ok(["deprovision", "stuck"]);
    // A claim on the cleanup held by a live process on this host (this test's) that
    // will not finish within the timeout: no tick may take it over.
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let token = format!("{}:{}:0", hostname.trim(), std::process::id());
    let claimed = env.state_sql(&format!(
        "UPDATE addons SET claim = '{token}', claim_until = 4102444800000 WHERE name = 'stuck' RETURNING id"
    ));
    assert_eq!(claimed.len(), 1);

    let started = Instant::now();
    let run = env.run_within(Duration::from_secs(20), ["wait", "stuck", "--timeout", "1s"]);
    let took = started.elapsed();
    assert_eq!(run.code, 3, "{run}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.ends_with("'addons wait' picks up where this left off\n"), "{run}");
    assert!(run.stderr.contains("error: timed out waiting for stuck"), "{run}");
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(env.info("stuck")["cleanup"], "pending");

    // Once the claim is let go, waiting again finishes the cleanup.
    env.state_sql("UPDATE addons SET claim = NULL, claim_until = NULL WHERE name = 'stuck'");
    let run = env.run_within(Duration::from_secs(20), ["wait", "stuck", "--timeout", "15s"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(env.info("stuck")["cleanup"], "done");
}

// ---------------------------------------------------------------------------
// env and run

/// An app with a secret and vars that need quoting.
fn env_with_vars() -> (TestEnv, String) {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    env.ok(["config", "set", "myapp", "GREETING=it's $HOME \"quoted\" `x`", "PLAIN=abc"]);
    let key = env.vars("myapp")["SECRET_KEY"].clone();
    (env, key)
}

#[test]
fn env_shell_output_evals_to_the_values() {
    let (env, key) = env_with_vars();
    let run = env.ok(["env", "myapp"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        format!(
            "export GREETING='it'\\''s $HOME \"quoted\" `x`'\n\
             export PLAIN='abc'\n\
             export SECRET_KEY='{key}'\n"
        )
    );
    assert_eq!(env.ok(["env", "myapp", "--format", "shell"]).stdout, run.stdout);
    let script = format!("{}\nprintf '%s\\n' \"$GREETING\" \"$PLAIN\" \"$SECRET_KEY\"", run.stdout);
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("eval \"$(cat <<'ADDONS_EOF'\n{script}\nADDONS_EOF\n)\""))
        .env_clear()
        .env("HOME", "/nonexistent-home")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), format!("it's $HOME \"quoted\" `x`\nabc\n{key}\n"));
}

#[test]
fn env_dotenv_and_json_formats() {
    let (env, key) = env_with_vars();
    // No dotenv form carries a ' with a $ to every common reader (tests/secrets.rs).
    let refused = env.fails(2, ["env", "myapp", "--format", "dotenv"]);
    assert!(refused.contains("config var GREETING can't be written in dotenv form"), "{refused}");
    env.ok(["config", "set", "myapp", "OTHER=it's fine"]);
    env.ok(["config", "set", "myapp", "GREETING=$HOME \"quoted\" `x`"]);
    assert_eq!(
        env.ok(["env", "myapp", "--format", "dotenv"]).stdout,
        format!("GREETING='$HOME \"quoted\" `x`'\nOTHER=\"it's fine\"\nPLAIN=abc\nSECRET_KEY={key}\n")
    );
    env.ok(["config", "unset", "myapp", "OTHER"]);
    env.ok(["config", "set", "myapp", "GREETING=it's $HOME \"quoted\" `x`"]);
    let expected = json!({
        "GREETING": "it's $HOME \"quoted\" `x`",
        "PLAIN": "abc",
        "SECRET_KEY": key,
    });
    assert_eq!(env.json(["env", "myapp", "--format", "json"]), expected);
    assert_eq!(env.json(["env", "myapp", "--json"]), expected);
}

#[test]
fn env_of_an_app_whose_addon_is_not_ready_is_empty_with_a_warning() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    let run = env.ok(["env", "myapp"]);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("warning: app myapp has addons that are not ready yet"), "{run}");
}

#[test]
fn run_gives_the_command_the_real_values() {
    let (env, key) = env_with_vars();
    let run = env.ok(["run", "myapp", "--", "sh", "-c", "echo $SECRET_KEY"]);
    assert_eq!(run.stdout, format!("{key}\n"));
    assert_eq!(run.stderr, "");
    let run = env.ok(["run", "myapp", "--", "sh", "-c", "printf '%s' \"$GREETING\""]);
    assert_eq!(run.stdout, "it's $HOME \"quoted\" `x`");
}

#[test]
fn run_passes_on_the_exit_status_and_output_of_the_command() {
    let (env, _) = env_with_vars();
    let run = env.run(["run", "myapp", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(run.code, 7, "{run}");
    assert_eq!(run.stdout, "out\n");
    assert_eq!(run.stderr, "err\n");
    assert_eq!(env.run(["run", "myapp", "--", "true"]).code, 0);
    assert_eq!(env.run(["run", "myapp", "--", "false"]).code, 1);
}

// ---------------------------------------------------------------------------
// config

#[test]
fn config_shows_masked_values_and_reveals_on_request() {
    let env = TestEnv::new();
    env.ok(["config", "set", "myapp", "API_TOKEN=abc123", "DEBUG=1"]);
    env.provision_ready("secret", "myapp", &["--name", "k", "--param", "length=16"]);
    let key = env.vars("myapp")["SECRET_KEY"].clone();
    let run = env.ok(["config", "myapp"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "\
KEY         VALUE     SOURCE
API_TOKEN   ********  set by hand
DEBUG       ********  set by hand
SECRET_KEY  ********  addon k
"
    );
    assert_eq!(
        env.ok(["config", "myapp", "--reveal"]).stdout,
        format!(
            "\
KEY         VALUE             SOURCE
API_TOKEN   abc123            set by hand
DEBUG       1                 set by hand
SECRET_KEY  {key}  addon k
"
        )
    );
    assert_eq!(
        env.json(["config", "myapp", "--json"]),
        json!({"API_TOKEN": "********", "DEBUG": "********", "SECRET_KEY": "********"})
    );
    assert_eq!(
        env.json(["config", "myapp", "--reveal", "--json"]),
        json!({"API_TOKEN": "abc123", "DEBUG": "1", "SECRET_KEY": key})
    );
}

#[test]
fn config_set_and_unset_change_hand_set_vars() {
    let env = TestEnv::new();
    let run = env.ok(["config", "set", "myapp", "API_TOKEN=abc", "DEBUG=1"]);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "Set API_TOKEN, DEBUG on app myapp.\n");
    env.ok(["config", "set", "myapp", "API_TOKEN=a=b c"]);
    assert_eq!(json!(env.vars("myapp")), json!({"API_TOKEN": "a=b c", "DEBUG": "1"}));
    let run = env.ok(["config", "unset", "myapp", "DEBUG"]);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "Unset DEBUG on app myapp.\n");
    assert_eq!(json!(env.vars("myapp")), json!({"API_TOKEN": "a=b c"}));
    assert_eq!(env.json(["config", "set", "myapp", "X=1", "--json"]), json!({"app": "myapp", "keys": ["X"]}));
    assert_eq!(
        env.json(["config", "unset", "myapp", "X", "API_TOKEN", "--json"]),
        json!({"app": "myapp", "keys": ["X", "API_TOKEN"]})
    );
    let run = env.ok(["config", "myapp"]);
    assert_eq!((run.stdout.as_str(), run.stderr.as_str()), ("", "App myapp has no config vars.\n"));
}

// ---------------------------------------------------------------------------
// providers, graph, completions

/// The providers this suite lists and provisions with: the registry's.
pub(crate) fn providers() -> Vec<&'static str> {
    common::providers::names()
}

/// Each provider's row of `addons providers` on a fresh machine with no config file, by
/// registry name: (status, vars, detail).
const PROVIDER_ROWS: &[(&str, [&str; 3])] = &[
    ("secret", ["ok", "SECRET_KEY", "built in"]),
    ("sqlite", ["ok", "DATABASE_URL", "built in; files in $TMP/state/sqlite"]),
    ("postgres", ["not configured", "DATABASE_URL", "not configured: add [providers.postgres] with a url"]),
    ("mysql", ["not configured", "DATABASE_URL", "not configured: add [providers.mysql] with a url"]),
    ("redis", ["not configured", "REDIS_URL,REDIS_KEY_PREFIX", "not configured: add [providers.redis] with a url"]),
    ("rabbitmq", ["not configured", "RABBITMQ_URL", "not configured: add [providers.rabbitmq] with a url"]),
    ("mqtt", ["not configured", "MQTT_URL,MQTT_TOPIC_PREFIX", "not configured: add [providers.mqtt] with a url"]),
    ("fake", ["not configured", "FAKE_URL", "not configured: add [providers.fake] with a host"]),
];

#[test]
fn providers_lists_each_provider_and_whether_it_is_configured() {
    let env = TestEnv::on_sqlite_file();
    let run = env.ok(["providers"]);
    // The lines that configure the others follow on stderr, as TOML to paste.
    let (said, block) = run.stderr.split_once("\n\n").expect("a note, then the lines to paste");
    let unconfigured: Vec<&str> =
        PROVIDER_ROWS.iter().filter(|(_, row)| row[0] == "not configured").map(|(name, _)| *name).collect();
    let listed: Vec<&str> = providers().into_iter().filter(|name| unconfigured.contains(name)).collect();
    let config = env.root().join(".config/addons/config.toml");
    assert_eq!(
        said,
        format!(
            "To configure {}, add to {} the lines below (with your URLs), or run 'addons providers add NAME [URL]':",
            listed.join(", "),
            config.display()
        )
    );
    let table: toml::Table = block.parse().expect("the lines to paste are TOML");
    let mut written: Vec<&str> = table["providers"].as_table().unwrap().keys().map(String::as_str).collect();
    let mut wanted = listed.clone();
    written.sort();
    wanted.sort();
    assert_eq!(written, wanted);
    let rows: Vec<[&str; 4]> = std::iter::once(["PROVIDER", "STATUS", "VARS", "DETAIL"])
        .chain(providers().into_iter().map(|name| {
            let row = PROVIDER_ROWS.iter().find(|(known, _)| *known == name);
            let [status, vars, detail] = row.unwrap_or_else(|| panic!("no row for {name}: add it to PROVIDER_ROWS")).1;
            [name, status, vars, detail]
        }))
        .collect();
    // Each column as wide as its widest cell and two spaces, the last one unpadded.
    let width = |column: usize| rows.iter().map(|row| row[column].len()).max().unwrap() + 2;
    let want: String = rows
        .iter()
        .map(|row| {
            format!(
                "{:w0$}{:w1$}{:w2$}{}\n",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = width(0),
                w1 = width(1),
                w2 = width(2)
            )
        })
        .collect();
    assert_eq!(env.normalize(&run.stdout), want);
    let docs = env.json(["providers", "--json"]);
    let summary: Vec<Value> =
        docs.as_array().expect("an array").iter().map(|p| json!([p["name"], p["configured"], p["vars"]])).collect();
    let want: Vec<Value> = (common::providers::all().into_iter())
        .map(|info| json!([info.name, common::providers::needs(info.name) == Needs::Nothing, info.vars]))
        .collect();
    assert_eq!(summary, want);
    assert_eq!(docs[0]["params"], json!(["length", "alphabet"]), "{docs:#}");
    assert!(!env.state.exists(), "providers created a state file");
}

/// Every provider that needs no server goes through the command line's whole round:
/// provisioned ready with its registry entry's vars, listed, shown, deprovisioned to
/// nothing. (The server providers go the same way in the contract suite.)
#[test]
fn every_serverless_provider_provisions_and_deprovisions_through_the_cli() {
    for provider in providers().into_iter().filter(|name| common::providers::needs(name) != Needs::Server) {
        round_trip(provider);
    }
}

/// One serverless provider's round through the command line.
pub(crate) fn round_trip(provider: &str) {
    let env = TestEnv::with_config(&common::providers::serverless_config(provider));
    let addon = env.provision_ready(provider, "web", &["--name", "the-addon"]);
    assert_eq!(addon["provider"], provider, "{addon:#}");
    let info = addons::providers::info(provider).unwrap();
    let mut declared: Vec<&str> = info.vars.to_vec();
    declared.sort_unstable();
    assert_eq!(env.vars("web").keys().map(String::as_str).collect::<Vec<_>>(), declared, "{provider}");
    assert_eq!(env.json(["list", "--json"])[0]["name"], "the-addon", "{provider}");
    assert_eq!(env.info("the-addon")["state"], "ready", "{provider}");
    env.ok(["deprovision", "the-addon", "--wait"]);
    assert_eq!(env.info("the-addon")["state"], "deprovisioned", "{provider}");
    assert!(env.vars("web").is_empty(), "{provider}: vars left after the deprovision");
}

/// docs/contract.md's transitions: (from, event, to), every one of which the graph must draw.
const LIFECYCLE: [(&str, &str, &str); 11] = [
    ("waiting_for_provision", "provision_complete", "provisioned"),
    ("waiting_for_provision", "deprovision", "deprovisioned"),
    ("waiting_for_provision", "expired", "deprovisioned"),
    ("waiting_for_provision", "fail", "error"),
    ("provisioned", "config_vars_set", "ready"),
    ("provisioned", "deprovision", "deprovisioned"),
    ("provisioned", "expired", "deprovisioned"),
    ("provisioned", "fail", "error"),
    ("ready", "deprovision", "deprovisioned"),
    ("ready", "expired", "deprovisioned"),
    ("ready", "fail", "error"),
];

#[test]
fn graph_dot_draws_every_transition() {
    let env = TestEnv::new();
    let run = env.ok(["graph"]);
    assert_eq!(run.stderr, "");
    assert_eq!(env.ok(["graph", "--format", "dot"]).stdout, run.stdout);
    assert_eq!(
        run.stdout,
        r#"digraph addon_lifecycle {
    rankdir=LR;
    start [shape=point];
    waiting_for_provision [shape=circle];
    provisioned [shape=circle];
    ready [shape=circle];
    deprovisioned [shape=doublecircle];
    error [shape=doublecircle];
    start -> waiting_for_provision [label="provision"];
    waiting_for_provision -> provisioned [label="provision_complete"];
    waiting_for_provision -> deprovisioned [label="deprovision"];
    waiting_for_provision -> deprovisioned [label="expired"];
    waiting_for_provision -> error [label="fail"];
    provisioned -> ready [label="config_vars_set"];
    provisioned -> deprovisioned [label="deprovision"];
    provisioned -> deprovisioned [label="expired"];
    provisioned -> error [label="fail"];
    ready -> deprovisioned [label="deprovision"];
    ready -> deprovisioned [label="expired"];
    ready -> error [label="fail"];
}
"#
    );
    for (from, event, to) in LIFECYCLE {
        assert!(
            run.stdout.contains(&format!("    {from} -> {to} [label=\"{event}\"];\n")),
            "{from} -{event}-> {to} missing"
        );
    }
}

#[test]
fn graph_mermaid_draws_every_transition() {
    let env = TestEnv::new();
    let run = env.ok(["graph", "--format", "mermaid"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "\
stateDiagram-v2
    [*] --> waiting_for_provision: provision
    waiting_for_provision --> provisioned: provision_complete
    waiting_for_provision --> deprovisioned: deprovision
    waiting_for_provision --> deprovisioned: expired
    waiting_for_provision --> error: fail
    provisioned --> ready: config_vars_set
    provisioned --> deprovisioned: deprovision
    provisioned --> deprovisioned: expired
    provisioned --> error: fail
    ready --> deprovisioned: deprovision
    ready --> deprovisioned: expired
    ready --> error: fail
    deprovisioned --> [*]
    error --> [*]
"
    );
    for (from, event, to) in LIFECYCLE {
        assert!(run.stdout.contains(&format!("    {from} --> {to}: {event}\n")), "{from} -{event}-> {to} missing");
    }
}

#[test]
fn graph_json_lists_the_transition_table() {
    let env = TestEnv::new();
    let doc = env.json(["graph", "--json"]);
    let drawn: Vec<(String, String, String)> = doc["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .map(|t| (str_of(t, "from").to_string(), str_of(t, "event").to_string(), str_of(t, "to").to_string()))
        .collect();
    let expected: Vec<(String, String, String)> =
        LIFECYCLE.iter().map(|(f, e, t)| (f.to_string(), e.to_string(), t.to_string())).collect();
    assert_eq!(drawn, expected);
    assert_eq!(doc["graph"], env.ok(["graph"]).stdout);
}

/// The committed completion scripts: (shell, file under completions/).
const COMPLETIONS: [(&str, &str); 5] = [
    ("bash", "addons.bash"),
    ("zsh", "_addons"),
    ("fish", "addons.fish"),
    ("elvish", "addons.elv"),
    ("powershell", "_addons.ps1"),
];

#[test]
fn completions_print_a_script_for_each_shell() {
    let env = TestEnv::new();
    for (shell, _) in COMPLETIONS {
        let run = env.ok(["completions", shell]);
        assert_eq!(run.stderr, "", "{shell}");
        // Each script calls the binary back to complete (tests/terminal.rs runs the bash one).
        assert!(run.stdout.contains("ADDONS_COMPLETE"), "{shell} script does not call addons back:\n{}", run.stdout);
    }
    assert!(env.ok(["completions", "bash"]).stdout.contains("-F _clap_complete_addons addons\n"));
    assert!(env.ok(["completions", "zsh"]).stdout.starts_with("#compdef addons\n"));
}

#[test]
fn committed_completions_match_what_the_binary_generates() {
    let env = TestEnv::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let mut stale = Vec::new();
    for (shell, file) in COMPLETIONS {
        let generated = env.ok(["completions", shell]).stdout;
        match std::fs::read_to_string(dir.join(file)) {
            Ok(committed) if committed == generated => {}
            Ok(_) => stale.push(format!("completions/{file} differs from 'addons completions {shell}'")),
            Err(err) => stale.push(format!("completions/{file} can't be read ({err})")),
        }
    }
    assert!(stale.is_empty(), "{}\nregenerate them with: completions/generate", stale.join("\n"));
}

#[test]
fn help_and_version_exit_0() {
    let env = TestEnv::new();
    let help = env.ok(["--help"]);
    let commands = subcommands();
    assert!(commands.len() >= 20 && commands.iter().any(|command| command == "attach"), "{commands:?}");
    for command in commands {
        assert!(help.stdout.contains(&format!("\n  {command} ")), "--help does not list {command}:\n{}", help.stdout);
    }
    assert_eq!(env.ok(["--version"]).stdout, format!("addons {}\n", env!("CARGO_PKG_VERSION")));
}

// ---------------------------------------------------------------------------
// files: env file, state file

#[test]
fn env_file_is_rewritten_0600_when_the_vars_change() {
    let env = TestEnv::new();
    let env_file = env.root().join("deploy").join("myapp").join(".env");
    env.write_config(&format!("[apps.myapp]\nenv_file = \"{}\"\n", env_file.display()));
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    let key = env.vars("myapp")["SECRET_KEY"].clone();
    let read = || std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(read(), format!("SECRET_KEY={key}\n"));
    assert_eq!(mode(&env_file), 0o600);
    assert_eq!(mode(env_file.parent().unwrap()), 0o700);

    env.ok(["config", "set", "myapp", "NOTE=hello world"]);
    assert_eq!(read(), format!("NOTE='hello world'\nSECRET_KEY={key}\n"));

    let db = env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    let url = format!("sqlite:///{}/sqlite/{}.db", env.state.parent().unwrap().display(), str_of(&db, "id"));
    assert_eq!(read(), format!("DATABASE_URL={url}\nNOTE='hello world'\nSECRET_KEY={key}\n"));

    // Deprovisioning takes the vars out at once, before any tick.
    env.ok(["deprovision", "db"]);
    assert_eq!(read(), format!("NOTE='hello world'\nSECRET_KEY={key}\n"));
    env.ok(["deprovision", "k", "--wait"]);
    assert_eq!(read(), "NOTE='hello world'\n");
    env.ok(["config", "unset", "myapp", "NOTE"]);
    assert_eq!(read(), "");
    assert_eq!(mode(&env_file), 0o600);

    // An app without an env_file gets none.
    env.provision_ready("secret", "other", &[]);
    let files: Vec<_> = std::fs::read_dir(env_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".lock"))
        .collect();
    assert_eq!(files, [".env"]);
}

#[test]
fn state_file_is_0600_in_a_0700_directory() {
    let env = TestEnv::on_sqlite_file();
    env.ok(["provision", "secret", "myapp", "-q"]);
    assert_eq!(mode(&env.state), 0o600);
    assert_eq!(mode(env.state.parent().unwrap()), 0o700);
    let header = std::fs::read(&env.state).unwrap();
    assert!(header.starts_with(b"SQLite format 3\0"));
}

#[test]
fn default_paths_follow_home_and_xdg() {
    let env = TestEnv::new();
    let run = env.bare_command(["provision", "secret", "myapp", "-q"]).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    let state = env.root().join(".local/share/addons/state.db");
    assert_eq!(mode(&state), 0o600);
    assert_eq!(mode(state.parent().unwrap()), 0o700);

    let xdg = env.root().join("xdg-data");
    let run = env.bare_command(["provision", "secret", "myapp", "-q"]).env("XDG_DATA_HOME", &xdg).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(xdg.join("addons/state.db").exists());

    // The default config file is read from $XDG_CONFIG_HOME.
    let config_dir = env.root().join("xdg-config/addons");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("config.toml"), "bogus = 1\n").unwrap();
    let run = env.bare_command(["list"]).env("XDG_CONFIG_HOME", env.root().join("xdg-config")).output().unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert!(stderr.contains(&format!("{}", config_dir.join("config.toml").display())), "{stderr}");
}

#[test]
fn state_and_config_flags_override_the_environment() {
    let env = TestEnv::on_sqlite_file();
    let other = env.root().join("elsewhere/state.db");
    let flag_config = env.root().join("flag.toml");
    std::fs::write(&flag_config, "[engine]\njobs = 2\n").unwrap();
    env.write_config("not toml at all [");
    let other_arg = other.display().to_string();
    let config_arg = flag_config.display().to_string();
    env.ok(["--state", other_arg.as_str(), "--config", config_arg.as_str(), "provision", "secret", "myapp", "-q"]);
    assert!(other.exists());
    assert!(!env.state.exists());
}

// ---------------------------------------------------------------------------
// secrets stay hidden

#[test]
fn secret_values_never_appear_in_masked_output() {
    let env = TestEnv::new();
    // In order: the values exist only once these have run.
    let mut runs = vec![
        env.ok(["provision", "secret", "myapp", "--name", "k"]),
        env.ok(["provision", "secret", "myapp", "--name", "k2", "--as", "two", "--json"]),
        env.ok(["tick"]),
        env.ok(["tick", "--json"]),
        env.ok(["provision", "secret", "myapp", "--name", "k3", "--as", "three", "--wait"]),
        env.ok(["provision", "secret", "other", "--name", "k4", "--wait", "--json"]),
        env.ok(["config", "set", "myapp", "API_TOKEN=hunter2-hand-set-secret"]),
    ];
    let vars = env.vars("myapp");
    let mut secrets: Vec<String> = vars.values().cloned().collect();
    secrets.push(env.vars("other")["SECRET_KEY"].clone());
    assert_eq!(secrets.len(), 5);

    for args in [
        vec!["list"],
        vec!["list", "--all", "--json"],
        vec!["info", "k"],
        vec!["info", "k", "--json"],
        vec!["info", "k3"],
        vec!["log", "k"],
        vec!["log", "k", "--json"],
        vec!["config", "myapp"],
        vec!["config", "myapp", "--json"],
        vec!["config", "other"],
        vec!["wait", "k", "k2", "--json"],
    ] {
        runs.push(env.ok(args));
    }
    runs.push(env.ok(["deprovision", "k"]));
    runs.push(env.ok(["deprovision", "k2", "--json"]));
    runs.push(env.ok(["deprovision", "k3", "k4", "--wait"]));
    runs.push(env.ok(["watch"]));
    runs.push(env.ok(["log", "k3"]));
    runs.push(env.ok(["info", "k3", "--json"]));

    for run in &runs {
        for secret in &secrets {
            assert!(
                !run.stdout.contains(secret.as_str()) && !run.stderr.contains(secret.as_str()),
                "a secret value was shown:\n{run}"
            );
        }
    }
    // The control: the same values do show where docs/contract.md's secrets rule says they should.
    let revealed = env.ok(["config", "myapp", "--reveal"]).stdout;
    assert!(revealed.contains("hunter2-hand-set-secret"), "{revealed}");
}

// ---------------------------------------------------------------------------
// bad input: exit code, one line on stderr, nothing on stdout, state untouched

/// A state file with some history: web-key and db ready on myapp (plus a var set by
/// hand), pending-key waiting on worker, old-key deprovisioned, and DATABASE_URL set
/// by hand on manual.
fn prepared() -> TestEnv {
    // An empty config file, named with ADDONS_CONFIG: the refusals name it.
    let env = TestEnv::with_config("");
    env.provision_ready("secret", "myapp", &["--name", "web-key"]);
    env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    env.ok(["provision", "secret", "worker", "--name", "pending-key"]);
    env.provision_ready("secret", "worker", &["--name", "old-key", "--as", "old"]);
    env.ok(["deprovision", "old-key", "--wait"]);
    env.ok(["config", "set", "myapp", "API_TOKEN=abc"]);
    env.ok(["config", "set", "manual", "DATABASE_URL=postgres://u:pw@db.example/x"]);
    env
}

#[rstest]
#[case::unknown_provider(&["provision", "nosuch", "myapp"], 2, &format!("invalid value 'nosuch' for '<PROVIDER>' [possible values: {}]", common::providers::listed()))]
#[case::bad_app_name(&["provision", "secret", "My_App"], 2, "invalid app name \"My_App\"")]
#[case::app_name_too_long(&["provision", "secret", &"a".repeat(64)], 2, "invalid app name")]
#[case::bad_prefix(&["provision", "secret", "myapp", "--as", "a-b"], 2, "invalid prefix \"a-b\"")]
#[case::empty_prefix(&["provision", "secret", "myapp", "--as", ""], 2, "invalid prefix")]
#[case::bad_addon_name(&["provision", "secret", "myapp", "--name", "Bad_Name"], 2, "invalid addon name \"Bad_Name\"")]
#[case::bad_param_key(&["provision", "secret", "myapp", "--param", "Length=20"], 2, "--param key \"Length\"")]
#[case::param_without_value(&["provision", "secret", "myapp", "--param", "length"], 2, "is not KEY=VALUE")]
#[case::bad_param_value(&["provision", "secret", "myapp", "--param", "length=5"], 2, "param length must be a whole number from 16 to 4096")]
#[case::bad_alphabet(&["provision", "secret", "myapp", "--as", "x", "--param", "alphabet=emoji"], 2, "param alphabet must be alnum, hex or base64url")]
#[case::unknown_param(&["provision", "secret", "myapp", "--param", "color=red"], 2, "unknown param \"color\" for the secret provider; it takes: length, alphabet")]
#[case::param_to_sqlite(&["provision", "sqlite", "other", "--param", "x=1"], 2, "the sqlite provider takes no params")]
#[case::param_twice(&["provision", "secret", "x", "--param", "length=20", "--param", "length=30"], 2, "given twice")]
#[case::bad_provision_timeout(&["provision", "secret", "x", "--wait", "--timeout", "soon"], 2, "invalid duration \"soon\"")]
#[case::timeout_without_wait(&["provision", "secret", "x", "--timeout", "5s"], 2, "--wait")]
#[case::bad_wait_timeout(&["wait", "web-key", "--timeout", "5"], 2, "invalid duration \"5\"")]
#[case::zero_wait_timeout(&["wait", "pending-key", "--timeout", "0s"], 2, "out of range")]
#[case::bad_deprovision_timeout(&["deprovision", "web-key", "--wait", "--timeout", "1x"], 2, "invalid duration")]
#[case::unknown_addon_info(&["info", "nosuch"], 2, "no addon named \"nosuch\"")]
#[case::unknown_addon_log(&["log", "nosuch"], 2, "no addon named \"nosuch\"")]
#[case::unknown_addon_deprovision(&["deprovision", "nosuch"], 2, "no addon named \"nosuch\"")]
#[case::one_unknown_of_several(&["deprovision", "web-key", "nosuch"], 2, "no addon named \"nosuch\"")]
#[case::unknown_addon_wait(&["wait", "pending-key", "nosuch"], 2, "no addon named \"nosuch\"")]
#[case::conflicting_vars(&["provision", "secret", "myapp"], 1, "app myapp already has SECRET_KEY (owned by addon web-key); pass --as PREFIX")]
#[case::conflict_with_a_var_set_by_hand(&["provision", "sqlite", "manual"], 1, "app manual already has DATABASE_URL (set by hand); pass --as PREFIX")]
#[case::conflict_with_a_waiting_addon(&["provision", "secret", "worker", "--wait"], 1, "owned by addon pending-key")]
#[case::duplicate_name(&["provision", "secret", "other", "--name", "web-key"], 1, "an addon named web-key already exists; choose another --name")]
#[case::config_set_addon_var(&["config", "set", "myapp", "SECRET_KEY=x"], 1, "SECRET_KEY on app myapp is set by addon web-key and can't be set by hand")]
#[case::config_set_mixed(&["config", "set", "myapp", "OK=1", "DATABASE_URL=x"], 1, "DATABASE_URL on app myapp is set by addon db")]
#[case::config_unset_addon_var(&["config", "unset", "myapp", "SECRET_KEY"], 1, "can't be unset by hand")]
#[case::config_unset_missing(&["config", "unset", "myapp", "API_TOKEN", "NOPE"], 2, "app myapp has no config var NOPE")]
#[case::config_set_bad_key(&["config", "set", "myapp", "lower=x"], 2, "invalid config var key \"lower\"")]
#[case::config_set_key_without_stdin(&["config", "set", "myapp", "JUSTKEY"], 2, "no value for JUSTKEY on stdin")]
#[case::config_set_twice(&["config", "set", "myapp", "A=1", "A=2"], 2, "A is given twice")]
#[case::config_of_unknown_app(&["config", "nosuch"], 2, "no app named \"nosuch\"")]
#[case::env_of_unknown_app(&["env", "nosuch"], 2, "no app named \"nosuch\"")]
#[case::env_bad_app(&["env", "Bad"], 2, "invalid app name")]
#[case::run_unknown_app(&["run", "nosuch", "--", "true"], 2, "no app named \"nosuch\"")]
#[case::run_missing_program(&["run", "myapp", "--", "/no/such/program"], 127, "can't run /no/such/program")]
#[case::list_bad_app(&["list", "Bad_App"], 2, "invalid app name")]
#[case::unknown_command(&["frobnicate"], 2, "unrecognized subcommand 'frobnicate'")]
#[case::no_command(&["-q"], 2, "'addons' requires a subcommand")]
#[case::missing_provision_args(&["provision"], 2, "required arguments were not provided: <PROVIDER>, <APP>")]
#[case::missing_app(&["provision", "secret"], 2, "<APP>")]
#[case::missing_addon(&["info"], 2, "<ADDON>")]
#[case::missing_deprovision_addon(&["deprovision", "--wait"], 2, "<ADDONS>")]
#[case::missing_run_command(&["run", "myapp"], 2, "<COMMAND>")]
#[case::missing_config_pairs(&["config", "set", "myapp"], 2, "<KEY=VALUE>")]
#[case::unknown_flag(&["list", "--al"], 2, "unexpected argument '--al'")]
#[case::bad_jobs(&["tick", "--jobs", "0"], 2, "--jobs")]
#[case::bad_graph_format(&["graph", "--format", "png"], 2, "invalid value 'png'")]
#[case::bad_env_format(&["env", "myapp", "--format", "yaml"], 2, "invalid value 'yaml'")]
#[case::unknown_shell(&["completions", "tcsh"], 2, "invalid value 'tcsh'")]
#[case::postgres_not_configured(&["provision", "postgres", "myapp", "--as", "pg"], 2, "the postgres provider is not configured: add to $CONFIG the lines [providers.postgres] url = \"postgres://")]
#[case::mysql_not_configured(&["provision", "mysql", "myapp", "--as", "my"], 2, "the mysql provider is not configured: add to $CONFIG the lines [providers.mysql] url = \"mysql://")]
#[case::redis_not_configured(&["provision", "redis", "myapp"], 2, "the redis provider is not configured: add to $CONFIG the lines [providers.redis] url = \"redis://")]
#[case::json_error_stays_on_stderr(&["--json", "info", "nosuch"], 2, "no addon named \"nosuch\"")]
#[case::json_conflict_stays_on_stderr(&["--json", "provision", "secret", "myapp"], 1, "pass --as PREFIX")]
fn bad_input_is_refused_and_changes_nothing(#[case] args: &[&str], #[case] code: i32, #[case] phrase: &str) {
    let env = prepared();
    let before = env.state_bytes();
    assert!(!before.is_empty());
    let line = env.fails(code, args);
    let phrase = phrase.replace("$CONFIG", &env.config.display().to_string());
    // Under --json the one line is a JSON object with the message and the exit code.
    let line = match serde_json::from_str::<Value>(&line) {
        Ok(error) if args.contains(&"--json") => {
            assert_eq!(error["code"], code, "{line}");
            format!("error: {}", str_of(&error, "error"))
        }
        _ => line,
    };
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains(&phrase), "expected {phrase:?} in:\n{line}");
    assert!(env.state_bytes() == before, "addons {args:?} changed the state file");
    // The state still reads the same: nothing half-done shows up.
    assert_eq!(env.json(["list", "--all", "--json"]).as_array().unwrap().len(), 4);
}

#[rstest]
#[case::unknown_key("[engine]\njobs = 2\nspeed = 3\n", 3, &["speed"])]
#[case::unknown_top_level_key("verbose = true\n", 1, &["verbose"])]
#[case::unknown_provider_key("[providers.postgres]\nurl = \"postgres://h/db\"\npasword = \"x\"\n", 3, &["pasword"])]
#[case::malformed_toml("[engine]\njobs = 2\n[apps.myapp\n", 3, &["expected `]`"])]
#[case::not_a_url("[providers.postgres]\nurl = \"not a url\"\n", 2, &["providers.postgres.url is not a URL", "postgres://"])]
#[case::wrong_scheme("[providers.mysql]\nurl = \"postgres://root:hunter2@h/x\"\n", 2, &["providers.mysql.url must start with mysql://"])]
#[case::url_without_host("[providers.redis]\nurl = \"redis://\"\n", 2, &["providers.redis.url has no host"])]
#[case::bad_public_host("[providers.postgres]\nurl = \"postgres://h/db\"\npublic_host = \"a:b@c\"\n", 3, &["providers.postgres.public_host"])]
#[case::bad_duration("\n[engine]\nprovision_timeout = \"soon\"\n", 3, &["engine.provision_timeout", "30s"])]
#[case::bad_jobs("[engine]\njobs = 0\n", 2, &["engine.jobs must be from 1 to 64"])]
#[case::bad_app_name("[apps.My_App]\nenv_file = \"/tmp/x\"\n", 1, &["apps.My_App", "invalid app name"])]
#[case::wrong_type("[engine]\njobs = \"four\"\n", 2, &["jobs"])]
fn bad_config_file_names_file_line_and_key(#[case] text: &str, #[case] line: usize, #[case] phrases: &[&str]) {
    let env = prepared();
    env.write_config(text);
    let before = env.state_bytes();
    for args in [&["list"][..], &["provision", "secret", "fresh"], &["tick"], &["providers"]] {
        let message = env.fails(2, args);
        let place = format!("config file {}, line {line}: ", env.config.display());
        assert!(message.contains(&place), "expected {place:?} in:\n{message}");
        for phrase in phrases {
            assert!(message.contains(phrase), "expected {phrase:?} in:\n{message}");
        }
        assert!(!message.contains("hunter2"), "a password was echoed: {message}");
    }
    assert!(env.state_bytes() == before, "the state file changed");
}

#[test]
fn a_config_path_that_is_a_directory_is_refused() {
    let env = TestEnv::new();
    std::fs::create_dir(&env.config).unwrap();
    let message = env.fails(2, ["list"]);
    assert!(message.contains("is a directory"), "{message}");
}

/// How a state file can be unusable, and what the refusal says.
enum BadState {
    NotSqlite,
    Empty,
    Truncated,
    NewerSchema,
    OtherProgram,
}

#[rstest]
#[case::not_sqlite(BadState::NotSqlite, "is not a SQLite database")]
#[case::empty(BadState::Empty, "is empty (0 bytes)")]
#[case::truncated(BadState::Truncated, "is not a SQLite database")]
#[case::newer_schema(BadState::NewerSchema, "written by a newer addons (schema 99, this binary knows up to")]
#[case::other_program(BadState::OtherProgram, "some other program")]
fn unusable_state_file_exits_4_and_is_left_untouched(#[case] kind: BadState, #[case] phrase: &str) {
    use std::os::unix::fs::PermissionsExt;

    let env = TestEnv::on_sqlite_file();
    match kind {
        BadState::NotSqlite => {
            std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
            std::fs::write(&env.state, "this is not a database, it is a text file\n").unwrap();
        }
        BadState::Empty => {
            std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
            std::fs::write(&env.state, "").unwrap();
        }
        BadState::Truncated => {
            env.provision_ready("secret", "myapp", &[]);
            let bytes = std::fs::read(&env.state).unwrap();
            std::fs::write(&env.state, &bytes[..10]).unwrap();
        }
        BadState::NewerSchema => {
            env.provision_ready("secret", "myapp", &[]);
            let conn = rusqlite::Connection::open(&env.state).unwrap();
            conn.pragma_update(None, "user_version", 99).unwrap();
            drop(conn);
        }
        BadState::OtherProgram => {
            std::fs::create_dir_all(env.state.parent().unwrap()).unwrap();
            let conn = rusqlite::Connection::open(&env.state).unwrap();
            conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('mine');").unwrap();
            drop(conn);
        }
    }
    // A readable mode that a usable state file would have tightened to 0600.
    std::fs::set_permissions(&env.state, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = env.state.parent().unwrap();
    let listing = || {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    };
    let files_before = listing();
    let before = std::fs::read(&env.state).unwrap();
    for args in [
        &["list"][..],
        &["info", "x"],
        &["provision", "secret", "other"],
        &["tick"],
        &["config", "set", "myapp", "A=1"],
        &["--json", "list"],
    ] {
        let message = env.fails(4, args);
        assert!(message.contains(&format!("state file {}", env.state.display())), "{message}");
        assert!(message.contains(phrase), "expected {phrase:?} in:\n{message}");
        assert!(std::fs::read(&env.state).unwrap() == before, "addons {args:?} modified the refused state file");
        assert_eq!(mode(&env.state), 0o644, "addons {args:?} changed its mode");
        assert_eq!(listing(), files_before, "addons {args:?} left files behind");
    }
}

#[test]
fn read_only_commands_leave_the_state_file_byte_for_byte() {
    let env = prepared();
    let before = env.state_bytes();
    for args in [
        &["list"][..],
        &["list", "--all", "--json"],
        &["list", "myapp"],
        &["info", "web-key"],
        &["info", "web-key", "--reveal", "--json"],
        &["log", "db"],
        &["log", "old-key", "--json"],
        &["env", "myapp"],
        &["env", "myapp", "--format", "json"],
        &["config", "myapp"],
        &["config", "myapp", "--reveal"],
        &["run", "myapp", "--", "true"],
        &["providers"],
        &["graph"],
    ] {
        env.ok(args);
        assert!(env.state_bytes() == before, "addons {args:?} changed the state file");
    }
    // The control: a write does show up in the bytes compared.
    env.ok(["config", "set", "myapp", "X=1"]);
    assert!(env.state_bytes() != before, "the snapshot does not see a write");
}

#[test]
fn waiting_for_settled_addons_leaves_the_state_file_byte_for_byte() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "k"]);
    let before = env.state_bytes();
    for args in [&["wait", "k"][..], &["tick"], &["watch"]] {
        env.ok(args);
        assert!(env.state_bytes() == before, "addons {args:?} with nothing to do changed the state file");
    }
}

/// `watch` on a terminal: run under `script`, which gives it a pseudo-terminal.
#[test]
fn watch_on_a_terminal_shows_a_live_line_per_addon_and_a_count() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "app1", "--name", "one"]);
    env.ok(["provision", "sqlite", "app1", "--name", "two"]);
    let out = std::process::Command::new("script")
        .args(["-qec", &format!("{} watch", env!("CARGO_BIN_EXE_addons")), "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.root())
        .env("TERM", "xterm")
        .env("ADDONS_STATE", env.state_location())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script (util-linux) runs the binary on a pseudo-terminal");
    assert!(out.status.success(), "{out:?}");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("2/2 settled, 0 with work left"), "no overall count:\n{screen}");
    for (name, var) in [("one", "SECRET_KEY"), ("two", "DATABASE_URL")] {
        let line = format!("config vars set on app app1: {var}");
        assert!(screen.contains(name) && screen.contains(&line), "no live line for {name}:\n{screen}");
    }
    assert!(screen.contains("\x1b["), "no cursor movement: not a live display:\n{screen}");
    assert!(!screen.contains("-> provisioned"), "plain transition lines on a terminal:\n{screen}");
    assert_eq!(env.info("one")["state"], "ready");
}

/// Commands that print to stdout, each a different way: tables and lines (`println!`),
/// JSON, a page and a script written through `io::Write`, and clap's help and version.
const PRINTING: [&[&str]; 10] = [
    &["list"],
    &["list", "--json"],
    &["info", "--json", "key"],
    &["graph"],
    &["env", "web"],
    &["man"],
    &["man", "provision"],
    &["completions", "bash"],
    &["--help"],
    &["--version"],
];

#[test]
fn a_reader_that_stopped_reading_ends_the_command_quietly() {
    // `addons list | head -1` with a long list: the reader is gone before the rest is
    // printed. Here the pipe's read end is closed before the command starts.
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    for args in PRINTING {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = env.command(args).stdout(writer).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr, "", "addons {args:?} said something on a closed pipe");
        assert_eq!(out.status.code(), Some(141), "addons {args:?}: {stderr}");
    }
}

#[test]
fn a_shell_pipeline_whose_reader_is_gone_ends_with_141_and_says_nothing() {
    // `set -o pipefail; addons man | head -1`, with the race taken out: the reader
    // closes its end of the pipe, waits until the shell that made the pipe has closed its
    // copy too ($$ is that shell in every subshell), and only then (told through a FIFO)
    // does addons start, so every command meets a reader that is gone, however short its
    // output.
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    let fifo = env.root().join("reader-gone");
    for args in PRINTING {
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let line = format!(
            "set -o pipefail; {{ read -r _ < '{fifo}'; '{bin}' {args} 2> '{err}'; }} | \
             {{ pipe=$(readlink /proc/self/fd/0); exec 0<&-; \
               n=0; while [ $n -lt 500 ] && ls -l /proc/$$/fd 2>/dev/null | grep -qF \"$pipe\"; do \
               n=$((n + 1)); sleep 0.01; done; echo > '{fifo}'; }}; \
             echo \"$? ${{PIPESTATUS[0]}}\"",
            fifo = fifo.display(),
            bin = common::BIN,
            args = args.join(" "),
            err = env.root().join("stderr").display(),
        );
        let mut shell = std::process::Command::new("bash");
        shell.args(["-c", &line]).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
        shell.env("HOME", env.root()).env("ADDONS_STATE", env.state_location()).current_dir(env.root());
        let out = shell.output().expect("bash runs");
        let status = String::from_utf8_lossy(&out.stdout);
        let stderr = std::fs::read_to_string(env.root().join("stderr")).unwrap();
        assert_eq!(status.trim(), "141 141", "addons {args:?}: pipefail status, addons' status; stderr: {stderr}");
        assert_eq!(stderr, "", "addons {args:?} said something on a closed pipe");
    }
}

#[test]
fn attach_and_detach_with_wait_end_on_what_happened_to_the_app() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "key"]);
    let run = env.ok(["attach", "key", "worker", "--wait"]);
    assert_eq!(run.stderr.lines().last(), Some("key is attached to app worker: SECRET_KEY set"), "{run}");
    let run = env.ok(["detach", "key", "worker", "--wait"]);
    assert_eq!(run.stderr.lines().last(), Some("key is detached from app worker: it had no login of its own"), "{run}");
}

/// Sends `signal` to `child` once it has had time to block, and returns how it ended
/// (killed, and the test failed, when the signal did not end it within 5 s).
fn ended_by(child: &mut std::process::Child, signal: i32) -> std::process::ExitStatus {
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "it did not block");
    // SAFETY: kill(2) of the child this test started.
    unsafe { libc::kill(child.id() as i32, signal) };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("signal {signal} did not end a command blocked on its input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_first_signal_ends_a_command_blocked_on_its_input() {
    use std::process::Stdio;
    let env = TestEnv::new();
    let fifo = env.root().join("addons.toml");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) of a path in this test's own directory.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0, "mkfifo");
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // An apply file no writer ever opens.
        let mut apply = env
            .command(["apply", "-f", fifo.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert_eq!(ended_by(&mut apply, signal).code(), Some(128 + signal));
        // A value on stdin that never ends.
        let mut set = env
            .command(["config", "set", "web", "TOKEN"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let _open = set.stdin.take();
        assert_eq!(ended_by(&mut set, signal).code(), Some(128 + signal));
    }
    // Nothing was made.
    assert!(!env.state_exists() || env.json(["list", "--json", "--all"]) == json!([]));
    env.fails(2, ["config", "web"]);
}
