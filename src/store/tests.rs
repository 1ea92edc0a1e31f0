//! The store suite: every test is written once over [`Store`] and run against each
//! backend through a maker (`fn() -> Store` giving a fresh, empty state). A backend
//! joins with one line: `every_store_test!(name, maker);`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::addon::{new_seed, Addon, Cleanup, Glance, Params};
use crate::credential::Access;
use crate::machine::{Event, State};

/// Runs every test of the suite against the stores `$maker` makes.
macro_rules! every_store_test {
    ($backend:ident, $maker:path) => {
        store_suite!(
            $backend,
            $maker,
            [
                creation_reserves_vars_and_records_provision,
                a_step_keeps_what_was_written_after_its_claim,
                names_and_vars_belong_to_one_live_addon,
                steps_follow_the_machine,
                deprovision_releases_vars_and_keeps_a_claim_in_flight,
                a_failure_is_kept_and_its_cleanup_does_not_overwrite_it,
                a_refused_step_is_rolled_back_alone,
                a_step_refused_after_its_writes_undoes_them_alone,
                claims_are_exclusive_until_released_or_expired,
                a_lost_claim_drops_the_result,
                a_failed_attempt_is_counted_and_logged,
                mark_begun_needs_the_claim,
                vars_set_by_hand_and_env_file_versions,
                hooks_are_due_with_the_vars_claimed_once_and_retried,
                an_attachment_is_work_until_its_step_commits_and_goes_with_the_addon,
                a_same_value_rotation_has_a_read_only_attachment_made_again,
                a_check_holds_the_claim_as_a_step_does,
                a_dead_checks_claim_is_taken_over_and_its_due_time_goes,
                glances_are_read_in_one_go_and_say_what_the_records_say,
            ]
        );
    };
}

macro_rules! store_suite {
    ($backend:ident, $maker:path, [$($test:ident),* $(,)?]) => {
        mod $backend {
            $(
                #[test]
                fn $test() {
                    super::$test($maker());
                }
            )*
        }
    };
}

fn sqlite_store() -> Store {
    Store::open_in_memory().expect("in-memory state")
}

every_store_test!(sqlite, super::sqlite_store);
every_store_test!(postgres, crate::store::postgres::testing::store);

const CREATOR: &str = "creator";
const TICK: &str = "tick";
const LEASE: Duration = Duration::from_secs(300);

fn new_addon(name: &str, app: &str, vars: &[&str]) -> NewAddon {
    NewAddon {
        id: format!("{:016x}", rand::random::<u64>()),
        name: name.into(),
        provider: "secret".into(),
        app: app.into(),
        prefix: None,
        params: Params::new(),
        seed: new_seed(),
        vars: vars.iter().map(|v| v.to_string()).collect(),
        deadline_at: i64::MAX,
        claim: CREATOR.into(),
        lease: LEASE,
        labels: Default::default(),
        expires_at: None,
        source_id: None,
        backup_schedule: None,
        server: None,
    }
}

/// An addon created and handed over to ticks, as `provision` leaves it.
fn created(store: &mut Store, name: &str, app: &str, vars: &[&str]) -> Addon {
    let addon = store.insert_addon(&new_addon(name, app, vars)).unwrap();
    store.release_claim(&addon.id, CREATOR).unwrap();
    store.addon(&addon.id).unwrap()
}

fn claim(store: &mut Store, id: &str) -> Addon {
    let claimed = store.claim_due(TICK, i64::MAX, LEASE, 16, Some(&[id.to_string()])).unwrap();
    assert_eq!(claimed.len(), 1, "{id} was not claimable");
    claimed.into_iter().next().unwrap()
}

fn transition(event: Event, message: &str, config: Option<&[(&str, &str)]>) -> Apply {
    Apply::Transition {
        event,
        message: message.into(),
        config: config.map(|pairs| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
    }
}

/// Drives an addon to `ready` with these config values.
fn ready(store: &mut Store, name: &str, app: &str, config: &[(&str, &str)]) -> Addon {
    let vars: Vec<&str> = config.iter().map(|(key, _)| *key).collect();
    let addon = created(store, name, app, &vars);
    let seen = claim(store, &addon.id);
    store.finish_step(&seen, TICK, transition(Event::ProvisionComplete, "provisioned", Some(config))).unwrap();
    let seen = claim(store, &addon.id);
    store.finish_step(&seen, TICK, transition(Event::ConfigVarsSet, "set", None)).unwrap();
    store.addon(&addon.id).unwrap()
}

fn event_names(store: &Store, id: &str) -> Vec<String> {
    store.events(id).unwrap().into_iter().map(|event| event.event).collect()
}

fn creation_reserves_vars_and_records_provision(mut store: Store) {
    let addon = store.insert_addon(&new_addon("first", "myapp", &["SECRET_KEY"])).unwrap();
    assert_eq!(addon.state, State::WaitingForProvision);
    assert_eq!((addon.message.as_str(), addon.cleanup, addon.begun), ("provisioning", Cleanup::None, false));
    assert_eq!(addon.claim.as_deref(), Some(CREATOR));
    assert!(addon.due_at.is_some());
    let stored = store.addon("first").unwrap();
    assert_eq!((stored.id, stored.vars, stored.seed), (addon.id.clone(), addon.vars.clone(), addon.seed.clone()));
    let events = store.events(&addon.id).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].from.as_deref(), events[0].to.as_str(), events[0].event.as_str()),
        (None, "waiting_for_provision", "provision")
    );
    // Reserved, not yet set: the app knows the addon but has no values.
    assert!(store.app_exists("myapp").unwrap());
    assert!(store.config_vars("myapp").unwrap().is_empty());
    assert_eq!(store.pending_count(None).unwrap(), 1);
    assert_eq!(store.app_names().unwrap(), ["myapp"]);
}

