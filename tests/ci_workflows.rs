//! Scripted CI and fleets (issue 10), through the binary: labels, selectors, expiry and
//! `provision --ensure`, including eight `--ensure` of one name at once.

use crate::common;

use std::process::Stdio;

use common::TestEnv;
use serde_json::{json, Value};

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn labels_are_set_at_provision_edited_shown_and_selected() {
    let env = TestEnv::new();
    let a = env.json(["provision", "secret", "app", "--name", "a", "--label", "branch=x", "--label", "ci=", "--json"]);
    assert_eq!(a["labels"], json!({"branch": "x", "ci": ""}));
    assert_eq!(a["expires_at"], Value::Null);
    env.ok(["provision", "secret", "app", "--name", "b", "--as", "b", "--label", "branch=y"]);
    env.ok(["provision", "secret", "other", "--name", "c"]);
    assert_eq!(names(&env.json(["list", "--selector", "branch=x", "--json"])), ["a"]);
    assert_eq!(names(&env.json(["list", "--selector", "branch!=x", "--json"])), ["b", "c"]);
    assert_eq!(names(&env.json(["list", "--selector", "branch", "--json"])), ["a", "b"]);
    assert_eq!(names(&env.json(["list", "--selector", "!branch", "--json"])), ["c"]);
    assert_eq!(names(&env.json(["list", "-l", "branch,ci", "--json"])), ["a"]);

    let b = env.json(["label", "b", "team=web", "branch-", "--json"]);
    assert_eq!(b["labels"], json!({"team": "web"}));
    assert_eq!(env.info("b")["labels"], json!({"team": "web"}));
    let wide = env.ok(["list", "-o", "wide"]).stdout;
    let header = wide.lines().next().unwrap();
    assert!(header.contains("LABELS") && header.contains("EXPIRES"), "{wide}");
    assert!(wide.lines().any(|l| l.starts_with("a ") && l.contains("branch=x,ci=")), "{wide}");
    assert!(!env.ok(["list"]).stdout.contains("LABELS"));
    let info = env.ok(["info", "a"]).stdout;
    assert!(info.contains("\nlabels    branch=x,ci=\n") && info.contains("\nexpires   never\n"), "{info}");
}

#[test]
fn deprovision_and_wait_take_a_selector_and_deprovision_takes_an_app() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "pr-1", "--name", "pr1-key", "--label", "pr=1"]);
    env.ok(["provision", "sqlite", "pr-1", "--name", "pr1-db", "--label", "pr=1"]);
    env.ok(["provision", "secret", "pr-2", "--name", "pr2-key", "--label", "pr=2"]);
    env.ok(["provision", "secret", "pr-3", "--name", "pr3-key"]);
    let waited = env.json(["wait", "--selector", "pr=1", "--json"]);
    assert_eq!(names(&waited), ["pr1-key", "pr1-db"]);
    assert!(waited.as_array().unwrap().iter().all(|a| a["state"] == "ready"));
    assert_eq!(env.info("pr2-key")["state"], "waiting_for_provision", "wait ticked only the selected addons");

    let gone = env.json(["deprovision", "--selector", "pr=1", "--json"]);
    assert_eq!(names(&gone), ["pr1-key", "pr1-db"]);
    assert_eq!(names(&env.json(["list", "--json"])), ["pr2-key", "pr3-key"]);
    // No match is nothing to do, not an error.
    assert_eq!(env.json(["deprovision", "--selector", "pr=9", "--json"]), json!([]));

    let gone = env.json(["deprovision", "--app", "pr-3", "--json"]);
    assert_eq!(names(&gone), ["pr3-key"]);
    assert_eq!(names(&env.json(["list", "--json"])), ["pr2-key"]);
}

