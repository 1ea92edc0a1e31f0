//! Concurrency at scale, driving the real binary: 8 ticks at once over 2,000 addons
//! (every step exactly once, no locked-database failure, the same end state as one
//! tick loop); provision, deprovision, `config set` and tick interleaved on one app;
//! and a deprovision that overtakes a step in flight. Postgres addons join the big run
//! when ADDONS_TEST_POSTGRES_URL names a server, and every server provider whose server
//! is there (postgres, mysql, redis, rabbitmq, mqtt) the overtaken steps (skipped with a
//! notice otherwise, unless ADDONS_TEST_REQUIRE_SERVERS=1).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use addons::addon::{new_seed, Params};
use addons::names::generate_addon_id;
use addons::providers;
use addons::store::{now_ms, NewAddon, Store};
use common::servers::{self, connect_postgres, server, sqlite_traces, traces};
use common::{Run, TestEnv, Vars};
use serde_json::Value;

/// Addons of the big run (secret and sqlite, half each); postgres ones come on top.
const ADDONS: usize = 2000;
/// Tick processes started together in each round.
const TICKS: usize = 8;
/// Apps the addons are spread over, so many ticks write vars of the same app at once.
const APPS: usize = 40;
/// Postgres addons in the big run, when a server is there.
const POSTGRES_ADDONS: usize = 20;
/// No single process of these tests should take longer than this.
const PROCESS_LIMIT: Duration = Duration::from_secs(90);

// ---- helpers ------------------------------------------------------------------------

/// A running `addons` process whose output goes to files (a pipe could fill and stall it).
struct Proc {
    child: Child,
    label: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Starts `addons ARGS` in `env` with extra environment variables; the provider-call
/// log of `env` is always on.
fn start(env: &TestEnv, args: &[&str], extra: &[(&str, &str)]) -> Proc {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_dir = env.root().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let stdout = out_dir.join(format!("{n}.out"));
    let stderr = out_dir.join(format!("{n}.err"));
    let mut command = env.command(args);
    command
        .env("ADDONS_CALL_LOG", call_log(env))
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap());
    for (key, value) in extra {
        command.env(key, value);
    }
    let child = command.spawn().expect("start addons");
    Proc { child, label: format!("addons {}", args.join(" ")), stdout, stderr }
}

impl Proc {
    /// Waits for the process (killing it and failing after [`PROCESS_LIMIT`]).
    fn finish(mut self) -> Run {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > PROCESS_LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not finish within {PROCESS_LIMIT:?}", self.label);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&self.stdout).unwrap(),
            stderr: std::fs::read_to_string(&self.stderr).unwrap(),
        }
    }

    /// Waits, and asserts the process exited 0 without a word about a locked database.
    fn ok(self) -> Run {
        let label = self.label.clone();
        let run = self.finish();
        assert_eq!(run.code, 0, "{label} failed:\n{run}");
        assert!(!run.stderr.to_lowercase().contains("locked"), "{label} met a locked state file:\n{run}");
        run
    }
}

fn call_log(env: &TestEnv) -> PathBuf {
    env.root().join("calls.log")
}

/// The provider-call log: (operation, addon id) -> the pids that made that call.
fn calls(env: &TestEnv) -> BTreeMap<(String, String), Vec<u32>> {
    let mut out: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
    let text = std::fs::read_to_string(call_log(env)).unwrap_or_default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "a torn call-log line: {line:?}");
        out.entry((parts[1].to_string(), parts[2].to_string())).or_default().push(parts[0].parse().unwrap());
    }
    out
}

/// How many times `operation` was called for `id`.
fn count(calls: &BTreeMap<(String, String), Vec<u32>>, operation: &str, id: &str) -> usize {
    calls.get(&(operation.to_string(), id.to_string())).map_or(0, Vec::len)
}