fn names_and_vars_belong_to_one_live_addon(mut store: Store) {
    let first = created(&mut store, "db", "myapp", &["DATABASE_URL"]);
    let err = store.insert_addon(&new_addon("db", "other", &["X"])).unwrap_err();
    assert_eq!(refused(&err), &Refused::NameTaken { name: "db".into() });
    let err = store.insert_addon(&new_addon("db2", "myapp", &["DATABASE_URL"])).unwrap_err();
    assert!(
        matches!(refused(&err), Refused::VarTaken { holder: Holder::Addon(name), key, .. } if name == "db" && key == "DATABASE_URL")
    );
    store.set_config_vars("myapp", &[("PLAIN".into(), "1".into())]).unwrap();
    let err = store.insert_addon(&new_addon("db3", "myapp", &["PLAIN"])).unwrap_err();
    assert!(matches!(refused(&err), Refused::VarTaken { holder: Holder::Hand, .. }), "{err:#}");
    assert_eq!(store.addon_names(false).unwrap(), ["db"], "a refused creation wrote nothing");

    store.deprovision(&first.id).unwrap();
    let second = created(&mut store, "db", "myapp", &["DATABASE_URL"]);
    assert_eq!(store.addon("db").unwrap().id, second.id, "the live addon wins over the deprovisioned one");
    assert_eq!(store.addon(&first.id).unwrap().state, State::Deprovisioned);
    let live: Vec<String> = store.list_addons(None, false).unwrap().into_iter().map(|a| a.id).collect();
    assert_eq!(live, std::slice::from_ref(&second.id));
    assert_eq!(store.list_addons(Some("myapp"), true).unwrap().len(), 2);
    assert_eq!(store.addon_names(true).unwrap(), ["db"]);
    let err = store.addon("dc").unwrap_err();
    assert_eq!(refused(&err), &Refused::NoAddon { name: "dc".into(), near: None });
}

fn steps_follow_the_machine(mut store: Store) {
    let addon = created(&mut store, "s", "myapp", &["SECRET_KEY"]);
    let seen = claim(&mut store, &addon.id);
    let config = [("SECRET_KEY", "hunter2")];
    let outcome =
        store.finish_step(&seen, TICK, transition(Event::ProvisionComplete, "provisioned", Some(&config))).unwrap();
    let outcome = outcome.expect("a transition");
    assert_eq!(
        (outcome.from, outcome.to, outcome.event.as_str()),
        (State::WaitingForProvision, State::Provisioned, "provision_complete")
    );
    let provisioned = store.addon(&addon.id).unwrap();
    assert_eq!(provisioned.state, State::Provisioned);
    assert_eq!(provisioned.config, Some(BTreeMap::from([("SECRET_KEY".to_string(), "hunter2".to_string())])));
    assert!(provisioned.due_at.is_some() && provisioned.claim.is_none());
    assert!(store.config_vars("myapp").unwrap().is_empty(), "not set before config_vars_set");

    let before = store.env_file_behind("myapp").unwrap();
    let seen = claim(&mut store, &addon.id);
    store.finish_step(&seen, TICK, transition(Event::ConfigVarsSet, "set", None)).unwrap();
    let ready = store.addon(&addon.id).unwrap();
    assert_eq!((ready.state, ready.due_at, ready.attempts), (State::Ready, None, 0));
    let vars = store.config_vars("myapp").unwrap();
    assert_eq!(vars, [ConfigVar { key: "SECRET_KEY".into(), value: "hunter2".into(), addon: Some("s".into()) }]);
    assert_ne!(store.env_file_behind("myapp").unwrap(), before, "setting vars bumps the app's version");
    assert_eq!(store.pending_count(None).unwrap(), 0);
    assert_eq!(store.next_due(None).unwrap(), None);
    assert_eq!(event_names(&store, &addon.id), ["provision", "provision_complete", "config_vars_set"]);
}

