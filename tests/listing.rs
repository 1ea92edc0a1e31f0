//! `list` of a fleet larger than what it reads at a time and lays its table out by
//! (issue 19): the rows come out whole and in order, `--json` is one array, a selector
//! picks the rows it picked when it was applied to the whole listing, and a piped or
//! `-o wide` table prints every message in full. On both state backends.

use crate::common;

use common::TestEnv;
use serde_json::Value;

/// Copies of the two addons `fleet` provisions, made by SQL (valid on SQLite and
/// PostgreSQL alike): more than a scan's batch (512) and a table's sample (1000).
const COPIES: usize = 700;

/// A long message, longer than any terminal line.
const LONG: &str = "a message long enough that no terminal of eighty columns holds it on one line, \
                    said once and then said again so that it surely overflows every width there is";

/// Two provisioned addons (`k1` of app `web`, labelled `team=x`; `k2` of app `api`),
/// attached `k1` to app `worker`, then [`COPIES`] copies of each across seven apps,
/// labelled by turns `team=x`, `team=y,ci=` and nothing; copy 7 of each has [`LONG`].
fn fleet() -> TestEnv {
    let env = TestEnv::new();
    env.provision_ready("secret", "web", &["--name", "k1", "--label", "team=x"]);
    env.provision_ready("secret", "api", &["--name", "k2"]);
    env.ok(["attach", "k1", "worker", "--wait"]);
    env.state_sql(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {COPIES}) \
         INSERT INTO addons (id, name, provider, app, prefix, params, seed, state, message, vars, config, begun, \
         cleanup, attempts, due_at, deadline_at, claim, claim_until, created_at, updated_at, failure, last_error, \
         last_error_permanent, labels, expires_at, generation, vars_generation, revoke_from, revoke_at, \
         verified_at, drift, source_id) \
         SELECT id || '-' || i, name || '-' || i, provider, app || '-' || (i % 7), prefix, params, seed, state, \
         CASE WHEN i = 7 THEN '{LONG}' ELSE message END, vars, config, begun, cleanup, attempts, NULL, \
         deadline_at, NULL, NULL, created_at + i, updated_at, failure, last_error, last_error_permanent, \
         CASE WHEN i % 3 = 0 THEN '{{\"team\":\"x\"}}' WHEN i % 3 = 1 THEN '{{\"ci\":\"\",\"team\":\"y\"}}' \
         ELSE '{{}}' END, expires_at, generation, vars_generation, revoke_from, revoke_at, verified_at, drift, \
         source_id FROM addons, n"
    ));
    env
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().expect("one JSON array").iter().map(|a| a["name"].as_str().unwrap().to_string()).collect()
}

/// The names of a table's rows (its first column), headers left out.
fn table_names(table: &str) -> Vec<String> {
    table.lines().skip(1).map(|line| line.split(' ').next().unwrap().to_string()).collect()
}

#[test]
fn json_of_a_fleet_is_one_array_of_every_addon_in_list_order() {
    let env = fleet();
    let run = env.ok(["list", "--json"]);
    let list: Value = serde_json::from_str(&run.stdout).expect("list --json is one JSON document");
    let addons = list.as_array().expect("an array");
    assert_eq!(addons.len(), 2 + 2 * COPIES);
    // By app, then by creation.
    let keys: Vec<(String, String)> = addons
        .iter()
        .map(|a| (a["app"].as_str().unwrap().to_string(), a["created_at"].as_str().unwrap().to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "not in list order");
    // The attachment is found whatever batch its addon is read in.
    let k1 = addons.iter().find(|a| a["name"] == "k1").unwrap();
    assert_eq!(k1["attachments"][0]["app"], "worker", "{k1}");
    assert!(addons.iter().filter(|a| a["name"] != "k1").all(|a| a["attachments"] == Value::Array(vec![])));
    // Laid out as before: the array pretty-printed as a whole.
    assert_eq!(run.stdout, format!("{}\n", serde_json::to_string_pretty(&list).unwrap()));
    // One app's listing says which addons are attached to it.
    let worker = env.json(["list", "worker", "--json"]);
    assert_eq!(names(&worker), ["k1"]);
    assert_eq!(worker[0]["attached"], true);
}

#[test]
fn a_selector_picks_the_rows_it_picks_among_the_whole_listing() {
    let env = fleet();
    let all = env.json(["list", "--json"]);
    let all = all.as_array().unwrap();
    let labelled = |key: &str| -> Vec<Option<String>> {
        all.iter().map(|a| a["labels"].get(key).map(|v| v.as_str().unwrap().to_string())).collect()
    };
    let (team, ci) = (labelled("team"), labelled("ci"));
    let pick = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..all.len()).filter(|&i| keep(i)).map(|i| all[i]["name"].as_str().unwrap().to_string()).collect()
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("team=x", pick(&|i| team[i].as_deref() == Some("x"))),
        ("team!=x", pick(&|i| team[i].as_deref() != Some("x"))),
        ("team", pick(&|i| team[i].is_some())),
        ("!team", pick(&|i| team[i].is_none())),
        ("team=y,ci", pick(&|i| team[i].as_deref() == Some("y") && ci[i].is_some())),
        ("ci=", pick(&|i| ci[i].as_deref() == Some(""))),
        ("team=z", Vec::new()),
    ];
    for (selector, expected) in cases {
        assert!(selector == "team=z" || !expected.is_empty(), "{selector} picks nothing: a weak case");
        assert_eq!(names(&env.json(["list", "--selector", selector, "--json"])), expected, "{selector}");
        if !expected.is_empty() {
            assert_eq!(table_names(&env.ok(["list", "-l", selector]).stdout), expected, "{selector} (table)");
        }
    }
    let none = env.ok(["list", "-l", "team=z"]);
    assert_eq!((none.stdout.as_str(), none.stderr.trim()), ("", "No addons match."));
}

#[test]
fn a_piped_or_wide_table_of_a_fleet_prints_every_row_whole() {
    let env = fleet();
    for args in [&["list"][..], &["list", "-o", "wide"]] {
        let table = env.ok(args).stdout;
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 1 + 2 + 2 * COPIES, "{args:?}");
        assert!(lines[0].starts_with("NAME ") && lines[0].ends_with("MESSAGE"), "{args:?}: {}", lines[0]);
        let long: Vec<&&str> = lines.iter().filter(|line| line.contains("long enough")).collect();
        assert_eq!(long.len(), 2, "{args:?}");
        assert!(long.iter().all(|line| line.ends_with(LONG) && !line.contains('…')), "{args:?}: {long:?}");
        // Every row's columns start where the header's do.
        let at = lines[0].find("PROVIDER").unwrap();
        assert!(lines[1..].iter().all(|line| &line[at..at + 6] == "secret"), "{args:?}: misaligned");
    }
}
