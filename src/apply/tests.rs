//! The planner's rules, line by line, and the property that matters most: a live set that
//! already matches the file plans only `= keep`.

use std::path::Path;

use super::*;
use crate::labels::{Labels, SCOPE_LABEL};
use crate::spec::AddonSpec;

/// 2026-11-29T04:00:00Z.
const NOW: i64 = 1_795_924_800_000;
const DAY: i64 = 86_400_000;

const FILE: &str = r#"
scope = "ci-pr-123"
[[addon]]
name = "pr-123-db"
provider = "postgres"
app = "pr-123"
labels = { branch = "feature-x" }
expires_in = "7d"
[[addon]]
name = "pr-123-key"
provider = "secret"
app = "pr-123"
as = "signing"
params = { length = 64 }
"#;

fn file() -> ApplyFile {
    parse(Path::new("addons.toml"), FILE).unwrap()
}

/// The live addon an apply of `desired` at `at` leaves behind.
fn made(desired: &DesiredAddon, at: i64) -> LiveAddon {
    LiveAddon {
        name: desired.name.clone(),
        spec: desired.spec.clone(),
        labels: desired.labels.clone(),
        expires_at: desired.expires_in.map(|d| crate::expiry::after(at, d)),
        backup_schedule: desired.backup_schedule,
    }
}

fn live_as_made(at: i64) -> Vec<LiveAddon> {
    file().addons.iter().map(|desired| made(desired, at)).collect()
}

fn lines(plan: &Plan) -> Vec<String> {
    plan.lines.iter().map(ToString::to_string).collect()
}

/// The live set after `plan` is carried out at `at` (what the store will do).
fn carry_out(file: &ApplyFile, live: &[LiveAddon], plan: &Plan, at: i64) -> Vec<LiveAddon> {
    let mut after: Vec<LiveAddon> = live.to_vec();
    for line in &plan.lines {
        let desired = file.addon(&line.name);
        match &line.action {
            Action::Create { .. } | Action::Replace { .. } => {
                after.retain(|addon| addon.name != line.name);
                after.push(made(desired.unwrap(), at));
            }
            Action::Update { labels, expiry, backup } => {
                let addon = after.iter_mut().find(|addon| addon.name == line.name).unwrap();
                addon.labels = addon.labels.edited(labels).unwrap();
                if let Some(change) = expiry {
                    addon.expires_at = change.to;
                }
                if let Some(change) = backup {
                    addon.backup_schedule = change.to;
                }
            }
            Action::Remove => after.retain(|addon| addon.name != line.name),
            Action::Keep | Action::Conflict { .. } => {}
        }
    }
    after
}

#[test]
fn an_empty_live_set_creates_everything() {
    let plan = plan(&file(), &[], PlanOptions::default(), NOW);
    assert_eq!(
        lines(&plan),
        [
            "+ create pr-123-db (postgres for pr-123), expires 2026-12-06T04:00:00Z",
            "+ create pr-123-key (secret for pr-123)",
        ]
    );
    assert_eq!(plan.summary(&file()), "Plan: 2 to create.");
    assert!(plan.changes_anything());
}

#[test]
fn a_matching_live_set_plans_only_keep() {
    for (made_at, now) in [(NOW, NOW), (NOW, NOW + 60_000), (NOW, NOW + 3 * DAY), (NOW - DAY, NOW)] {
        let plan = plan(&file(), &live_as_made(made_at), PlanOptions { prune: true, replace: true, adopt: false }, now);
        assert_eq!(lines(&plan), ["= keep pr-123-db (postgres for pr-123)", "= keep pr-123-key (secret for pr-123)"]);
        assert!(!plan.changes_anything());
        assert_eq!(plan.summary(&file()), "Nothing to change: the live addons match addons.toml.");
    }
}

#[test]
fn applying_twice_changes_nothing_the_second_time() {
    let file = file();
    let start = vec![LiveAddon {
        name: "pr-123-db".into(),
        spec: file.addons[0].spec.clone(),
        labels: Labels::from_pairs([("owner", "me")]).unwrap(),
        expires_at: None,
        backup_schedule: None,
    }];
    // Made by hand, so adopted (the scope label added with the file's).
    let options = PlanOptions { prune: true, replace: false, adopt: true };
    let first = plan(&file, &start, options, NOW);
    assert!(first.changes_anything());
    let live = carry_out(&file, &start, &first, NOW);
    let second = plan(&file, &live, options, NOW + 1000);
    assert!(!second.changes_anything(), "{:?}", lines(&second));
}