/// A step whose row another write changed after the claim (a relabel here) applies its
/// result to the row as it is now: the step moves the addon, the other write stays.
fn a_step_keeps_what_was_written_after_its_claim(mut store: Store) {
    let addon = created(&mut store, "w", "myapp", &["SECRET_KEY"]);
    let seen = claim(&mut store, &addon.id);
    let labels = crate::labels::Labels::from_pairs([("team", "core")]).unwrap();
    store.relabel(&addon.id, |_| Ok(labels.clone())).unwrap();
    let config = [("SECRET_KEY", "hunter2")];
    store.finish_step(&seen, TICK, transition(Event::ProvisionComplete, "provisioned", Some(&config))).unwrap();
    let after = store.addon(&addon.id).unwrap();
    assert_eq!((after.state, &after.labels, after.claim.as_deref()), (State::Provisioned, &labels, None));
    assert!(after.version > seen.version, "every write counts the row's version up");
    // With nothing written since its claim, the next step commits from what it claimed.
    let seen = claim(&mut store, &addon.id);
    store.finish_step(&seen, TICK, transition(Event::ConfigVarsSet, "set", None)).unwrap();
    let ready = store.addon(&addon.id).unwrap();
    assert_eq!((ready.state, &ready.labels, ready.config, ready.claim), (State::Ready, &labels, after.config, None));
}

fn deprovision_releases_vars_and_keeps_a_claim_in_flight(mut store: Store) {
    let addon = ready(&mut store, "r", "myapp", &[("SECRET_KEY", "v")]);
    let version = store.config_vars_at_version("myapp").unwrap().1;
    let (gone, changed) = store.deprovision(&addon.id).unwrap();
    assert!(changed);
    assert_eq!(
        (gone.state, gone.cleanup, gone.message.as_str()),
        (State::Deprovisioned, Cleanup::Pending, "deprovisioning")
    );
    assert!(gone.due_at.is_some());
    assert_eq!(store.config_vars_at_version("myapp").unwrap(), (vec![], version + 1));
    let last = store.events(&addon.id).unwrap().pop().unwrap();
    assert_eq!((last.event.as_str(), last.message.as_str()), ("deprovision", "deprovision requested"));
    assert!(!store.deprovision(&addon.id).unwrap().1, "a terminal addon is left as it is");

    // A creator's claim in flight survives the deprovision; its result is dropped.
    let waiting = store.insert_addon(&new_addon("w", "myapp", &["W"])).unwrap();
    let (gone, _) = store.deprovision(&waiting.id).unwrap();
    assert_eq!(gone.claim.as_deref(), Some(CREATOR));
    let dropped =
        store.finish_step(&waiting, CREATOR, transition(Event::ProvisionComplete, "late", Some(&[("W", "x")])));
    assert_eq!(dropped.unwrap(), None);
    let after = store.addon(&waiting.id).unwrap();
    assert_eq!((after.state, after.claim, after.config), (State::Deprovisioned, None, None));

    let seen = claim(&mut store, &waiting.id);
    let outcome = store.finish_step(&seen, TICK, Apply::CleanupDone { message: "removed".into() }).unwrap().unwrap();
    assert_eq!(
        (outcome.from, outcome.to, outcome.event.as_str()),
        (State::Deprovisioned, State::Deprovisioned, "cleanup")
    );
    let done = store.addon(&waiting.id).unwrap();
    assert_eq!((done.cleanup, done.due_at, done.message.as_str()), (Cleanup::Done, None, "removed"));
    assert_eq!(store.hidden_counts(None).unwrap(), (0, 1), "r still waits for its cleanup");
}

fn a_failure_is_kept_and_its_cleanup_does_not_overwrite_it(mut store: Store) {
    let addon = created(&mut store, "f", "myapp", &["F"]);
    let seen = claim(&mut store, &addon.id);
    store.finish_step(&seen, TICK, transition(Event::Fail, "the server refused", None)).unwrap();
    let failed = store.addon(&addon.id).unwrap();
    assert_eq!((failed.state, failed.cleanup), (State::Error, Cleanup::Pending));
    assert_eq!(failed.failure.as_deref(), Some("the server refused"));
    assert_eq!(store.insert_addon(&new_addon("f2", "myapp", &["F"])).map(|a| a.name).unwrap(), "f2", "F was released");
    let seen = claim(&mut store, &addon.id);
    store.finish_step(&seen, TICK, Apply::CleanupDone { message: "orphan cleanup: gone".into() }).unwrap();
    let cleaned = store.addon(&addon.id).unwrap();
    assert_eq!(cleaned.failure.as_deref(), Some("the server refused"));
    assert_eq!(cleaned.message, "orphan cleanup: gone");
    assert_eq!(store.hidden_counts(Some("myapp")).unwrap(), (1, 0));
}

