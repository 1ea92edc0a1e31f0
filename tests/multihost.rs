//! Many hosts, one state: four "hosts" (each under `unshare --uts --pid`, so hostnames
//! differ and pids collide), each running ticks and a `watch` at once on the state of
//! one TestEnv (whichever backend it uses). Over 2,000 secret addons and 20 postgres
//! ones every step and every provider call happens exactly once, with no lock error,
//! ending where one loop ends; and when one whole host is SIGKILLed mid-tick, the others
//! finish its work once its lease runs out, not before. Skipped with a notice where
//! `unshare` is not permitted (unless ADDONS_TEST_REQUIRE_SERVERS=1); the postgres part
//! likewise without ADDONS_TEST_POSTGRES_URL.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::hosts::{self, count, now_ms, read_calls, Calls, Finished, Host, Plan, Planned};
use common::servers::{self, connect_postgres, traces};
use common::TestEnv;
use serde_json::Value;

/// Secret addons of the big run.
const SECRET_ADDONS: usize = 2000;
/// Postgres addons of the big run, when a server is there.
const POSTGRES_ADDONS: usize = 20;
/// Apps the addons are spread over, so hosts write vars of the same app at once.
const APPS: usize = 40;
/// The hosts.
const HOSTS: [&str; 4] = ["host1", "host2", "host3", "host4"];
/// `tick` runs each host makes in a row, while its `watch` runs.
const PLAN: Plan = Plan { ticks: 3 };
/// `provision` processes at once while the addons are made.
const PROVISIONERS: usize = 8;

// ---- helpers ------------------------------------------------------------------------

/// `secret` secret addons and `postgres` postgres ones over `apps` apps, each with a
/// prefix of its own.
fn planned(secret: usize, postgres: usize, apps: usize) -> Vec<Planned> {
    (0..secret + postgres)
        .map(|i| Planned {
            provider: if i < secret { "secret" } else { "postgres" }.into(),
            app: format!("app-{:02}", i % apps),
            name: format!("fleet-{i:04}"),
            prefix: format!("A{i}"),
        })
        .collect()
}

/// Every addon as `list --all --json` shows it, by name.
fn addons_by_name(env: &TestEnv) -> BTreeMap<String, Value> {
    let list = env.json(["list", "--all", "--json"]);
    list.as_array().unwrap().iter().map(|addon| (addon["name"].as_str().unwrap().to_string(), addon.clone())).collect()
}

/// The steps the hosts reported, by addon name: (from, to), sorted.
fn steps_by_name(finished: &[Finished]) -> BTreeMap<String, Vec<(String, String)>> {
    let mut steps: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (name, from, to) in finished.iter().flat_map(Finished::transitions) {
        steps.entry(name).or_default().push((from, to));
    }
    steps.values_mut().for_each(|seen| seen.sort());
    steps
}

fn step(from: &str, to: &str) -> (String, String) {
    (from.to_string(), to.to_string())
}

/// Asserts the hosts reported each provisioning step of every planned addon once.
fn assert_provisioned_once(finished: &[Finished], planned: &[Planned]) {
    let steps = steps_by_name(finished);
    assert_eq!(steps.len(), planned.len(), "not every addon moved");
    for addon in planned {
        assert_eq!(
            steps[&addon.name],
            [step("provisioned", "ready"), step("waiting_for_provision", "provisioned")],
            "the hosts reported these steps of {}",
            addon.name
        );
    }
}

/// The call logs of several hosts, added up.
fn merged(logs: &[Calls]) -> Calls {
    let mut out = Calls::new();
    for log in logs {
        for (key, pids) in log {
            out.entry(key.clone()).or_default().extend(pids);
        }
    }
    out
}

/// Runs `plan` on every one of `names` at once and waits for them all.
fn run_hosts(env: &TestEnv, names: &[&str]) -> (Vec<Finished>, Vec<Calls>) {
    let started: Vec<Host> = names.iter().map(|name| Host::start(env, name, &PLAN, &[])).collect();
    let logs_at: Vec<_> = started.iter().map(|host| host.dir.join("calls.log")).collect();
    let finished: Vec<Finished> = started.into_iter().map(Host::finish).collect();
    let logs = logs_at.iter().map(|path| read_calls(path)).collect();
    (finished, logs)
}

