//! What the raw baseline loops (`bench_baseline`, `bench_pg_baseline`) write for one
//! step: the result a tick's step writes for a secret addon, without the engine.

/// Steps claimed and committed together, as the engine's `CLAIM_BATCH`.
pub const BATCH: usize = 16;

/// A claim's lease, long enough for any run.
pub const LEASE_MS: i64 = 3_600_000;

/// A step's result: the state it moves to, the event recorded, and whether a task is
/// still due there (a ready addon has none).
pub struct Step {
    pub to: &'static str,
    pub event: &'static str,
    pub still_due: bool,
}

/// The step from `state`, as the secret provider's tick takes it.
pub fn step_from(state: &str) -> anyhow::Result<Step> {
    Ok(match state {
        "waiting_for_provision" => Step { to: "provisioned", event: "provision_complete", still_due: true },
        "provisioned" => Step { to: "ready", event: "config_vars_set", still_due: false },
        other => anyhow::bail!("no step from {other}"),
    })
}

/// A claim token like a tick's, unique to this process.
pub fn token() -> String {
    format!("bench:{}:{:x}", std::process::id(), rand::random::<u64>())
}