fn a_refused_step_is_rolled_back_alone(mut store: Store) {
    let a = created(&mut store, "a", "myapp", &["A"]);
    let b = created(&mut store, "b", "myapp", &["B"]);
    let claimed = store.claim_due(TICK, i64::MAX, LEASE, 16, None).unwrap();
    assert_eq!(claimed.len(), 2);
    let seen = |id: &str| claimed.iter().find(|addon| addon.id == id).unwrap().clone();
    let results = store
        .finish_steps(
            TICK,
            vec![
                // Not allowed from waiting_for_provision: the store refuses it.
                (seen(&a.id), transition(Event::ConfigVarsSet, "too early", None)),
                (seen(&b.id), transition(Event::ProvisionComplete, "provisioned", Some(&[("B", "1")]))),
            ],
        )
        .unwrap();
    assert!(matches!(&results[0].1, Err(StepRefusal(why)) if why.contains("cannot take the event")), "{results:?}");
    assert!(matches!(&results[1].1, Ok(Some(_))), "{results:?}");
    let a_now = store.addon(&a.id).unwrap();
    assert_eq!(
        (a_now.state, a_now.claim.as_deref()),
        (State::WaitingForProvision, Some(TICK)),
        "rolled back, claim kept"
    );
    assert_eq!(event_names(&store, &a.id), ["provision"]);
    assert_eq!(store.addon(&b.id).unwrap().state, State::Provisioned);
}

/// A step refused after it wrote its row (a config var it should fill is not the
/// addon's) undoes that write and nothing of the steps around it, which are written
/// once: the first try of the batch, which had no savepoints, left nothing behind.
fn a_step_refused_after_its_writes_undoes_them_alone(mut store: Store) {
    let a = created(&mut store, "a", "myapp", &["A"]);
    let b = created(&mut store, "b", "myapp", &["B"]);
    let c = created(&mut store, "c", "myapp", &["C"]);
    let seen = claim(&mut store, &c.id);
    let unreserved = Some(&[("NOT_RESERVED", "1")][..]);
    store.finish_step(&seen, TICK, transition(Event::ProvisionComplete, "provisioned", unreserved)).unwrap();
    let c_before = store.addon(&c.id).unwrap();
    let c_events = event_names(&store, &c.id);
    let claimed = store.claim_due(TICK, i64::MAX, LEASE, 16, None).unwrap();
    assert_eq!(claimed.len(), 3);
    let seen = |id: &str| claimed.iter().find(|addon| addon.id == id).unwrap().clone();
    let results = store
        .finish_steps(
            TICK,
            vec![
                (seen(&b.id), transition(Event::ProvisionComplete, "provisioned", Some(&[("B", "1")]))),
                (seen(&c.id), transition(Event::ConfigVarsSet, "set", None)),
                (seen(&a.id), transition(Event::ProvisionComplete, "provisioned", Some(&[("A", "1")]))),
            ],
        )
        .unwrap();
    assert!(matches!(&results[0].1, Ok(Some(_))), "{results:?}");
    assert!(matches!(&results[1].1, Err(StepRefusal(why)) if why.contains("NOT_RESERVED")), "{results:?}");
    assert!(matches!(&results[2].1, Ok(Some(_))), "{results:?}");
    let c_now = store.addon(&c.id).unwrap();
    assert_eq!((c_now.state, c_now.claim.as_deref()), (State::Provisioned, Some(TICK)), "rolled back, claim kept");
    assert_eq!((c_now.message, c_now.updated_at), (c_before.message, c_before.updated_at));
    assert_eq!(event_names(&store, &c.id), c_events);
    for id in [&a.id, &b.id] {
        assert_eq!(store.addon(id).unwrap().state, State::Provisioned);
        assert_eq!(event_names(&store, id), ["provision", "provision_complete"], "{id}");
    }
}

fn claims_are_exclusive_until_released_or_expired(mut store: Store) {
    let ids: Vec<String> = (0..5).map(|i| created(&mut store, &format!("c{i}"), "myapp", &[]).id).collect();
    let first = store.claim_due("one", i64::MAX, LEASE, 2, None).unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|addon| addon.claim.as_deref() == Some("one") && addon.claim_until.is_some()));
    let rest = store.claim_due("two", i64::MAX, LEASE, 16, None).unwrap();
    assert_eq!(rest.len(), 3, "the other three, not the claimed two");
    assert!(store.claim_due("three", i64::MAX, LEASE, 16, None).unwrap().is_empty());
    let only = store.claim_due("three", i64::MAX, LEASE, 16, Some(&ids[..1])).unwrap();
    assert!(only.is_empty(), "claimed is claimed, with or without only");
    // Nothing is due before it was created.
    assert_eq!(store.pending_count(Some(&ids[..2])).unwrap(), 2);

    assert_eq!(store.expire_dead_claims(|token| token == "one").unwrap(), 2);
    let retaken = store.claim_due("three", i64::MAX, LEASE, 16, None).unwrap();
    assert_eq!(retaken.len(), 2, "a dead holder's claims are taken over at once");
    store.release_claim(&retaken[0].id, "someone else").unwrap();
    assert_eq!(store.addon(&retaken[0].id).unwrap().claim.as_deref(), Some("three"), "only the holder releases");
    store.release_claim(&retaken[0].id, "three").unwrap();
    assert_eq!(store.claim_due("four", i64::MAX, LEASE, 16, None).unwrap().len(), 1);

    // A claimed addon is due again when its lease runs out.
    let next = store.next_due(None).unwrap().unwrap();
    assert!(next >= store.now().unwrap() + LEASE.as_millis() as i64 - 60_000, "{next}");
    let zero = created(&mut store, "z", "myapp", &[]);
    assert_eq!(store.claim_due("short", i64::MAX, Duration::ZERO, 16, None).unwrap().len(), 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let taken = store.claim_due("after", i64::MAX, LEASE, 16, Some(std::slice::from_ref(&zero.id))).unwrap();
        if !taken.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "an expired lease was never taken over");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn a_lost_claim_drops_the_result(mut store: Store) {
    let addon = created(&mut store, "l", "myapp", &["L"]);
    let seen = claim(&mut store, &addon.id);
    let result = store.finish_step(&seen, "not the holder", transition(Event::Fail, "nope", None)).unwrap();
    assert_eq!(result, None);
    let after = store.addon(&addon.id).unwrap();
    assert_eq!((after.state, after.claim.as_deref()), (State::WaitingForProvision, Some(TICK)));
}

