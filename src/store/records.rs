//! The records the state keeps beside addons and attachments (whose types are the
//! domain's): who holds a config var, and the recorded runs of the apps' hooks.

/// Who holds a config var key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarOwner {
    /// Set by hand.
    Hand,
    /// Owned by the addon with this id and display name.
    Addon { id: String, name: String },
}

/// One run of an app's hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRun {
    pub app: String,
    /// The vars version it ran with.
    pub vars_version: i64,
    pub started_at: i64,
    pub finished_at: i64,
    /// `ok`, `failed`, `timed out` or `could not start` (see `crate::hook::Ending`).
    pub result: String,
    /// The exit status of `sh` when it exited; `None` when it did not (killed, or never started).
    pub exit_status: Option<i32>,
    /// The last lines it printed (stdout and stderr together), secrets masked.
    pub output: String,
}
