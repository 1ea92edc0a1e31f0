//! `addons apply -f FILE`: the apply file (file.rs) and the plan that makes the live addons
//! match it (plan.rs). Both are pure; the command carries the plan out through the store.

pub mod file;
pub mod plan;

pub use file::{load, parse, ApplyFile, DesiredAddon};
pub use plan::{plan, Action, ExpiryChange, LiveAddon, Plan, PlanLine, PlanOptions, ScheduleChange};

#[cfg(test)]
mod tests;