fn a_failed_attempt_is_counted_and_logged(mut store: Store) {
    let addon = created(&mut store, "t", "myapp", &["T"]);
    let seen = claim(&mut store, &addon.id);
    let due_at = store.now().unwrap() + 60_000;
    let error = Some(AttemptError { message: "timed out".into(), permanent: true });
    let outcome =
        store.finish_step(&seen, TICK, Apply::Retry { due_at, message: "retrying".into(), error }).unwrap().unwrap();
    assert_eq!(outcome.event, FAILED_ATTEMPT);
    assert!(outcome.message.starts_with("attempt 1 failed: timed out; next try in"), "{}", outcome.message);
    let after = store.addon(&addon.id).unwrap();
    assert_eq!((after.attempts, after.due_at, after.claim), (1, Some(due_at), None));
    assert_eq!((after.last_error.as_deref(), after.last_error_permanent), (Some("timed out"), true));
    assert_eq!(event_names(&store, &addon.id), ["provision", FAILED_ATTEMPT]);
    assert_eq!(store.next_due(None).unwrap(), Some(due_at));
    // Waiting for the provider is no failed attempt.
    let seen = store.claim_due(TICK, due_at, LEASE, 1, None).unwrap().pop().unwrap();
    store.finish_step(&seen, TICK, Apply::Retry { due_at, message: "waiting".into(), error: None }).unwrap();
    assert_eq!(store.addon(&addon.id).unwrap().attempts, 1);
}

fn mark_begun_needs_the_claim(mut store: Store) {
    let addon = store.insert_addon(&new_addon("b", "myapp", &[])).unwrap();
    assert!(!store.mark_begun(&addon.id, "someone else", "begun").unwrap());
    assert!(!store.addon(&addon.id).unwrap().begun);
    assert!(store.mark_begun(&addon.id, CREATOR, "creating the resource").unwrap());
    let after = store.addon(&addon.id).unwrap();
    assert_eq!(
        (after.begun, after.message.as_str(), after.claim.as_deref()),
        (true, "creating the resource", Some(CREATOR))
    );
}

fn vars_set_by_hand_and_env_file_versions(mut store: Store) {
    assert_eq!(store.env_file_behind("web").unwrap(), None);
    store.set_config_vars("web", &[("B".into(), "2".into()), ("A".into(), "1".into())]).unwrap();
    let keys: Vec<String> = store.config_vars("web").unwrap().into_iter().map(|var| var.key).collect();
    assert_eq!(keys, ["A", "B"]);
    let behind = store.env_file_behind("web").unwrap().expect("the env file is behind");
    store.mark_env_file_written("web", behind).unwrap();
    assert_eq!(store.env_file_behind("web").unwrap(), None);

    ready(&mut store, "owned", "web", &[("OWNED", "x")]);
    let err = store.set_config_vars("web", &[("OWNED".into(), "y".into())]).unwrap_err();
    assert!(matches!(refused(&err), Refused::VarOwned { addon, key, .. } if addon == "owned" && key == "OWNED"));
    let err = store.unset_config_vars("web", &["NOPE".into()]).unwrap_err();
    assert_eq!(refused(&err), &Refused::NoVar { app: "web".into(), key: "NOPE".into() });
    store.unset_config_vars("web", &["A".into()]).unwrap();
    let keys: Vec<String> = store.config_vars("web").unwrap().into_iter().map(|var| var.key).collect();
    assert_eq!(keys, ["B", "OWNED"]);

    store.record_env_file_failure("web", "disk full").unwrap();
    assert_eq!(store.env_file_failures().unwrap(), [("web".to_string(), "disk full".to_string())]);
    let behind = store.env_file_behind("web").unwrap().unwrap();
    store.mark_env_file_written("web", behind).unwrap();
    assert!(store.env_file_failures().unwrap().is_empty());
    let owned = store.addon("owned").unwrap();
    assert_eq!(store.apps_of(&[owned.id]).unwrap(), ["web"]);
}

