//! The integration suites, one crate: each module is one suite (the file of its name in
//! tests/), and all of them drive the built binary or the library through `common`.
//! One crate links once; `cargo test --test suite MODULE::` runs one suite.

mod common;

mod attach;
mod backups;
// Needs the binary built with the failpoints feature.
#[cfg(feature = "failpoints")]
mod check_races;
mod ci_workflows;
mod cli;
// Needs the binary built with the failpoints feature.
#[cfg(feature = "failpoints")]
mod clock;
mod concurrency;
mod contract;
mod cron;
// Needs the binary built with the failpoints feature.
#[cfg(feature = "failpoints")]
mod crash;
mod credentials;
mod definers;
mod docs;
mod drift;
mod fleet;
mod from;
mod fuzz;
mod hooks;
mod hostile;
mod layers;
mod listing;
mod local_servers;
// Needs the binary built with the failpoints feature.
mod mqtt_isolation;
#[cfg(feature = "failpoints")]
mod multihost;
mod pgstate;
mod provider_guide;
mod rabbitmq_isolation;
mod readonly;
mod redis_isolation;
mod registry;
mod rotation;
mod scripts;
mod secrets;
mod state_copy;
mod store;
// Needs the binary built with the failpoints feature.
#[cfg(feature = "failpoints")]
mod stress;
mod tenant_databases;
mod tenants;
mod terminal;
mod timeouts;
mod wakeups;

/// With `autotests = false` a file in tests/ runs only when this crate names it: every
/// one must be a module here.
#[test]
fn every_file_in_tests_is_a_module_of_the_suite() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let root = std::fs::read_to_string(dir.join("suite.rs")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(module) = name.strip_suffix(".rs") else { continue };
        if module != "suite" && !root.lines().any(|line| line == format!("mod {module};")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "files in tests/ that tests/suite.rs does not name: {missing:?}");
}
