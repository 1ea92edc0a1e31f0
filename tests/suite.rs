//! The integration suites, one crate: each module is one suite (the file of its name in
//! tests/), and all of them drive the built binary or the library through `common`.
//! One crate links once; `cargo test --test suite MODULE::` runs one suite.

mod common;

mod attach;
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
// Needs the binary built with the failpoints feature.
#[cfg(feature = "failpoints")]
mod multihost;
mod pgstate;
mod provider_guide;
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
mod wakeups;