#[test]
fn labels_and_expiry_change_in_place() {
    let mut live = live_as_made(NOW);
    live[0].labels = Labels::from_pairs([(SCOPE_LABEL, "ci-pr-123"), ("branch", "old"), ("owner", "me")]).unwrap();
    live[0].expires_at = None;
    live[1].expires_at = Some(NOW + DAY);
    let plan = plan(&file(), &live, PlanOptions::default(), NOW);
    assert_eq!(
        lines(&plan),
        [
            "~ update pr-123-db (postgres for pr-123): labels branch=feature-x owner-; expiry never -> 2026-12-06T04:00:00Z",
            "~ update pr-123-key (secret for pr-123): expiry 2026-11-30T04:00:00Z -> never",
        ]
    );
    assert_eq!(plan.summary(&file()), "Plan: 2 to update.");
    assert_eq!(
        plan.to_json()[0],
        serde_json::json!({
            "name": "pr-123-db", "provider": "postgres", "app": "pr-123", "action": "update",
            "labels": { "set": { "branch": "feature-x" }, "remove": ["owner"] },
            "expires_at": { "from": null, "to": "2026-12-06T04:00:00Z" },
            "backup": null,
        })
    );
}

#[test]
fn expiry_is_renewed_when_less_than_half_is_left_or_more_than_all() {
    for (left, renewed) in [
        (7 * DAY, false),
        (4 * DAY, false),
        (7 * DAY / 2, false),
        (7 * DAY / 2 - 1, true),
        (DAY, true),
        (0, true),
        (-DAY, true),
        (7 * DAY + 1, true),
        (30 * DAY, true),
    ] {
        let mut live = live_as_made(NOW);
        live[0].expires_at = Some(NOW + left);
        let plan = plan(&file(), &live, PlanOptions::default(), NOW);
        let expected = if renewed {
            Action::Update {
                labels: vec![],
                expiry: Some(ExpiryChange { from: Some(NOW + left), to: Some(NOW + 7 * DAY) }),
                backup: None,
            }
        } else {
            Action::Keep
        };
        assert_eq!(plan.lines[0].action, expected, "{left} ms left");
    }
}

#[test]
fn provider_app_prefix_or_params_differing_is_a_conflict_or_with_replace_a_replace() {
    let mut live = live_as_made(NOW);
    live[0].spec = AddonSpec { provider: "mysql".into(), ..live[0].spec.clone() };
    live[1].spec.params.insert("length".into(), "32".into());
    live[1].spec.prefix = None;
    let conflicts = plan(&file(), &live, PlanOptions::default(), NOW);
    assert_eq!(
        lines(&conflicts),
        [
            "! conflict pr-123-db (postgres for pr-123): provider: asked postgres, exists as mysql (--replace deprovisions it and makes it anew)",
            "! conflict pr-123-key (secret for pr-123): prefix: asked --as SIGNING, exists with no prefix; param length: asked 64, exists with 32 (--replace deprovisions it and makes it anew)",
        ]
    );
    assert_eq!(conflicts.conflicts().count(), 2);
    assert_eq!(
        conflicts.summary(&file()),
        "2 conflicts: nothing will be changed; change the file, or give --replace to deprovision and remake them"
    );
    let replaced = plan(&file(), &live, PlanOptions { prune: false, replace: true, adopt: false }, NOW);
    assert_eq!(
        lines(&replaced),
        [
            "-/+ replace pr-123-db (postgres for pr-123): provider: asked postgres, exists as mysql, expires 2026-12-06T04:00:00Z",
            "-/+ replace pr-123-key (secret for pr-123): prefix: asked --as SIGNING, exists with no prefix; param length: asked 64, exists with 32",
        ]
    );
    assert_eq!(replaced.conflicts().count(), 0);
    assert_eq!(replaced.summary(&file()), "Plan: 2 to replace.");
    assert_eq!(replaced.to_json()[1]["action"], "replace");
}