fn hook_run(app: &str, vars_version: i64, result: &str) -> HookRun {
    let now = now_ms();
    HookRun {
        app: app.into(),
        vars_version,
        started_at: now,
        finished_at: now,
        result: result.into(),
        exit_status: Some(i32::from(result != "ok")),
        output: "out".into(),
    }
}

fn hooks_are_due_with_the_vars_claimed_once_and_retried(mut store: Store) {
    assert!(store.claim_hook("web", TICK, LEASE).unwrap().is_none(), "an unknown app has no hook due");
    store.set_config_vars("web", &[("A".into(), "1".into())]).unwrap();
    // Claimed by one tick at a time, with the vars of the version it claims.
    let claimed = store.claim_hook("web", TICK, LEASE).unwrap().expect("due after a change");
    assert_eq!((claimed.vars_version, claimed.attempts, claimed.vars.len()), (1, 0, 1));
    assert!(store.claim_hook("web", "other", LEASE).unwrap().is_none(), "claimed twice");
    // A failure: retried after `retry_at`, the claim released.
    let later = now_ms() + 60_000;
    store.finish_hook(&hook_run("web", 1, "failed"), TICK, later, "failed").unwrap();
    let status = store.hook_status("web").unwrap().unwrap();
    assert_eq!((status.hook_version, status.attempts, status.due_at), (0, 1, Some(later)));
    assert!(store.claim_hook("web", "other", LEASE).unwrap().is_none(), "retried before its backoff");
    // A new change is due at once, and the run coalesces both versions.
    store.set_config_vars("web", &[("A".into(), "2".into())]).unwrap();
    let claimed = store.claim_hook("web", "other", LEASE).unwrap().expect("due at once after a change");
    assert_eq!(claimed.vars_version, 2);
    store.finish_hook(&hook_run("web", 2, "ok"), "other", 0, "ok").unwrap();
    let status = store.hook_status("web").unwrap().unwrap();
    assert_eq!((status.vars_version, status.hook_version, status.attempts, status.due_at), (2, 2, 0, None));
    assert!(store.claim_hook("web", TICK, LEASE).unwrap().is_none(), "up to date");
    // A claim whose holder died is freed with the addons' claims.
    store.set_config_vars("web", &[("A".into(), "3".into())]).unwrap();
    store.claim_hook("web", "dead", LEASE).unwrap().expect("due");
    assert_eq!(store.expire_dead_claims(|token| token == "dead").unwrap(), 1);
    assert!(store.claim_hook("web", TICK, LEASE).unwrap().is_some(), "the dead tick's claim was not freed");
    // Runs newest first, the oldest dropped past the number kept.
    for version in 0..HOOK_RUNS_KEPT as i64 {
        store.finish_hook(&hook_run("web", version, "failed"), TICK, 0, "failed").unwrap();
    }
    let runs = store.hook_runs("web").unwrap();
    assert_eq!(runs.len(), HOOK_RUNS_KEPT);
    assert_eq!(runs[0].vars_version, HOOK_RUNS_KEPT as i64 - 1);
}

