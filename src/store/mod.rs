//! The state: where it is (a file or a PostgreSQL schema), and every operation on it,
//! written once over the [`backend::Backend`] seam. No SQL here: the submodules say
//! what an operation does (names and vars checked, what entering a state does,
//! claims, env-file versions), the backends how it is stored.

mod addons;
pub mod apply;
mod attachments;
pub mod backend;
mod backups;
mod base;
pub mod copy;
mod drift;
mod entry;
mod hooks;
mod location;
mod marks;
pub mod postgres;
mod records;
mod refused;
mod rotation;
pub mod sqlite;
mod steps;
mod tables;
mod troubles;
mod vars;

#[cfg(test)]
mod tests;

pub use crate::addon::ConfigVar;
pub use addons::NewAddon;
pub use attachments::{ATTACH, ATTACHED, DETACH, DETACHED};
pub use backend::{BackendKind, EventRecord, FileChange, Fix, HookRun, Retired, Scan, Unfit, Wakeups, Woken};
pub use backups::{Claimed, Finished};
pub use base::{now_ms, Store};
pub use copy::{Copied, CopyAs};
pub use drift::{Findings, Taken, DRIFT, REPAIRED};
pub use hooks::{ClaimedHook, HookStatus, HOOK, HOOK_RUNS_KEPT};
pub use location::{check_schema, PostgresLocation, StateLocation, DEFAULT_SCHEMA};
pub use marks::Remarked;
pub use refused::{HandChange, Holder, Refused, StepRefusal, VarsOf};
pub use sqlite::BUSY_TIMEOUT;
pub use steps::{Apply, AttemptError, ClaimAsk, Outcome, StepResults, FAILED_ATTEMPT, REVOKED, ROTATED};
pub use troubles::{Failing, TroubleNews};