#[test]
fn an_addon_of_another_scope_is_a_conflict_replace_does_not_override() {
    let mut live = live_as_made(NOW);
    live[1].labels = Labels::from_pairs([(SCOPE_LABEL, "ci-pr-9")]).unwrap();
    for replace in [false, true] {
        let plan = plan(&file(), &live, PlanOptions { prune: true, replace, adopt: false }, NOW);
        assert_eq!(
            plan.lines[1].to_string(),
            "! conflict pr-123-key (secret for pr-123): scope: asked ci-pr-123, belongs to the apply scope ci-pr-9"
        );
        assert_eq!(
            plan.summary(&file()),
            "1 conflict: nothing will be changed; change the file (an addon of another scope is not replaced)"
        );
        assert_eq!(plan.to_json()[1]["replaceable"], false);
    }
}

#[test]
fn an_addon_made_outside_any_apply_file_is_a_conflict_unless_adopted() {
    let mut live = live_as_made(NOW);
    live[1].labels = Labels::new();
    for replace in [false, true] {
        let plan = plan(&file(), &live, PlanOptions { prune: true, replace, adopt: false }, NOW);
        assert_eq!(
            plan.lines[1].to_string(),
            "! conflict pr-123-key (secret for pr-123): scope: asked ci-pr-123, made outside any apply file (--adopt takes it into this scope)"
        );
        assert_eq!(
            plan.summary(&file()),
            "1 conflict: nothing will be changed; change the file, or give --adopt to take them into this scope"
        );
        assert_eq!(
            (plan.to_json()[1]["replaceable"].clone(), plan.to_json()[1]["adoptable"].clone()),
            (false.into(), true.into())
        );
    }
    // Asked for: the scope label is added, and nothing else changes.
    let adopt = PlanOptions { adopt: true, ..PlanOptions::default() };
    let adopted = plan(&file(), &live, adopt, NOW);
    assert_eq!(adopted.lines[1].to_string(), "~ update pr-123-key (secret for pr-123): labels addons/scope=ci-pr-123");
    // Made otherwise than the file says: it takes both flags.
    live[1].spec.prefix = None;
    let conflict = plan(&file(), &live, adopt, NOW);
    assert!(conflict.lines[1]
        .to_string()
        .ends_with("exists with no prefix (--replace deprovisions it and makes it anew)"));
    let conflict = plan(&file(), &live, PlanOptions::default(), NOW);
    assert_eq!(
        conflict.summary(&file()),
        "1 conflict: nothing will be changed; change the file, or give --adopt to take them into this scope and --replace to deprovision and remake them"
    );
    let replaced = plan(&file(), &live, PlanOptions { replace: true, ..adopt }, NOW);
    assert_eq!(
        replaced.lines[1].action,
        Action::Replace {
            differences: vec!["prefix: asked --as SIGNING, exists with no prefix".into()],
            expires_at: None
        }
    );
}

#[test]
fn prune_removes_only_this_scopes_addons_that_the_file_left_out() {
    let mut live = live_as_made(NOW);
    let stray = |name: &str, labels: &[(&str, &str)]| LiveAddon {
        name: name.into(),
        spec: AddonSpec {
            provider: "redis".into(),
            app: "pr-123".into(),
            prefix: None,
            params: Default::default(),
            server: None,
        },
        labels: Labels::from_pairs(labels.iter().copied()).unwrap(),
        expires_at: None,
        backup_schedule: None,
    };
    live.push(stray("zz-old-cache", &[(SCOPE_LABEL, "ci-pr-123")]));
    live.push(stray("aa-old-cache", &[(SCOPE_LABEL, "ci-pr-123"), ("branch", "x")]));
    live.push(stray("other-scope", &[(SCOPE_LABEL, "ci-pr-1234")]));
    live.push(stray("by-hand", &[("branch", "feature-x")]));
    let pruned = plan(&file(), &live, PlanOptions { prune: true, replace: false, adopt: false }, NOW);
    assert_eq!(
        lines(&pruned)[2..],
        ["- remove aa-old-cache (redis for pr-123)", "- remove zz-old-cache (redis for pr-123)"]
    );
    assert_eq!(pruned.summary(&file()), "Plan: 2 to remove, 2 unchanged.");
    assert_eq!(
        pruned.to_json()[2],
        serde_json::json!({"name": "aa-old-cache", "provider": "redis", "app": "pr-123", "action": "remove"})
    );
    let kept = plan(&file(), &live, PlanOptions::default(), NOW);
    assert_eq!(kept.lines.len(), 2);
    assert_eq!(kept.unpruned, ["aa-old-cache", "zz-old-cache"]);
    assert_eq!(
        kept.summary(&file()),
        "Nothing to change: the live addons match addons.toml. 2 addons of scope ci-pr-123 not in the file (aa-old-cache, zz-old-cache): --prune would remove them."
    );
}