/// Asserts each host ran cleanly under its own hostname.
fn assert_hosts_ok(finished: &[Finished], names: &[&str]) {
    for host in finished {
        host.assert_ok();
    }
    let seen: Vec<&str> = finished.iter().map(|host| host.hostname.as_str()).collect();
    assert_eq!(seen, names, "each host runs under its own hostname");
}

/// Asserts an app's config vars are exactly those of its live addons, none empty.
fn assert_vars(env: &TestEnv, addons: &BTreeMap<String, Value>) {
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for addon in addons.values().filter(|addon| addon["state"] == "ready") {
        let vars = addon["vars"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string());
        expected.entry(addon["app"].as_str().unwrap().to_string()).or_default().extend(vars);
    }
    let mut values = BTreeSet::new();
    for (app, keys) in &expected {
        let vars = env.vars(app);
        assert_eq!(&vars.keys().cloned().collect::<BTreeSet<_>>(), keys, "config vars of {app}");
        for (key, value) in vars {
            assert!(!value.is_empty(), "{key} of {app} is empty");
            assert!(values.insert(value), "{key} of {app} has another addon's value");
        }
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time (`2026-11-29T04:29:18Z`).
fn epoch_seconds(time: &str) -> i64 {
    let field = |range: std::ops::Range<usize>| -> i64 { time[range].parse().unwrap() };
    let (year, month, day) = (field(0..4), field(5..7), field(8..10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    days * 86_400 + field(11..13) * 3600 + field(14..16) * 60 + field(17..19)
}

/// Drops, whatever happened, the postgres role and database of every postgres addon
/// in `env`, so a failing test leaves nothing on the server.
struct PostgresLeftovers<'a> {
    admin: String,
    env: &'a TestEnv,
}

impl Drop for PostgresLeftovers<'_> {
    fn drop(&mut self) {
        let run = self.env.run(["list", "--all", "--json"]);
        let Ok(Value::Array(addons)) = serde_json::from_str::<Value>(&run.stdout) else { return };
        let Ok(mut client) = connect_postgres(&self.admin) else { return };
        for addon in addons.iter().filter(|addon| addon["provider"] == "postgres") {
            let Some(id) = addon["id"].as_str() else { continue };
            let name = format!("addons_{id}");
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE); DROP ROLE IF EXISTS \"{name}_0_0\"; \
                 DROP ROLE IF EXISTS \"{name}\";"
            ));
        }
    }
}

// ---- four hosts over 2,000 secret and 20 postgres addons ----------------------------