fn an_attachment_is_work_until_its_step_commits_and_goes_with_the_addon(mut store: Store) {
    let addon = ready(&mut store, "shared", "web", &[("SECRET_KEY", "v1")]);
    assert_eq!(store.pending_count(None).unwrap(), 0);
    let (_, attachment, made) = store.attach(&addon.id, ("worker", None, Access::ReadWrite), &["SECRET_KEY"]).unwrap();
    assert!(made);
    assert_eq!((attachment.slot, attachment.state), (1, crate::attachment::AttachmentState::Attaching));
    assert_eq!(store.pending_count(None).unwrap(), 1, "an attachment to make is work left");
    assert!(store.config_vars("worker").unwrap().is_empty(), "reserved vars have no value yet");
    let seen = claim(&mut store, &addon.id);
    let config = BTreeMap::from([("SECRET_KEY".to_string(), "v1".to_string())]);
    let apply = Apply::Made { slot: 1, generation: 0, shared: false, config, message: "attached".into() };
    store.finish_step(&seen, TICK, apply).unwrap();
    assert_eq!(store.pending_count(None).unwrap(), 0);
    assert_eq!(store.config_vars("worker").unwrap()[0].value, "v1");
    assert_eq!(store.addon(&addon.id).unwrap().attachments[0].state.as_str(), "attached");
    // A second attach of the app with another prefix is refused with nothing written;
    // the same attachment asked again is the one in place.
    let err = store.attach(&addon.id, ("worker", Some("OTHER"), Access::ReadWrite), &["SECRET_KEY"]).unwrap_err();
    let already = Refused::AttachedAlready { addon: addon.name.clone(), app: "worker".into(), prefix: None };
    assert_eq!(refused(&err), &already);
    let (_, same, made) = store.attach(&addon.id, ("worker", None, Access::ReadWrite), &["SECRET_KEY"]).unwrap();
    assert_eq!((same.slot, made), (1, false));
    // ... but not with the other access: a login keeps the access it was made with.
    let err = store.attach(&addon.id, ("worker", None, Access::ReadOnly), &["SECRET_KEY"]).unwrap_err();
    let other =
        Refused::AttachedOtherAccess { addon: addon.name.clone(), app: "worker".into(), access: Access::ReadWrite };
    assert_eq!(refused(&err), &other);
    // A detach that overtakes a step in flight: the step's result leaves it detaching.
    let (_, again, _) = store.attach(&addon.id, ("jobs", Some("JOBS"), Access::ReadWrite), &["SECRET_KEY"]).unwrap();
    assert_eq!(again.slot, 2);
    let seen = claim(&mut store, &addon.id);
    store.detach(&addon.id, "jobs").unwrap();
    let config = BTreeMap::from([("JOBS_SECRET_KEY".to_string(), "v1".to_string())]);
    store
        .finish_step(&seen, TICK, Apply::Made { slot: 2, generation: 0, shared: false, config, message: "late".into() })
        .unwrap();
    assert!(store.config_vars("jobs").unwrap().is_empty(), "a late attach step filled a detached app's vars");
    assert_eq!(store.pending_count(None).unwrap(), 1, "the detach's revoke is left");
    // The addon's deprovision ends every attachment and takes every app's vars.
    let (gone, _) = store.deprovision(&addon.id).unwrap();
    assert!(gone.attachments.is_empty(), "{:?}", gone.attachments);
    assert!(store.config_vars("worker").unwrap().is_empty());
    let events = event_names(&store, &addon.id);
    assert_eq!(events.iter().filter(|e| *e == "detached").count(), 2, "{events:?}");
}

fn claimed(taken: Taken) -> Addon {
    match taken {
        Taken::Claimed(addon) => *addon,
        other => panic!("the check was not taken: {other:?}"),
    }
}

fn a_same_value_rotation_has_a_read_only_attachment_made_again(mut store: Store) {
    let addon = ready(&mut store, "shared", "web", &[("DATABASE_URL", "v1")]);
    let attach = |store: &mut Store, app, access| store.attach(&addon.id, (app, None, access), &["DATABASE_URL"]);
    attach(&mut store, "worker", Access::ReadWrite).unwrap();
    let (_, reader, _) = attach(&mut store, "reports", Access::ReadOnly).unwrap();
    assert_eq!(reader.access, Access::ReadOnly);
    for (slot, value) in [(1, "v1"), (2, "v1 read-only")] {
        let seen = claim(&mut store, &addon.id);
        let config = BTreeMap::from([("DATABASE_URL".to_string(), value.to_string())]);
        let made = Apply::Made { slot, generation: 0, shared: true, config, message: "attached".into() };
        store.finish_step(&seen, TICK, made).unwrap();
    }
    assert_eq!(store.pending_count(None).unwrap(), 0);
    // The addon's own value is replaced: the read-write app is handed it at once, the
    // read-only one keeps its value until a tick makes it again from the new one.
    store.rotate(&addon.id, None).unwrap();
    let seen = claim(&mut store, &addon.id);
    let config = BTreeMap::from([("DATABASE_URL".to_string(), "v2".to_string())]);
    store
        .finish_step(&seen, TICK, Apply::Made { slot: 0, generation: 1, shared: true, config, message: "r".into() })
        .unwrap();
    assert_eq!(store.config_vars("worker").unwrap()[0].value, "v2");
    assert_eq!(store.config_vars("reports").unwrap()[0].value, "v1 read-only");
    let reader = store.addon(&addon.id).unwrap().attachments.into_iter().find(|t| t.app == "reports").unwrap();
    assert_eq!(
        (reader.state, reader.access, reader.login.generation),
        (crate::attachment::AttachmentState::Attaching, Access::ReadOnly, 1)
    );
    assert_eq!(store.pending_count(None).unwrap(), 1, "the read-only value to make again is work left");
    let seen = claim(&mut store, &addon.id);
    let config = BTreeMap::from([("DATABASE_URL".to_string(), "v2 read-only".to_string())]);
    store
        .finish_step(&seen, TICK, Apply::Made { slot: 2, generation: 1, shared: true, config, message: "m".into() })
        .unwrap();
    assert_eq!(store.config_vars("reports").unwrap()[0].value, "v2 read-only");
    assert_eq!(store.pending_count(None).unwrap(), 0);
}