/// Runs `tick --json` until no addon has pending work; returns the transitions seen.
fn tick_until_settled(env: &TestEnv, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["tick", "--json"];
    args.extend_from_slice(extra);
    let mut transitions = Vec::new();
    for _ in 0..20 {
        let report = start(env, &args, &[]).ok().json();
        transitions.extend(report["transitions"].as_array().unwrap().iter().cloned());
        if report["pending"] == 0 {
            return transitions;
        }
        // Work rescheduled by a tick is due strictly after the tick began.
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("still pending after 20 ticks");
}

/// Every addon as `list --all --json` shows it, by name.
fn addons_by_name(env: &TestEnv) -> BTreeMap<String, Value> {
    let list = env.json(["list", "--all", "--json"]);
    list.as_array().unwrap().iter().map(|addon| (addon["name"].as_str().unwrap().to_string(), addon.clone())).collect()
}

/// The recorded transitions of every addon, by name: (from, to, event), oldest first.
fn recorded_events(env: &TestEnv) -> BTreeMap<String, Vec<(Option<String>, String, String)>> {
    let rows = env.state_sql(
        "SELECT a.name, e.from_state, e.to_state, e.event FROM events e JOIN addons a ON a.id = e.addon_id \
         ORDER BY e.seq",
    );
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for row in rows {
        let [name, from, to, event] = <[Option<String>; 4]>::try_from(row).unwrap();
        out.entry(name.unwrap()).or_default().push((from, to.unwrap(), event.unwrap()));
    }
    out
}

fn event(from: Option<&str>, to: &str, event: &str) -> (Option<String>, String, String) {
    (from.map(str::to_string), to.to_string(), event.to_string())
}

/// The admin URL of the test postgres server, or `None` (with a notice) when there is
/// none and servers are not required.
fn postgres_server() -> Option<String> {
    server("postgres", "the postgres part of this stress test")
}

/// Drops, whatever happened, every postgres role and database a test may have made,
/// so a failing test leaves nothing on the server.
struct PostgresLeftovers {
    admin: String,
    ids: Vec<String>,
}

impl PostgresLeftovers {
    /// Guards these addons' postgres resources, when there is a server.
    fn guard(admin: Option<&str>, ids: Vec<String>) -> Option<PostgresLeftovers> {
        admin.map(|admin| PostgresLeftovers { admin: admin.to_string(), ids })
    }
}

impl Drop for PostgresLeftovers {
    fn drop(&mut self) {
        let Ok(mut client) = connect_postgres(&self.admin) else { return };
        for id in &self.ids {
            let name = format!("addons_{id}");
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE); DROP ROLE IF EXISTS \"{name}_0_0\"; \
                 DROP ROLE IF EXISTS \"{name}\";"
            ));
        }
    }
}

fn postgres_config(admin: Option<&str>) -> String {
    admin.map_or(String::new(), |url| servers::config("postgres", url))
}

/// Waits (up to 20 s) until `ready` holds.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---- 8 ticks over 2,000 addons -------------------------------------------------------

/// The addons of the big run: alternately secret and sqlite over [`APPS`] apps, each
/// with its own prefix, then the postgres ones.
fn big_run_addons(postgres: bool) -> Vec<NewAddon> {
    let deadline_at = now_ms() + 30 * 60 * 1000;
    let total = ADDONS + if postgres { POSTGRES_ADDONS } else { 0 };
    (0..total)
        .map(|i| {
            let provider = match i {
                i if i >= ADDONS => "postgres",
                i if i % 2 == 0 => "secret",
                _ => "sqlite",
            };
            let prefix = format!("A{i}");
            NewAddon {
                id: generate_addon_id(),
                name: format!("stress-{i:04}"),
                provider: provider.into(),
                app: format!("app-{:02}", i % APPS),
                vars: providers::info(provider)
                    .unwrap()
                    .vars
                    .iter()
                    .map(|v| addons::names::prefixed(Some(&prefix), v))
                    .collect(),
                prefix: Some(prefix),
                params: Params::new(),
                seed: new_seed(),
                deadline_at,
                // A claim that has run out, as a crashed `provision` would leave it before
                // begin_provision: the first tick to come takes the addon and begins it.
                claim: "created-by-the-stress-test:0:0".into(),
                lease: std::time::Duration::ZERO,
                labels: Default::default(),
                expires_at: None,
                source_id: None,
                backup_schedule: None,
                server: None,
            }
        })
        .collect()
}

fn create(env: &TestEnv, addons: &[NewAddon]) {
    let location = addons::store::StateLocation::parse(&env.state_location().to_string_lossy(), None).unwrap();
    let mut store = Store::open(location).unwrap();
    for addon in addons {
        store.insert_addon(addon).unwrap();
    }
}