#[test]
fn a_file_with_only_a_scope_and_prune_is_a_teardown() {
    let empty = parse(Path::new("teardown.toml"), "scope = \"ci-pr-123\"").unwrap();
    let plan = plan(&empty, &live_as_made(NOW), PlanOptions { prune: true, replace: false, adopt: false }, NOW);
    assert_eq!(lines(&plan), ["- remove pr-123-db (postgres for pr-123)", "- remove pr-123-key (secret for pr-123)"]);
    assert_eq!(plan.summary(&empty), "Plan: 2 to remove.");
}

#[test]
fn every_action_has_its_json_shape() {
    let mut live = live_as_made(NOW);
    live.remove(1);
    let plan = plan(&file(), &live, PlanOptions::default(), NOW);
    assert_eq!(
        plan.to_json(),
        serde_json::json!([
            {"name": "pr-123-db", "provider": "postgres", "app": "pr-123", "action": "keep"},
            {"name": "pr-123-key", "provider": "secret", "app": "pr-123", "action": "create", "expires_at": null},
        ])
    );
    let mut conflicting = live_as_made(NOW);
    conflicting[0].spec.app = "web".into();
    let conflict = super::plan(&file(), &conflicting, PlanOptions::default(), NOW);
    assert_eq!(
        conflict.to_json()[0],
        serde_json::json!({
            "name": "pr-123-db", "provider": "postgres", "app": "pr-123", "action": "conflict",
            "differences": ["app: asked pr-123, exists on web"], "replaceable": true, "adoptable": false,
        })
    );
}

#[test]
fn a_changed_backup_schedule_is_an_update_in_place() {
    use crate::backup::Schedule;
    use std::time::Duration;
    let with = |keys: &str| {
        let text = FILE.replacen("expires_in = \"7d\"", &format!("expires_in = \"7d\"\n{keys}"), 1);
        parse(Path::new("addons.toml"), &text).unwrap()
    };
    let daily = Schedule { every: Duration::from_secs(86_400), keep: Some(7) };
    let daily_file = with("backup_every = \"1d\"\nbackup_keep = 7");
    assert_eq!(daily_file.addons[0].backup_schedule, Some(daily));
    // Given to an addon made without one: an update, nothing else changed.
    let live = live_as_made(NOW);
    let planned = plan(&daily_file, &live, PlanOptions::default(), NOW);
    let change = ScheduleChange { from: None, to: Some(daily) };
    assert_eq!(planned.lines[0].action, Action::Update { labels: vec![], expiry: None, backup: Some(change) });
    assert_eq!(
        planned.lines[0].to_string(),
        "~ update pr-123-db (postgres for pr-123): backups the app's -> every 1d, keep 7"
    );
    assert_eq!(planned.to_json()[0]["backup"]["to"], serde_json::json!({"every": "1d", "keep": 7}));
    assert_eq!(planned.to_json()[0]["backup"]["from"], serde_json::Value::Null);
    // Carried out, the same file keeps it.
    let after = carry_out(&daily_file, &live, &planned, NOW);
    assert!(!plan(&daily_file, &after, PlanOptions::default(), NOW).changes_anything());
    // Another interval or keep, or none, is an update again; never a conflict.
    let hourly = with("backup_every = \"1h\"");
    let planned = plan(&hourly, &after, PlanOptions::default(), NOW);
    assert_eq!(
        planned.lines[0].to_string(),
        "~ update pr-123-db (postgres for pr-123): backups every 1d, keep 7 -> every 1h, keep all"
    );
    let planned = plan(&file(), &after, PlanOptions::default(), NOW);
    assert_eq!(
        planned.lines[0].to_string(),
        "~ update pr-123-db (postgres for pr-123): backups every 1d, keep 7 -> the app's"
    );
    assert_eq!(planned.conflicts().count(), 0);
}