#[test]
fn four_hosts_run_every_step_and_provider_call_exactly_once() {
    if !hosts::available("the multi-host suite") {
        return;
    }
    let admin = servers::server("postgres", "the postgres part of the multi-host suite");
    let config = admin.as_deref().map_or(String::new(), |url| servers::config("postgres", url));
    let env = TestEnv::with_config(&config);
    let _leftovers = admin.clone().map(|admin| PostgresLeftovers { admin, env: &env });
    let planned = planned(SECRET_ADDONS, if admin.is_some() { POSTGRES_ADDONS } else { 0 }, APPS);
    let setup_log = env.root().join("provision-calls.log");
    let started = Instant::now();
    hosts::provision_all(&env, &planned, PROVISIONERS, &setup_log);
    eprintln!("provisioned {} addons in {:?}", planned.len(), started.elapsed());
    let ids: BTreeMap<String, String> = addons_by_name(&env)
        .into_iter()
        .map(|(name, addon)| (name, addon["id"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(ids.len(), planned.len());

    let started = Instant::now();
    let (finished, logs) = run_hosts(&env, &HOSTS);
    eprintln!("{} hosts settled {} addons in {:?}", HOSTS.len(), planned.len(), started.elapsed());
    assert_hosts_ok(&finished, &HOSTS);

    // Each step was reported once, by one process of one host.
    assert_provisioned_once(&finished, &planned);

    // Each provider call was made once: begin_provision by `provision`, the rest by
    // exactly one host.
    let setup = read_calls(&setup_log);
    let calls = merged(&logs);
    assert!(!setup.is_empty(), "no provider-call log: is {} built with --features failpoints?", common::BIN);
    assert_eq!(setup.values().map(Vec::len).sum::<usize>(), planned.len(), "provider calls of provision");
    assert_eq!(calls.values().map(Vec::len).sum::<usize>(), 2 * planned.len(), "provider calls of the hosts");
    for addon in &planned {
        let id = &ids[&addon.name];
        assert_eq!(count(&setup, "begin_provision", id), 1, "begin_provision calls for {}", addon.name);
        for operation in ["provision_complete", "get_config"] {
            assert_eq!(count(&calls, operation, id), 1, "{operation} calls for {}", addon.name);
        }
    }
    let shares: Vec<usize> = logs.iter().map(|log| log.values().map(Vec::len).sum()).collect();
    eprintln!("provider calls per host: {shares:?}");
    assert!(shares.iter().filter(|&&n| n > 0).count() >= 2, "one host did all the work; nothing was proved");
    // The hosts' processes had the same pid numbers: only the host identity told them apart.
    let pids: Vec<BTreeSet<u32>> = logs.iter().map(|log| log.values().flatten().copied().collect()).collect();
    let collide = pids.iter().enumerate().any(|(i, a)| pids[i + 1..].iter().any(|b| !a.is_disjoint(b)));
    assert!(collide, "no pid was used on two hosts: {pids:?}");

    // The end state of one loop: every addon ready, every var there with its own value.
    let addons = addons_by_name(&env);
    for (name, addon) in &addons {
        assert_eq!((addon["state"].as_str(), addon["cleanup"].as_str()), (Some("ready"), Some("none")), "{name}");
        assert_eq!(addon["pending"], false, "{name}");
    }
    assert_vars(&env, &addons);
    for addon in planned.iter().filter(|addon| addon.provider == "postgres") {
        let url = &env.vars(&addon.app)[&format!("{}_DATABASE_URL", addon.prefix)];
        connect_postgres(url)
            .unwrap_or_else(|err| panic!("the DATABASE_URL of {} does not connect: {err}", addon.name));
    }

    // Cleanup across hosts: every postgres addon and one secret addon in a hundred
    // deprovisioned, then the four hosts again: each cleanup once, nothing left.
    let gone: Vec<&Planned> =
        planned.iter().enumerate().filter(|(i, a)| i % 100 == 7 || a.provider == "postgres").map(|(_, a)| a).collect();
    let mut args = vec!["deprovision", "-q"];
    args.extend(gone.iter().map(|addon| addon.name.as_str()));
    env.ok(args);
    let (finished, logs) = run_hosts(&env, &HOSTS);
    assert_hosts_ok(&finished, &HOSTS);
    let steps = steps_by_name(&finished);
    assert_eq!(steps.len(), gone.len(), "cleanups reported");
    let calls = merged(&logs);
    assert_eq!(calls.values().map(Vec::len).sum::<usize>(), gone.len(), "provider calls of the cleanup");
    let addons = addons_by_name(&env);
    for addon in &gone {
        let id = &ids[&addon.name];
        assert_eq!(steps[&addon.name], [step("deprovisioned", "deprovisioned")], "cleanup of {}", addon.name);
        assert_eq!(count(&calls, "deprovision", id), 1, "deprovision calls for {}", addon.name);
        let shown = &addons[&addon.name];
        assert_eq!((shown["state"].as_str(), shown["cleanup"].as_str()), (Some("deprovisioned"), Some("done")));
        if let Some(admin) = &admin {
            if addon.provider == "postgres" {
                assert_eq!(traces("postgres", admin, id), Vec::<String>::new(), "left behind by {}", addon.name);
            }
        }
    }
    assert_vars(&env, &addons);
}

// ---- one host killed mid-tick --------------------------------------------------------

/// The lease of the kill test (`engine.claim_timeout`).
const LEASE_MS: i64 = 5000;

#[test]
fn a_host_killed_mid_tick_has_its_work_finished_by_the_others_after_its_lease() {
    if !hosts::available("the multi-host kill test") {
        return;
    }
    let env = TestEnv::with_config(&format!("[engine]\nclaim_timeout = \"{LEASE_MS}ms\"\n"));
    let planned = planned(300, 0, 10);
    let setup_log = env.root().join("provision-calls.log");
    hosts::provision_all(&env, &planned, PROVISIONERS, &setup_log);
    let ids: BTreeMap<String, String> = addons_by_name(&env)
        .into_iter()
        .map(|(name, addon)| (name, addon["id"].as_str().unwrap().to_string()))
        .collect();

    // The doomed host claims work and stops before committing any of it.
    let (survivors, doomed_name) = (&HOSTS[..3], HOSTS[3]);
    let doomed = Host::start(&env, doomed_name, &PLAN, &[("ADDONS_FAILPOINT", "before-step-commit=sleep:120000")]);
    let has_calls =
        |log: &std::path::Path| read_calls(log).keys().any(|(operation, _)| operation == "provision_complete");
    let wait_until = |what: &str, ready: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !ready() {
            assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let doomed_log = doomed.dir.join("calls.log");
    wait_until("the doomed host holds claims", &|| has_calls(&doomed_log));
    let running: Vec<Host> = survivors.iter().map(|name| Host::start(&env, name, &PLAN, &[])).collect();
    let logs_at: Vec<_> = running.iter().map(|host| host.dir.join("calls.log")).collect();
    wait_until("the other hosts are at work", &|| logs_at.iter().any(|log| has_calls(log)));
    let (doomed_started, doomed_dir) = (doomed.started_at, doomed.dir.clone());
    let killed_at = now_ms();
    doomed.kill();
    // No claim of the doomed host is older than its start, so none runs out before this.
    let lease_ends = doomed_started + LEASE_MS;
    assert!(
        killed_at + 1000 < lease_ends,
        "the doomed host was killed {} ms after it started: too late to tell an early takeover from a late one",
        killed_at - doomed_started
    );
    let finished: Vec<Finished> = running.into_iter().map(Host::finish).collect();
    assert_hosts_ok(&finished, survivors);
    let finished_files: Vec<_> = std::fs::read_dir(&doomed_dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".code"))
        .collect();
    assert_eq!(finished_files, Vec::<String>::new(), "a process of the killed host finished");

    // The survivors made every call once; the dead host's calls come on top, at most
    // one per addon.
    let dead = read_calls(&doomed_log);
    let calls = merged(&logs_at.iter().map(|path| read_calls(path)).collect::<Vec<_>>());
    let claimed: BTreeSet<&String> =
        dead.keys().filter(|(operation, _)| operation == "provision_complete").map(|(_, id)| id).collect();
    eprintln!("the killed host had begun {} addons", claimed.len());
    assert!(!claimed.is_empty());
    for addon in &planned {
        let id = &ids[&addon.name];
        for operation in ["provision_complete", "get_config"] {
            assert_eq!(count(&calls, operation, id), 1, "{operation} calls by the survivors for {}", addon.name);
            assert!(count(&dead, operation, id) <= 1, "{operation} calls by the killed host for {}", addon.name);
        }
        for log in [&calls, &dead] {
            assert_eq!(count(log, "begin_provision", id), 0, "begin_provision was the provision's");
        }
    }

    // Each step once, every addon ready, every var there.
    assert_provisioned_once(&finished, &planned);
    let addons = addons_by_name(&env);
    assert!(addons.values().all(|addon| addon["state"] == "ready"), "not every addon is ready");
    assert_vars(&env, &addons);

    // The survivors could not see the dead host's processes: they took its addons over
    // only when its lease ran out.
    let names: BTreeMap<&String, &String> = ids.iter().map(|(name, id)| (id, name)).collect();
    for id in &claimed {
        let log = env.json(["log", names[id], "--json"]);
        let provisioned = log.as_array().unwrap().iter().find(|event| event["to"] == "provisioned").unwrap();
        let at = epoch_seconds(provisioned["at"].as_str().unwrap());
        assert!(
            at >= lease_ends.div_euclid(1000),
            "{} was taken over at {} (killed at {killed_at} ms, lease over at {lease_ends} ms)",
            names[id],
            provisioned["at"]
        );
    }
}

#[test]
fn epoch_seconds_reads_rfc3339_times() {
    assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), 0);
    assert_eq!(epoch_seconds("2000-03-01T00:00:01Z"), 951_868_801);
    assert_eq!(epoch_seconds("2026-11-29T04:29:18Z"), 1_795_926_558);
}