/// Starts [`TICKS`] `tick --json` processes together, round after round, until a round
/// ends with nothing pending; returns the transitions they reported, by addon name.
fn tick_rounds(env: &TestEnv) -> BTreeMap<String, Vec<(String, String)>> {
    let started = Instant::now();
    let mut transitions: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for round in 1..=10 {
        let procs: Vec<Proc> = (0..TICKS).map(|_| start(env, &["tick", "--json"], &[])).collect();
        let mut pending = 0;
        for proc in procs {
            let report = proc.ok().json();
            pending = pending.max(report["pending"].as_u64().unwrap());
            for t in report["transitions"].as_array().unwrap() {
                let step = (t["from"].as_str().unwrap().to_string(), t["to"].as_str().unwrap().to_string());
                transitions.entry(t["name"].as_str().unwrap().to_string()).or_default().push(step);
            }
        }
        if pending == 0 {
            eprintln!("{TICKS} ticks at once: settled in {round} rounds, {:?}", started.elapsed());
            return transitions;
        }
        // Work rescheduled by a tick is due strictly after the tick began.
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("still pending after 10 rounds of {TICKS} ticks");
}

/// How many provider calls each process made, to show the work was shared out.
fn calls_per_process(log: &BTreeMap<(String, String), Vec<u32>>) -> Vec<usize> {
    let mut per_pid: BTreeMap<u32, usize> = BTreeMap::new();
    for pid in log.values().flatten() {
        *per_pid.entry(*pid).or_default() += 1;
    }
    per_pid.into_values().collect()
}

#[test]
fn eight_ticks_at_once_over_2000_addons_run_every_step_exactly_once() {
    let admin = postgres_server();
    let config = postgres_config(admin.as_deref());
    let addons = big_run_addons(admin.is_some());
    let _leftovers = PostgresLeftovers::guard(
        admin.as_deref(),
        addons.iter().filter(|a| a.provider == "postgres").map(|a| a.id.clone()).collect(),
    );
    let ticked = TestEnv::with_config(&config);
    let reference = TestEnv::with_config(&config);
    let started = Instant::now();
    create(&ticked, &addons);
    eprintln!("created {} addons in {:?}", addons.len(), started.elapsed());

    // Each step was reported once, by one tick.
    let transitions = tick_rounds(&ticked);
    let step = |from: &str, to: &str| (from.to_string(), to.to_string());
    assert_eq!(transitions.len(), addons.len(), "not every addon moved");
    for addon in &addons {
        let mut seen = transitions.get(&addon.name).cloned().unwrap_or_default();
        seen.sort();
        assert_eq!(
            seen,
            [step("provisioned", "ready"), step("waiting_for_provision", "provisioned")],
            "ticks reported these transitions of {}",
            addon.name
        );
    }

    // Each transition was recorded once, in order.
    let recorded = recorded_events(&ticked);
    let provisioned = [
        event(None, "waiting_for_provision", "provision"),
        event(Some("waiting_for_provision"), "provisioned", "provision_complete"),
        event(Some("provisioned"), "ready", "config_vars_set"),
    ];
    assert_eq!(recorded.len(), addons.len());
    for addon in &addons {
        assert_eq!(recorded[&addon.name], provisioned, "recorded transitions of {}", addon.name);
    }

    // Each provider operation ran once per addon, and the work was shared out.
    let log = calls(&ticked);
    assert!(!log.is_empty(), "no provider-call log: is {} built with --features failpoints?", common::BIN);
    assert_eq!(log.values().map(Vec::len).sum::<usize>(), 3 * addons.len(), "provider calls in all");
    for addon in &addons {
        for operation in ["begin_provision", "provision_complete", "get_config"] {
            assert_eq!(count(&log, operation, &addon.id), 1, "{operation} calls for {}", addon.name);
        }
    }
    let shares = calls_per_process(&log);
    eprintln!("provider calls per tick process: {shares:?}");
    assert!(shares.len() >= 2, "one tick did all the work; nothing was proved about concurrency");

    // The same end state as one tick loop (one process, one job) over the same addons.
    let started = Instant::now();
    create(&reference, &addons);
    tick_until_settled(&reference, &["--jobs", "1"]);
    eprintln!("one tick loop over the same addons: {:?}", started.elapsed());
    let states = |env: &TestEnv| -> BTreeMap<String, (String, String)> {
        addons_by_name(env)
            .into_iter()
            .map(|(name, a)| (name, (a["state"].as_str().unwrap().into(), a["cleanup"].as_str().unwrap().into())))
            .collect()
    };
    let ticked_states = states(&ticked);
    assert_eq!(ticked_states, states(&reference));
    assert!(ticked_states.values().all(|(state, _)| state == "ready"), "not every addon is ready");
    let (ticked_root, reference_root) = (ticked.root().display().to_string(), reference.root().display().to_string());
    for app in 0..APPS {
        let app = format!("app-{app:02}");
        let vars = ticked.vars(&app);
        let expected: BTreeSet<&String> = addons.iter().filter(|a| a.app == app).flat_map(|a| &a.vars).collect();
        assert_eq!(vars.keys().collect::<BTreeSet<_>>(), expected, "vars of {app}");
        assert!(vars.values().all(|v| !v.is_empty()), "an empty value on {app}");
        // Secret keys and passwords derive from the seed; only the data directory differs.
        let reference_vars: Vars =
            reference.vars(&app).into_iter().map(|(k, v)| (k, v.replace(&reference_root, &ticked_root))).collect();
        assert_eq!(vars, reference_vars, "vars of {app} differ from one tick loop's");
    }
    if let Some(addon) = addons.iter().find(|a| a.provider == "postgres") {
        let url = &ticked.vars(&addon.app)[&addon.vars[0]];
        connect_postgres(url)
            .unwrap_or_else(|err| panic!("the DATABASE_URL of {} does not connect: {err}", addon.name));
    }

    // Cleanup at scale: a tenth of the addons and every postgres one deprovisioned,
    // then 8 ticks at once: each cleanup runs once, and takes its resource and vars.
    let gone: Vec<&NewAddon> =
        addons.iter().enumerate().filter(|(i, a)| i % 10 == 3 || a.provider == "postgres").map(|(_, a)| a).collect();
    let gone_names: BTreeSet<&str> = gone.iter().map(|a| a.name.as_str()).collect();
    let mut args = vec!["deprovision"];
    args.extend(gone.iter().map(|a| a.name.as_str()));
    start(&ticked, &args, &[]).ok();
    let transitions = tick_rounds(&ticked);
    assert_eq!(transitions.len(), gone.len(), "cleanups reported");
    let now = addons_by_name(&ticked);
    let log = calls(&ticked);
    let recorded = recorded_events(&ticked);
    let mut cleaned = provisioned.to_vec();
    cleaned.push(event(Some("ready"), "deprovisioned", "deprovision"));
    cleaned.push(event(Some("deprovisioned"), "deprovisioned", "cleanup"));
    for addon in &gone {
        assert_eq!(transitions[&addon.name], [step("deprovisioned", "deprovisioned")]);
        assert_eq!(
            (now[&addon.name]["state"].as_str(), now[&addon.name]["cleanup"].as_str()),
            (Some("deprovisioned"), Some("done"))
        );
        assert_eq!(recorded[&addon.name], cleaned, "recorded transitions of {}", addon.name);
        assert_eq!(count(&log, "deprovision", &addon.id), 1, "deprovision calls for {}", addon.name);
        match addon.provider.as_str() {
            "sqlite" => assert_eq!(sqlite_traces(&ticked.sqlite_dir(), &addon.id), Vec::<String>::new()),
            "postgres" => assert_eq!(traces("postgres", admin.as_deref().unwrap(), &addon.id), Vec::<String>::new()),
            _ => {}
        }
    }
    assert_eq!(log.values().map(Vec::len).sum::<usize>(), 3 * addons.len() + gone.len(), "provider calls in all");
    for app in 0..APPS {
        let app = format!("app-{app:02}");
        let expected: BTreeSet<&String> = addons
            .iter()
            .filter(|a| a.app == app && !gone_names.contains(a.name.as_str()))
            .flat_map(|a| &a.vars)
            .collect();
        assert_eq!(ticked.vars(&app).keys().collect::<BTreeSet<_>>(), expected, "vars of {app} after cleanup");
    }
}

// ---- provision, deprovision, config set and tick interleaved on one app --------------

/// One addon the interleaving test provisions.
struct Planned {
    name: String,
    provider: &'static str,
    /// The wave whose `deprovision` removes it, if any.
    deprovisioned_in: Option<usize>,
}

#[test]
fn provision_deprovision_config_set_and_tick_interleaved_on_one_app_lose_nothing() {
    const WAVES: usize = 4;
    const PER_WAVE: usize = 6;
    let env = TestEnv::new();
    let env_file = env.root().join("shared.env");
    env.write_config(&format!("[apps.shared]\nenv_file = {:?}\n", env_file.display().to_string()));
    let mut planned: Vec<Planned> = Vec::new();
    let mut hand_set = Vars::new();
    let started = Instant::now();
    for wave in 0..WAVES {
        let mut procs = Vec::new();
        // Deprovision most addons of the wave before (secret and sqlite ones), whatever
        // state they reached; the first and fourth stay.
        for addon in planned.iter_mut().filter(|a| a.deprovisioned_in.is_none()) {
            let index: usize = addon.name.rsplit('p').next().unwrap().parse().unwrap();
            if !index.is_multiple_of(3) {
                addon.deprovisioned_in = Some(wave);
                procs.push(start(&env, &["deprovision", &addon.name], &[]));
            }
        }
        for i in 0..PER_WAVE {
            if wave < WAVES - 1 {
                let provider = if i % 2 == 0 { "secret" } else { "sqlite" };
                let name = format!("w{wave}-p{i}");
                let prefix = format!("w{wave}p{i}");
                let mut args = vec!["provision", provider, "shared", "--as", &prefix, "--name", &name];
                if i == 0 {
                    args.extend(["--wait", "--timeout", "60s"]);
                }
                procs.push(start(&env, &args, &[]));
                planned.push(Planned { name, provider, deprovisioned_in: None });
            }
            let key = format!("HAND_W{wave}_{i}");
            let value = format!("value {wave} {i}");
            procs.push(start(&env, &["config", "set", "shared", &format!("{key}={value}")], &[]));
            hand_set.insert(key, value);
            if i % 2 == 0 {
                procs.push(start(&env, &["tick"], &[]));
            }
        }
        if wave > 0 {
            // A var set in the wave before, set again: the later value wins.
            let key = format!("HAND_W{}_0", wave - 1);
            procs.push(start(&env, &["config", "set", "shared", &format!("{key}=again {wave}")], &[]));
            hand_set.insert(key, format!("again {wave}"));
        }
        for proc in procs {
            proc.ok();
        }
    }
    tick_until_settled(&env, &[]);
    eprintln!("interleaved: {} addons over {WAVES} waves settled in {:?}", planned.len(), started.elapsed());

    let now = addons_by_name(&env);
    let log = calls(&env);
    let recorded = recorded_events(&env);
    let overtaken: Vec<&str> = recorded
        .values()
        .flatten()
        .filter(|(_, to, event)| event == "deprovision" && to == "deprovisioned")
        .filter_map(|(from, _, _)| from.as_deref())
        .collect();
    eprintln!("deprovisioned from: {overtaken:?}");
    let mut expected = hand_set.clone();
    for addon in &planned {
        let shown = &now[&addon.name];
        let id = shown["id"].as_str().unwrap();
        if addon.deprovisioned_in.is_some() {
            assert_eq!((shown["state"].as_str(), shown["cleanup"].as_str()), (Some("deprovisioned"), Some("done")));
            assert_eq!(count(&log, "deprovision", id), 1, "deprovision calls for {}", addon.name);
            for operation in ["begin_provision", "provision_complete", "get_config"] {
                assert!(count(&log, operation, id) <= 1, "{operation} calls for {}", addon.name);
            }
            if addon.provider == "sqlite" {
                assert_eq!(sqlite_traces(&env.sqlite_dir(), id), Vec::<String>::new(), "left behind by {}", addon.name);
            }
        } else {
            assert_eq!(shown["state"], "ready", "{shown:#}");
            for operation in ["begin_provision", "provision_complete", "get_config"] {
                assert_eq!(count(&log, operation, id), 1, "{operation} calls for {}", addon.name);
            }
            assert_eq!(count(&log, "deprovision", id), 0);
            let info = env.json(["info", &addon.name, "--reveal", "--json"]);
            let config: Vars = serde_json::from_value(info["config"].clone()).unwrap();
            assert_eq!(
                config.keys().collect::<Vec<_>>(),
                shown["vars"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>()
            );
            expected.extend(config);
        }
    }
    assert!(
        planned.iter().any(|a| a.deprovisioned_in.is_some()) && planned.iter().any(|a| a.deprovisioned_in.is_none())
    );
    assert_eq!(env.vars("shared"), expected, "the app's vars after the dust settled");
    let dotenv = env.ok(["env", "shared", "--format", "dotenv"]).stdout;
    assert_eq!(std::fs::read_to_string(&env_file).unwrap(), dotenv, "the env file is behind the app's vars");
}

// ---- a deprovision overtakes a step in flight -----------------------------------------

/// What exists of the resource of addon `id` (empty when nothing does).
fn resource(env: &TestEnv, provider: &str, id: &str, admin: Option<&str>) -> Vec<String> {
    match (provider, admin) {
        ("sqlite", _) => sqlite_traces(&env.sqlite_dir(), id),
        (provider, Some(admin)) => traces(provider, admin, id),
        (other, None) => panic!("no probe for {other}"),
    }
}

/// Removes, whatever happened, what addon `id` left on the server of `provider`.
fn leftovers(provider: &'static str, admin: Option<&str>, id: &str) -> Option<servers::Sweep> {
    admin.map(|admin| servers::Sweep::new(provider, admin, id))
}

/// Runs `scenario(env, provider, addon name, admin URL)` for each provider with a
/// resource to leave behind: sqlite, and every server provider of the registry whose
/// server is there (postgres, mysql, redis, rabbitmq, mqtt). Each gets an environment of
/// its own.
fn for_each_provider_with_resources(scenario: impl Fn(&TestEnv, &'static str, &str, Option<&str>)) {
    let mut providers: Vec<(&'static str, Option<String>)> = vec![("sqlite", None)];
    for provider in common::providers::on_servers() {
        if let Some(admin) = server(provider, &format!("the {provider} part of this stress test")) {
            providers.push((provider, Some(admin)));
        }
    }
    for (provider, admin) in providers {
        let config = admin.as_deref().map_or(String::new(), |url| servers::config(provider, url));
        let env = TestEnv::with_config(&config);
        scenario(&env, provider, &format!("inflight-{provider}"), admin.as_deref());
    }
}

/// After the overtaken step: the addon settles deprovisioned with its cleanup done,
/// its resource gone, none of its vars on the app, and one deprovision call.
fn assert_deprovisioned_and_gone(env: &TestEnv, provider: &str, name: &str, admin: Option<&str>) {
    tick_until_settled(env, &[]);
    let addon = env.info(name);
    let id = addon["id"].as_str().unwrap();
    assert_eq!(
        (addon["state"].as_str(), addon["cleanup"].as_str()),
        (Some("deprovisioned"), Some("done")),
        "{addon:#}"
    );
    assert_eq!(resource(env, provider, id, admin), Vec::<String>::new(), "{provider} resource of {name} left behind");
    assert_eq!(env.vars(addon["app"].as_str().unwrap()), Vars::new(), "vars left on the app");
    assert_eq!(count(&calls(env), "deprovision", id), 1, "deprovision calls");
    let events: Vec<String> =
        recorded_events(env)[name].iter().map(|(_, to, event)| format!("{event}->{to}")).collect();
    assert_eq!(
        events,
        ["provision->waiting_for_provision", "deprovision->deprovisioned", "cleanup->deprovisioned"],
        "recorded transitions of {name}"
    );
}

/// How long the step in flight pauses: long enough for a deprovision and a tick to run meanwhile.
const PAUSE_MS: u64 = 4000;

/// A failpoint action that holds the process at `point` until `deprovision_meanwhile`
/// lets it go, however long the deprovision and the tick take on a loaded machine.
fn held_at(env: &TestEnv, point: &str) -> String {
    format!("{point}=until:{}", env.root().join("release").display())
}

/// While `in_flight` holds the addon's claim (paused by `held_at`): B deprovisions it
/// (its vars go at once), and C, a tick, must leave it alone (the cleanup can't overtake
/// the step in hand); then `in_flight` goes on.
fn deprovision_meanwhile(env: &TestEnv, name: &str, in_flight: &mut Proc) -> Value {
    let gone = start(env, &["deprovision", name, "--json"], &[]).ok().json();
    assert_eq!(gone["state"], "deprovisioned");
    assert_eq!(env.vars(gone["app"].as_str().unwrap()), Vars::new());
    let tick = start(env, &["tick", "--json"], &[]).ok().json();
    assert_eq!(tick["transitions"], serde_json::json!([]), "a tick overtook the step in flight");
    assert!(
        in_flight.child.try_wait().unwrap().is_none(),
        "{} finished before the deprovision and the tick did",
        in_flight.label
    );
    File::create(env.root().join("release")).unwrap();
    gone
}

#[test]
fn deprovision_while_a_tick_is_about_to_commit_the_provision_step() {
    for_each_provider_with_resources(|env, provider, name, admin| {
        // A provision that dies right after creating the row: waiting_for_provision,
        // begin_provision never called, and a claim of a dead process.
        let killed = start(
            env,
            &["provision", provider, "app-x", "--name", name],
            &[("ADDONS_FAILPOINT", "after-addon-insert")],
        )
        .finish();
        assert_eq!(killed.code, -1, "the provision was not killed at after-addon-insert:\n{killed}");
        let id = env.info(name)["id"].as_str().unwrap().to_string();
        let _leftovers = leftovers(provider, admin, &id);
        assert_eq!(calls(env).len(), 0, "begin_provision ran before the kill");

        // A: a tick that makes the resource, then pauses before committing the step.
        let pause = held_at(env, "before-step-commit");
        let mut tick = start(env, &["tick", "--json"], &[("ADDONS_FAILPOINT", &pause)]);
        let pid = tick.child.id();
        wait_until("the tick fetched the config", || {
            calls(env).get(&("get_config".to_string(), id.clone())).is_some_and(|pids| pids.contains(&pid))
        });
        assert!(!resource(env, provider, &id, admin).is_empty(), "the tick made no {provider} resource");
        deprovision_meanwhile(env, name, &mut tick);
        let report = tick.ok().json();
        assert_eq!(report["transitions"], serde_json::json!([]), "the overtaken step was committed");
        assert_deprovisioned_and_gone(env, provider, name, admin);
        let log = calls(env);
        for operation in ["begin_provision", "provision_complete", "get_config"] {
            assert_eq!(count(&log, operation, &id), 1, "{operation} calls");
        }
    });
}

#[test]
fn deprovision_while_provision_is_between_begin_and_handing_over() {
    for_each_provider_with_resources(|env, provider, name, admin| {
        // A: a provision that pauses right after begin_provision made the resource.
        let pause = held_at(env, "after-begin-provision");
        let mut provision =
            start(env, &["provision", provider, "app-y", "--name", name, "--json"], &[("ADDONS_FAILPOINT", &pause)]);
        let pid = provision.child.id();
        wait_until("provision called begin_provision", || {
            calls(env).iter().any(|((operation, _), pids)| operation == "begin_provision" && pids.contains(&pid))
        });
        let id = env.info(name)["id"].as_str().unwrap().to_string();
        let _leftovers = leftovers(provider, admin, &id);
        wait_until("the resource exists", || !resource(env, provider, &id, admin).is_empty());
        let gone = deprovision_meanwhile(env, name, &mut provision);
        let provisioned = provision.ok().json();
        assert_eq!(provisioned["state"], "deprovisioned", "{provisioned:#}");
        assert_eq!(provisioned["message"], gone["message"], "the overtaken begin_provision wrote over the message");
        assert_deprovisioned_and_gone(env, provider, name, admin);
        let log = calls(env);
        assert_eq!(count(&log, "begin_provision", &id), 1);
        assert_eq!(count(&log, "provision_complete", &id) + count(&log, "get_config", &id), 0);
    });
}

#[test]
fn wait_notices_when_another_process_finishes_the_step() {
    let env = TestEnv::new();
    env.write_config("");
    env.ok(["provision", "secret", "app-w", "--name", "waited"]);
    // A: a tick that claims the addon and pauses before committing its step.
    let pause = format!("before-step-commit=sleep:{PAUSE_MS}");
    let tick = start(&env, &["tick"], &[("ADDONS_FAILPOINT", &pause)]);
    wait_until("the tick fetched the config", || !calls(&env).is_empty());
    // B: waits for the addon A holds; it can't run the step itself, so it must notice
    // when A (and a tick after it) finish, well before its timeout.
    let started = Instant::now();
    let waiter = start(&env, &["wait", "waited", "--timeout", "60s"], &[]);
    tick.ok();
    env.ok(["tick"]);
    let run = waiter.ok();
    assert!(started.elapsed() < Duration::from_secs(30), "wait took {:?}:\n{run}", started.elapsed());
    assert_eq!(env.info("waited")["state"], "ready");
}
