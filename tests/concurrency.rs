//! Ticks started together over a few hundred addons: every addon advances exactly
//! once per step, and no tick fails or reports the state file locked.

use crate::common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use rstest::rstest;
use serde_json::Value;

use common::TestEnv;

/// Apps to make; each gets a secret and a sqlite addon, 300 addons in all.
const APPS: usize = 150;
/// Processes that make the addons at the same time.
const MAKERS: usize = 8;

/// Runs `work(i)` for every i in 0..n on `MAKERS` threads.
fn in_parallel(n: usize, work: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..MAKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                work(i);
            });
        }
    });
}

/// Starts `processes` ticks at once and waits for all of them; returns each one's
/// `--json` report. Fails the test when any tick fails or mentions a lock.
fn tick_together(env: &TestEnv, processes: usize, jobs: &str) -> Vec<Value> {
    let mut commands: Vec<Command> = (0..processes)
        .map(|_| {
            let mut command = env.command(["tick", "--json", "--jobs", jobs]);
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            command
        })
        .collect();
    // Spawn them all before waiting on any, so they run together.
    let children: Vec<_> = commands.iter_mut().map(|c| c.spawn().expect("start tick")).collect();
    children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("tick ran");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "a tick failed ({}):\n{stderr}", output.status);
            assert!(!stderr.to_lowercase().contains("locked"), "a tick hit the lock:\n{stderr}");
            assert_eq!(stderr, "", "a tick complained");
            serde_json::from_str(&stdout).unwrap_or_else(|err| panic!("tick printed no JSON ({err}):\n{stdout}"))
        })
        .collect()
}

#[rstest]
#[case::two_ticks_one_job_each(2, "1")]
#[case::two_ticks_four_jobs_each(2, "4")]
#[case::four_ticks_four_jobs_each(4, "4")]
fn ticks_started_together_advance_each_addon_once_per_step(#[case] processes: usize, #[case] jobs: &str) {
    let env = TestEnv::new();
    // Create the state file first, so the makers don't all race to create it.
    env.ok(["provision", "secret", "app-0"]);
    in_parallel(APPS * 2, |i| {
        if i == 0 {
            return;
        }
        let provider = if i % 2 == 0 { "secret" } else { "sqlite" };
        env.ok(["provision", provider, &format!("app-{}", i / 2)]);
    });
    let addons = env.json(["list", "--json"]);
    let names: Vec<String> =
        addons.as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.len(), APPS * 2);
    assert!(addons.as_array().unwrap().iter().all(|a| a["state"] == "waiting_for_provision"));

    // Every transition any tick reported: (addon, from, to) -> how many times.
    let mut reported: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 6, "work still left after {} rounds of ticks", rounds - 1);
        let reports = tick_together(&env, processes, jobs);
        let mut moved = 0;
        for report in &reports {
            for t in report["transitions"].as_array().expect("transitions") {
                let key = (
                    t["name"].as_str().unwrap().to_string(),
                    t["from"].as_str().unwrap().to_string(),
                    t["to"].as_str().unwrap().to_string(),
                );
                *reported.entry(key).or_default() += 1;
                moved += 1;
            }
        }
        let pending: Vec<u64> = reports.iter().map(|r| r["pending"].as_u64().expect("pending")).collect();
        if moved == 0 && pending.iter().all(|&p| p == 0) {
            break;
        }
    }

    let twice: Vec<_> = reported.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "steps run more than once: {twice:?}");
    assert_eq!(reported.len(), APPS * 2 * 2, "not every step was reported");

    // What the state file recorded, addon by addon.
    let logs: std::sync::Mutex<BTreeMap<String, Vec<(String, String)>>> = Default::default();
    in_parallel(names.len(), |i| {
        let events = env.json(["log", &names[i], "--json"]);
        let steps: Vec<(String, String)> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["from"].as_str().unwrap_or("-").to_string(), e["to"].as_str().unwrap().to_string()))
            .collect();
        logs.lock().unwrap().insert(names[i].clone(), steps);
    });
    let expected = [
        ("-".to_string(), "waiting_for_provision".to_string()),
        ("waiting_for_provision".to_string(), "provisioned".to_string()),
        ("provisioned".to_string(), "ready".to_string()),
    ];
    for (name, steps) in logs.into_inner().unwrap() {
        assert_eq!(steps, expected, "{name} was not advanced exactly once per step");
        for (from, to) in &expected[1..] {
            assert_eq!(reported.get(&(name.clone(), from.clone(), to.clone())), Some(&1), "{name}");
        }
    }
    let listed = env.json(["list", "--json"]);
    assert!(listed.as_array().unwrap().iter().all(|a| a["state"] == "ready" && a["pending"] == false));
    for app in [0, APPS / 2, APPS - 1] {
        let vars = env.vars(&format!("app-{app}"));
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["DATABASE_URL", "SECRET_KEY"], "app-{app}");
    }
}