#[test]
fn expiry_is_set_shown_changed_and_listed_when_overdue() {
    let env = TestEnv::new();
    let a = env.json(["provision", "secret", "app", "--name", "a", "--expires-in", "2h", "--json"]);
    let at = a["expires_at"].as_str().unwrap().to_string();
    assert!(common::is_rfc3339_utc(&at), "{at}");
    let b = env.json(["provision", "secret", "app", "--as", "b", "--name", "b", "--expires-at", &at, "--json"]);
    assert_eq!(b["expires_at"], at.as_str());
    assert_eq!(env.json(["expire", "b", "never", "--json"])["expires_at"], Value::Null);
    assert_eq!(env.json(["list", "--expired", "--json"]), json!([]));
    // An addon whose expiry has passed: made by hand-shortening it, then waiting it out.
    env.ok(["expire", "a", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(names(&env.json(["list", "--expired", "--json"])), ["a"]);
    assert!(env.ok(["list", "--expired"]).stdout.starts_with("NAME"));
}

#[test]
fn ensure_reuses_the_same_addon_and_refuses_a_different_one() {
    let env = TestEnv::new();
    let args = ["provision", "secret", "ci", "--name", "ci-key", "--param", "length=40", "--ensure", "--json"];
    let first = env.json(args);
    assert_eq!(first["created"], true);
    let again = env.json(args);
    assert_eq!(again["created"], false);
    assert_eq!(again["id"], first["id"]);
    // Without --json: the name, as a made one prints it.
    assert_eq!(env.ok(&args[..args.len() - 1]).stdout, "ci-key\n");
    // --wait waits for the one found.
    let waited = env.json([
        "provision",
        "secret",
        "ci",
        "--name",
        "ci-key",
        "--param",
        "length=40",
        "--ensure",
        "--wait",
        "--json",
    ]);
    assert_eq!((waited["id"].clone(), waited["state"].clone()), (first["id"].clone(), json!("ready")));

    let before = env.state_bytes();
    let line = env.fails(1, ["provision", "sqlite", "ci2", "--name", "ci-key", "--as", "x", "--ensure"]);
    assert!(
        line.contains("provider: asked sqlite, exists as secret")
            && line.contains("app: asked ci2, exists on ci")
            && line.contains("prefix: asked --as X, exists with no prefix")
            && line.contains("param length: not asked, exists with 40"),
        "{line}"
    );
    assert_eq!(env.state_bytes(), before, "a refused --ensure changed the state");
    // --ensure needs --name.
    env.fails(2, ["provision", "secret", "ci", "--ensure"]);
    // Without --ensure, the name is taken, as before.
    env.fails(1, ["provision", "secret", "ci", "--as", "y", "--name", "ci-key"]);
}

#[test]
fn provision_json_says_whether_it_made_the_addon_also_with_wait() {
    let env = TestEnv::new();
    let args = ["provision", "secret", "web", "--name", "key", "--ensure", "--wait", "--json"];
    let made = env.json(args);
    assert_eq!((made["state"].clone(), made["created"].clone()), (json!("ready"), json!(true)), "{made:#}");
    let found = env.json(args);
    assert_eq!((found["name"].clone(), found["created"].clone()), (json!("key"), json!(false)), "{found:#}");
    assert_eq!(found["id"], made["id"]);
}

#[test]
fn eight_ensures_of_one_name_at_once_make_one_addon_and_all_succeed() {
    let env = TestEnv::new();
    // The state exists first, so the eight race on the name rather than on creating the file.
    env.ok(["list"]);
    env.ok(["config", "set", "warm", "X=1"]);
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.command(["provision", "secret", "ci", "--name", "shared", "--ensure", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut created = 0;
    let mut ids = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
        created += usize::from(doc["created"] == true);
        ids.push(doc["id"].clone());
    }
    assert_eq!(created, 1, "exactly one of the eight made it");
    ids.dedup();
    assert_eq!(ids.len(), 1, "all eight print the one addon: {ids:?}");
    assert_eq!(env.json(["list", "--all", "--json"]).as_array().unwrap().len(), 1);
}

#[test]
fn a_tick_deprovisions_an_addon_once_it_has_expired_with_the_event_expired() {
    let env = TestEnv::new();
    env.provision_ready("secret", "app", &["--name", "ready-one", "--expires-in", "1s"]);
    // Still provisioning when it expires: never made ready, deprovisioned all the same.
    env.ok(["provision", "secret", "app", "--as", "b", "--name", "young-one", "--expires-in", "1s"]);
    env.ok(["provision", "secret", "app", "--as", "c", "--name", "kept", "--wait"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(names(&env.json(["list", "--expired", "--json"])), ["ready-one", "young-one"]);
    let tick = env.json(["tick", "--json"]);
    let mut expired: Vec<_> = tick["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["event"] == "expired")
        .map(|t| (t["name"].as_str().unwrap(), t["from"].as_str().unwrap(), t["to"].as_str().unwrap()))
        .collect();
    expired.sort();
    assert_eq!(
        expired,
        [("ready-one", "ready", "deprovisioned"), ("young-one", "waiting_for_provision", "deprovisioned")],
        "{tick:#}"
    );
    let log = env.json(["log", "ready-one", "--json"]);
    assert!(log.as_array().unwrap().iter().any(|e| e["event"] == "expired"), "{log:#}");
    env.ok(["tick"]);
    assert_eq!(names(&env.json(["list", "--json"])), ["kept"]);
    assert!(!env.vars("app").contains_key("SECRET_KEY"), "an expired addon's vars leave the app");
}

#[test]
fn an_addon_that_expires_later_is_not_work_left_and_is_not_claimed_early() {
    let env = TestEnv::new();
    env.provision_ready("secret", "app", &["--name", "later", "--expires-in", "7d"]);
    let tick = env.json(["tick", "--json"]);
    assert_eq!((tick["transitions"].clone(), tick["pending"].clone()), (json!([]), json!(0)));
    // watch ends at once: an expiry a week away is not work to wait for.
    let watch = env.run_within(std::time::Duration::from_secs(20), ["watch", "--json"]);
    assert_eq!(watch.code, 0, "{watch}");
    assert_eq!(env.info("later")["state"], "ready");
}

const APPLY_FILE: &str = r#"scope = "ci-pr-7"
[[addon]]
name = "pr7-db"
provider = "sqlite"
app = "pr-7"
labels = { branch = "feature-x" }
expires_in = "7d"

[[addon]]
name = "pr7-key"
provider = "secret"
app = "pr-7"
"#;

fn write_file(env: &TestEnv, name: &str, text: &str) -> String {
    let path = env.root().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn apply_creates_then_changes_nothing_the_second_time_then_updates_and_prunes() {
    let env = TestEnv::new();
    let file = write_file(&env, "addons.toml", APPLY_FILE);
    let dry = env.ok(["apply", "-f", &file, "--dry-run"]);
    assert!(dry.stdout.starts_with("+ create pr7-db (sqlite for pr-7), expires "), "{dry}");
    assert!(dry.stdout.contains("\n+ create pr7-key (secret for pr-7)\nPlan: 2 to create.\n"), "{dry}");
    assert!(!env.state_exists() || env.json(["list", "--json"]) == json!([]), "--dry-run changed nothing");

    let run = env.ok(["apply", "-f", &file, "--wait"]);
    assert!(run.stdout.contains("Plan: 2 to create."), "{run}");
    let listed = env.json(["list", "--json"]);
    assert_eq!(names(&listed), ["pr7-db", "pr7-key"]);
    assert_eq!(listed[0]["labels"], json!({"addons/scope": "ci-pr-7", "branch": "feature-x"}));
    assert!(listed[0]["expires_at"].is_string() && listed[1]["expires_at"].is_null());
    assert!(listed.as_array().unwrap().iter().all(|a| a["state"] == "ready"));

    let before = env.state_bytes();
    let again = env.ok(["apply", "-f", &file]);
    assert!(again.stdout.contains("= keep pr7-db") && again.stdout.contains("Nothing to change"), "{again}");
    assert_eq!(env.state_bytes(), before, "a second apply of the same file wrote to the state");
    let doc = env.json(["apply", "-f", &file, "--json"]);
    assert_eq!(doc["changed"], false);
    assert_eq!(doc["plan"][0]["action"], "keep");

    let changed = write_file(
        &env,
        "addons.toml",
        &APPLY_FILE
            .replace("feature-x", "feature-y")
            .replace("[[addon]]\nname = \"pr7-key\"\nprovider = \"secret\"\napp = \"pr-7\"\n", ""),
    );
    let run = env.ok(["apply", "-f", &changed]);
    assert!(run.stdout.contains("~ update pr7-db (sqlite for pr-7): labels branch=feature-y"), "{run}");
    assert!(run.stdout.contains("--prune would remove it"), "{run}");
    assert_eq!(env.info("pr7-db")["labels"]["branch"], "feature-y");
    let run = env.ok(["apply", "-f", &changed, "--prune"]);
    assert!(run.stdout.contains("- remove pr7-key (secret for pr-7)"), "{run}");
    assert_eq!(names(&env.json(["list", "--json"])), ["pr7-db"]);
}

#[test]
fn an_apply_conflict_changes_nothing_unless_replace() {
    let env = TestEnv::new();
    let file = write_file(&env, "addons.toml", APPLY_FILE);
    env.ok(["apply", "-f", &file]);
    let other = write_file(&env, "other.toml", &APPLY_FILE.replace("\"sqlite\"", "\"secret\"\nas = \"db\""));
    let before = env.state_bytes();
    let run = env.run(["apply", "-f", &other]);
    assert_eq!(run.code, 1, "{run}");
    assert!(
        run.stdout.contains("! conflict pr7-db (secret for pr-7): provider: asked secret, exists as sqlite"),
        "{run}"
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert_eq!(env.state_bytes(), before);
    let run = env.ok(["apply", "-f", &other, "--replace"]);
    assert!(run.stdout.contains("-/+ replace pr7-db"), "{run}");
    let db = env.info("pr7-db");
    assert_eq!((db["provider"].clone(), db["prefix"].clone()), (json!("secret"), json!("DB")));
    // An addon of another scope is never replaced.
    let foreign = write_file(&env, "foreign.toml", &APPLY_FILE.replace("ci-pr-7", "ci-pr-8"));
    let run = env.run(["apply", "-f", &foreign, "--replace"]);
    assert_eq!(run.code, 1, "{run}");
}

#[test]
fn two_applies_of_one_file_at_once_end_as_one_would() {
    let env = TestEnv::new();
    let file = write_file(&env, "addons.toml", APPLY_FILE);
    env.ok(["list"]);
    env.ok(["config", "set", "warm", "X=1"]);
    let children: Vec<_> = (0..2)
        .map(|_| env.command(["apply", "-f", &file]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let all = env.json(["list", "--all", "--json"]);
    assert_eq!(names(&all), ["pr7-db", "pr7-key"], "{all:#}");
    assert_eq!(all[0]["labels"], json!({"addons/scope": "ci-pr-7", "branch": "feature-x"}));
    assert!(env.ok(["apply", "-f", &file]).stdout.contains("Nothing to change"));
}

#[test]
fn apply_takes_over_a_hand_made_addon_only_with_adopt() {
    let env = TestEnv::new();
    let made = env.provision_ready("secret", "pr-7", &["--name", "pr7-key"]);
    let file = write_file(&env, "addons.toml", APPLY_FILE);
    // Not of the file's scope: a conflict that names it, and nothing changes.
    let before = env.state_bytes();
    let run = env.run(["apply", "-f", &file]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("! conflict pr7-key (secret for pr-7): scope: "), "{run}");
    assert_eq!(run.stderr.lines().count(), 1, "{run}");
    assert!(run.stderr.contains("pr7-key") && run.stderr.contains("--adopt"), "{run}");
    assert_eq!(env.state_bytes(), before, "an apply that took over a hand-made addon changed the state");
    // --replace is no way around it: it would deprovision an addon the file never made.
    let replace = write_file(
        &env,
        "replace.toml",
        &APPLY_FILE.replace(
            "name = \"pr7-key\"\nprovider = \"secret\"\napp = \"pr-7\"\n",
            "name = \"pr7-key\"\nprovider = \"secret\"\napp = \"pr-7\"\nas = \"k\"\n",
        ),
    );
    let run = env.run(["apply", "-f", &replace, "--replace"]);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stdout.contains("! conflict pr7-key"), "{run}");
    assert_eq!(env.state_bytes(), before);
    // A prune of the scope leaves it alone.
    let scope_only = write_file(&env, "scope.toml", "scope = \"ci-pr-7\"\n");
    env.ok(["apply", "-f", &scope_only, "--prune"]);
    assert_eq!(env.info("pr7-key")["state"], "ready");
    // Asked for: taken into the scope as it is, and from then on the file's.
    let run = env.ok(["apply", "-f", &file, "--adopt"]);
    assert!(run.stdout.contains("~ update pr7-key (secret for pr-7): labels addons/scope=ci-pr-7"), "{run}");
    let key = env.info("pr7-key");
    assert_eq!((key["id"].clone(), key["labels"]["addons/scope"].clone()), (made["id"].clone(), json!("ci-pr-7")));
    env.ok(["apply", "-f", &scope_only, "--prune"]);
    assert_eq!(env.info(made["id"].as_str().unwrap())["state"], "deprovisioned");
}

/// An apply file of scope `team`, round `round`: two addons of its own, then one whose
/// name the other team's file takes too (for another app).
fn racing_file(team: &str, round: usize) -> String {
    format!(
        "scope = \"team-{team}\"\n\
         [[addon]]\nname = \"{team}-{round}-one\"\nprovider = \"secret\"\napp = \"{team}-{round}\"\nas = \"one\"\n\
         [[addon]]\nname = \"{team}-{round}-two\"\nprovider = \"secret\"\napp = \"{team}-{round}\"\nas = \"two\"\n\
         [[addon]]\nname = \"shared-{round}\"\nprovider = \"secret\"\napp = \"{team}-{round}\"\n"
    )
}

#[test]
fn of_two_conflicting_applies_at_once_the_loser_changes_nothing() {
    let env = TestEnv::new();
    env.ok(["config", "set", "warm", "X=1"]);
    for round in 0..25 {
        let files: Vec<(&str, String)> = ["a", "b"]
            .into_iter()
            .map(|team| (team, write_file(&env, &format!("{team}-{round}.toml"), &racing_file(team, round))))
            .collect();
        let children: Vec<_> = files
            .iter()
            .map(|(team, file)| {
                let child =
                    env.command(["apply", "-f", file]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
                (*team, child)
            })
            .collect();
        let mut winners = Vec::new();
        for (team, child) in children {
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).to_string();
            match output.status.code() {
                Some(0) => winners.push(team),
                Some(1) => assert_eq!(stderr.lines().count(), 1, "round {round}, team {team}: {stderr}"),
                other => panic!("round {round}, team {team}: exit {other:?}: {stderr}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: one apply must win, not {winners:?}");
        let winner = winners[0];
        let mut made: Vec<String> = env
            .json(["list", "--all", "--json"])
            .as_array()
            .unwrap()
            .iter()
            .filter(|addon| addon["app"].as_str().unwrap().ends_with(&format!("-{round}")))
            .map(|addon| format!("{} for {}", addon["name"].as_str().unwrap(), addon["app"].as_str().unwrap()))
            .collect();
        made.sort();
        let expected: Vec<String> =
            [format!("{winner}-{round}-one"), format!("{winner}-{round}-two"), format!("shared-{round}")]
                .iter()
                .map(|name| format!("{name} for {winner}-{round}"))
                .collect();
        assert_eq!(made, expected, "round {round}: the apply that lost changed something");
    }
}

/// The shell script of README.md's "Per-branch databases in CI" section, as written there.
fn readme_ci_script() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split("### Per-branch databases in CI").nth(1).expect("README has the CI recipe");
    let block = section.split("```sh\n").nth(1).expect("the recipe has a sh block");
    block.split("```").next().unwrap().to_string()
}

#[test]
fn the_readme_ci_recipe_runs_twice_then_tears_down_against_a_real_postgres() {
    let Some(admin) = common::servers::server("postgres", "the README CI recipe") else { return };
    let env = TestEnv::with_config(&common::servers::config("postgres", &admin));
    let script = env.root().join("ci-addons.sh");
    std::fs::write(&script, readme_ci_script()).unwrap();
    let pr = format!("{}", 1000 + rand_suffix() % 9000);
    let run = |arg: &str| {
        let bin_dir = std::path::Path::new(common::BIN).parent().unwrap().display().to_string();
        let output = std::process::Command::new("sh")
            .arg(&script)
            .arg(arg)
            .env_clear()
            .env("PATH", format!("{bin_dir}:/usr/bin:/bin"))
            .env("HOME", env.root())
            .env("ADDONS_STATE", env.state_location())
            .env("ADDONS_CONFIG", &env.config)
            .env("PR", &pr)
            .current_dir(env.root())
            .output()
            .unwrap();
        assert!(output.status.success(), "ci-addons.sh {arg}: {}", String::from_utf8_lossy(&output.stderr));
        std::fs::read_to_string(env.root().join("addons.env")).unwrap_or_default()
    };
    let first = run("setup");
    let db = env.info(&format!("pr-{pr}-db"));
    let id = db["id"].as_str().unwrap().to_string();
    assert_eq!(db["state"], "ready");
    assert_eq!(db["labels"], json!({"pr": pr}));
    assert!(db["expires_at"].is_string());
    assert!(first.starts_with("DATABASE_URL=postgres"), "{first}");
    // The database the job got answers.
    let url = first.trim_end().strip_prefix("DATABASE_URL=").unwrap().trim_matches('\'');
    common::servers::connect_postgres(url).unwrap().simple_query("SELECT 1").unwrap();

    // A re-run reuses the one addon and hands out the same database.
    let second = run("setup");
    assert_eq!(second, first);
    assert_eq!(env.json(["list", "--all", "--json"]).as_array().unwrap().len(), 1);

    run("teardown");
    assert_eq!(env.info(&id)["state"], "deprovisioned");
    assert!(common::servers::traces("postgres", &admin, &id).is_empty(), "the database is gone from the server");
    // Teardown twice is fine.
    run("teardown");
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() ^ std::process::id()
}

/// The one line a command that acts on addons says when the state it was given does
/// not exist: where it looked, and what there is then nothing of.
fn no_state(env: &TestEnv, nothing: &str) -> String {
    format!("no state at {} yet: {nothing} (is this the state you meant?)", env.state_shown())
}

#[test]
fn a_command_given_a_state_that_does_not_exist_says_where_it_looked_and_makes_none() {
    let env = TestEnv::new();
    // A teardown pointed at a state that is not there fails as for an addon not there.
    let run = env.run(["deprovision", "--selector", "pr=101", "--wait"]);
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(
        (run.stdout.as_str(), run.stderr.trim_end()),
        ("", format!("error: {}", no_state(&env, "nothing to deprovision")).as_str())
    );
    let run = env.run(["--json", "deprovision", "--app", "pr-101"]);
    let error: Value = serde_json::from_str(run.stderr.trim_end()).unwrap();
    assert_eq!((run.code, error), (2, json!({"error": no_state(&env, "nothing to deprovision"), "code": 2})));
    let line = env.fails(2, ["deprovision", "pr-101-db"]);
    assert_eq!(
        line,
        format!(
            "error: no addon named \"pr-101-db\"; no state at {} yet (is this the state you meant?)",
            env.state_shown()
        )
    );
    for args in [
        &["attach", "pr-101-db", "web"][..],
        &["detach", "pr-101-db", "web"],
        &["label", "pr-101-db", "a=b"],
        &["expire", "pr-101-db", "1h"],
        &["rotate", "pr-101-db"],
    ] {
        let line = env.fails(2, args);
        assert!(
            line.ends_with(&format!("no state at {} yet (is this the state you meant?)", env.state_shown())),
            "{args:?}: {line}"
        );
    }
    assert_eq!(
        env.fails(2, ["rotate", "--selector", "pr=101"]),
        format!("error: {}", no_state(&env, "nothing to rotate"))
    );
    let teardown = write_file(&env, "teardown.toml", "scope = \"pr-101\"\n");
    assert_eq!(
        env.fails(2, ["apply", "-f", &teardown, "--prune"]),
        format!("error: {}", no_state(&env, "nothing to apply"))
    );
    // --missing-ok, and the commands a cron or a CI step runs anyway, warn and succeed.
    let run = env.ok(["deprovision", "--selector", "pr=101", "--missing-ok", "--wait"]);
    assert_eq!(run.stderr, format!("warning: {}\n", no_state(&env, "nothing to deprovision")));
    assert_eq!(env.json(["deprovision", "--selector", "pr=101", "--missing-ok", "--json"]), json!([]));
    assert_eq!(env.ok(["tick"]).stderr, format!("warning: {}\n", no_state(&env, "nothing to tick")));
    assert_eq!(env.json(["tick", "--json"])["transitions"], json!([]));
    assert_eq!(env.ok(["watch"]).stderr, format!("warning: {}\n", no_state(&env, "nothing to watch")));
    assert_eq!(
        env.ok(["wait", "--selector", "pr=101"]).stderr,
        format!("warning: {}\n", no_state(&env, "nothing to wait for"))
    );
    assert_eq!(env.ok(["-q", "tick"]).stderr, "");
    // A listing says there is no state, rather than only that there are no addons.
    let run = env.ok(["list", "--selector", "pr=101"]);
    assert_eq!(
        run.stderr,
        format!("No addons: no state at {} yet (is this the state you meant?).\n", env.state_shown())
    );
    assert!(!env.state_exists(), "a command made the state it was told is not there");
    // The first provision makes it, and says so.
    let run = env.ok(["provision", "secret", "pr-101", "--name", "pr-101-key", "--label", "pr=101"]);
    assert!(
        run.stderr.starts_with(&format!("note: no state at {} yet: making a new one\n", env.state_shown())),
        "{run}"
    );
    assert!(env.state_exists());
    assert!(!env.ok(["provision", "secret", "pr-102"]).stderr.contains("no state"));
    assert_eq!(names(&env.json(["deprovision", "--selector", "pr=101", "--json"])), ["pr-101-key"]);
}

#[test]
fn ensure_brings_the_addons_expiry_and_labels_to_what_was_asked_and_says_what_changed() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "web", "--name", "web-db", "--ensure", "--label", "pr=1", "--label", "team=web"]);
    let ensure =
        ["provision", "secret", "web", "--name", "web-db", "--ensure", "--expires-in", "7d", "--label", "pr=999"];
    let run = env.ok(ensure);
    let info = env.info("web-db");
    let expiry = info["expires_at"].as_str().expect("an expiry was set").to_string();
    assert_eq!(run.stdout, "web-db\n");
    assert_eq!(
        run.stderr,
        format!("web-db already exists (secret for app web): kept; expiry renewed to {expiry}; label pr=999 set.\n")
    );
    // The labels asked for are set; the others stay.
    assert_eq!(info["labels"], json!({"pr": "999", "team": "web"}));
    // Asked again at once: nothing to change.
    assert_eq!(env.ok(ensure).stderr, "web-db already exists (secret for app web): kept as it is.\n");
    assert_eq!(env.info("web-db")["expires_at"], expiry.as_str());
    // Less than half of the 7 days left: renewed, as an apply file's expires_in is.
    env.ok(["expire", "web-db", "1d"]);
    let doc = env.json(ensure.iter().chain(&["--json"]));
    assert_eq!(doc["created"], false);
    assert!(doc["expires_at"].as_str().unwrap() >= expiry.as_str(), "{doc}");
    let run = env.ok([
        "provision",
        "secret",
        "web",
        "--name",
        "web-db",
        "--ensure",
        "--label",
        "pr=1000",
        "--label",
        "ci=yes",
    ]);
    assert_eq!(run.stderr, "web-db already exists (secret for app web): kept; labels ci=yes, pr=1000 set.\n");
    // An expiry in the past is refused, with nothing changed.
    let before = env.info("web-db");
    env.fails(
        2,
        [
            "provision",
            "secret",
            "web",
            "--name",
            "web-db",
            "--ensure",
            "--expires-at",
            "2020-01-01T00:00:00Z",
            "--label",
            "pr=1",
        ],
    );
    assert_eq!(env.info("web-db")["labels"], before["labels"]);
}

#[test]
fn attach_asked_again_is_kept_and_another_prefix_is_refused() {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "shared"]);
    env.ok(["attach", "shared", "worker", "--as", "web", "--wait"]);
    let before = env.info("shared");
    let run = env.ok(["attach", "shared", "worker", "--as", "web"]);
    assert_eq!(run.stderr, "shared is already attached to app worker (WEB_SECRET_KEY): nothing changed\n");
    let doc = env.json(["attach", "shared", "worker", "--as", "web", "--wait", "--json"]);
    assert_eq!(doc["attachments"], before["attachments"], "{doc}");
    assert_eq!(
        env.json(["log", "shared", "--json"]).as_array().unwrap().iter().filter(|e| e["event"] == "attach").count(),
        1
    );
    // Another prefix (or none) is another attachment: refused, nothing changed.
    let line = env.fails(2, ["attach", "shared", "worker"]);
    assert_eq!(line, "error: shared is attached to app worker already, as WEB; 'addons detach shared worker' first to attach it another way");
    env.fails(2, ["attach", "shared", "worker", "--as", "other"]);
    assert_eq!(env.info("shared")["attachments"], before["attachments"]);
    assert_eq!(env.vars("worker").keys().collect::<Vec<_>>(), ["WEB_SECRET_KEY"]);
}

#[test]
fn a_new_app_near_a_known_one_is_noted_and_the_work_done() {
    let env = TestEnv::new();
    env.ok(["provision", "secret", "myapp", "--name", "k"]);
    let run = env.ok(["provision", "secret", "myap", "--name", "j"]);
    assert!(run.stderr.starts_with("note: new app myap (did you mean myapp?)\n"), "{run}");
    assert_eq!(env.info("j")["app"], "myap");
    let run = env.ok(["attach", "k", "mapyp"]);
    assert!(
        run.stderr.starts_with("note: new app mapyp (did you mean myap?)\n")
            || run.stderr.starts_with("note: new app mapyp (did you mean myapp?)\n"),
        "{run}"
    );
    assert_eq!(env.info("k")["attachments"][0]["app"], "mapyp");
    // A known app, a far one, a numbered series and -q: no note.
    for (args, why) in [
        (&["provision", "secret", "myapp", "--as", "two"][..], "a known app"),
        (&["provision", "secret", "billing"], "an app far from every known one"),
        (&["provision", "secret", "pr-101"], "the first of a series"),
        (&["provision", "secret", "pr-102"], "pr-102 beside pr-101"),
        (&["-q", "provision", "secret", "myapq"], "-q"),
    ] {
        let run = env.ok(args);
        assert!(!run.stderr.contains("new app"), "{why}: {run}");
    }
}