fn a_check_holds_the_claim_as_a_step_does(mut store: Store) {
    let addon = ready(&mut store, "checked", "myapp", &[("SECRET_KEY", "v")]);
    assert_eq!(addon.due_at, None);
    let taken = claimed(store.take_check(&addon.id, "check", LEASE, None).unwrap());
    assert_eq!(taken.claim.as_deref(), Some("check"));
    assert!(matches!(store.take_check(&addon.id, "other", LEASE, None).unwrap(), Taken::Busy));
    // A rotation asked meanwhile waits for the check; the check sees it.
    store.rotate(&addon.id, Some(Duration::ZERO)).unwrap();
    assert!(store.claim_due(TICK, i64::MAX, LEASE, 16, None).unwrap().is_empty(), "a tick took a checked addon");
    let now = store.renew_check(&addon.id, "check", LEASE).unwrap().expect("the check still holds it");
    assert_eq!((now.login.generation, now.login.vars_generation), (1, Some(0)));
    let found = ["role gone".to_string()];
    let findings = Findings { found: &found, repaired: &found, left: None };
    store.finish_check(&taken, "check", Some(findings)).unwrap();
    assert_eq!(event_names(&store, &addon.id)[3..], ["rotate", "drift", "repaired"]);
    let seen = claim(&mut store, &addon.id);
    assert_eq!(seen.login.generation, 1, "the rotation is due once the check let go");

    // An addon with nothing due is not due after its check; one deprovisioned during
    // its check has its cleanup due once the check lets go, and is not repaired.
    let idle = ready(&mut store, "idle", "myapp", &[("IDLE", "v")]);
    let taken = claimed(store.take_check(&idle.id, "check", LEASE, None).unwrap());
    store.finish_check(&taken, "check", None).unwrap();
    let after = store.addon(&idle.id).unwrap();
    assert_eq!((after.claim, after.due_at, after.verified_at.is_some()), (None, None, true));
    assert!(matches!(store.take_check(&idle.id, "check", LEASE, Some(None)).unwrap(), Taken::Elsewhere));
    let taken = claimed(store.take_check(&idle.id, "check", LEASE, Some(after.verified_at)).unwrap());
    store.deprovision(&idle.id).unwrap();
    assert!(store.claim_due(TICK, i64::MAX, LEASE, 16, None).unwrap().is_empty(), "the cleanup overtook the check");
    assert!(store.renew_check(&idle.id, "check", LEASE).unwrap().is_none());
    store.finish_check(&taken, "check", Some(findings)).unwrap();
    assert!(
        !event_names(&store, &idle.id).contains(&"drift".to_string()),
        "a deprovisioned addon's check was recorded"
    );
    assert_eq!(claim(&mut store, &idle.id).state, State::Deprovisioned);
    assert!(matches!(store.take_check(&idle.id, "check", LEASE, None).unwrap(), Taken::NotReady(State::Deprovisioned)));
}

fn a_dead_checks_claim_is_taken_over_and_its_due_time_goes(mut store: Store) {
    let addon = ready(&mut store, "dead", "myapp", &[("SECRET_KEY", "v")]);
    claimed(store.take_check(&addon.id, "dead", LEASE, None).unwrap());
    assert_eq!(store.expire_dead_claims(|token| token == "dead").unwrap(), 1, "a check's claim is found");
    // The claim is gone but the due time it set is left: the tick that finds nothing
    // to do puts it back, so the addon is not taken again and again.
    let seen = claim(&mut store, &addon.id);
    store.release_idle(&seen.id, TICK).unwrap();
    let after = store.addon(&addon.id).unwrap();
    assert_eq!((after.claim, after.due_at), (None, None));
    assert_eq!(store.next_due(None).unwrap(), None);
}

/// What the store refused, from an error it returned.
fn refused(err: &anyhow::Error) -> &Refused {
    err.downcast_ref::<Refused>().unwrap_or_else(|| panic!("not a refusal: {err:#}"))
}

/// A live display reads glances, not records: each must say what its whole record
/// says, `moving` included (worked out in SQL, and by `has_pending_work` in Rust).
fn glances_are_read_in_one_go_and_say_what_the_records_say(mut store: Store) {
    let web = ready(&mut store, "cache", "web", &[("SECRET_KEY", "one")]);
    let api = created(&mut store, "queue", "api", &["QUEUE_KEY"]);
    let other = created(&mut store, "other", "api", &["OTHER_KEY"]);
    let (gone, _) = store.deprovision(&other.id).unwrap();
    let ids = [web.id.clone(), "0000000000000000".to_string(), api.id.clone(), gone.id.clone()];
    let mut read = store.glances(&ids).unwrap();
    read.sort_by(|a, b| a.name.cmp(&b.name));
    let mut records: Vec<Glance> =
        [&web.id, &api.id, &gone.id].into_iter().map(|id| Glance::of(&store.addon(id).unwrap())).collect();
    records.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(read, records);
    let moving: Vec<(&str, bool)> = read.iter().map(|glance| (glance.name.as_str(), glance.moving)).collect();
    assert_eq!(moving, [("cache", false), ("other", true), ("queue", true)]);
    assert!(store.glances(&[]).unwrap().is_empty());
    let mut moving: Vec<String> = store.moving_glances().unwrap().into_iter().map(|glance| glance.name).collect();
    moving.sort();
    assert_eq!(moving, ["other", "queue"]);
}
