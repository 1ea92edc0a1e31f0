//! The failures `main` must tell apart to pick an exit code (docs/contract.md's exit codes).

/// An error that carries its exit code. Anything else that reaches `main` is an
/// operation failure (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad usage or invalid input: exit 2, nothing changed.
    #[error("{0}")]
    Usage(String),
    /// An operation failed (a provider refused, a conflict, an addon ended in error): exit 1.
    #[error("{0}")]
    Operation(String),
    /// A wait ran out of time: exit 3.
    #[error("{0}")]
    Timeout(String),
    /// The state file can't be used (locked, damaged, newer schema, unwritable): exit 4.
    #[error("{0}")]
    Store(String),
    /// `run` could not start its command: exit 127 when it was not found, 126 when it
    /// could not be executed, as shells do, so a script tells them from the command's own.
    #[error("{message}")]
    CommandNotRun { code: i32, message: String },
}

impl Failure {
    /// The process exit code docs/contract.md's exit codes give this kind of failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Operation(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Timeout(_) => 3,
            Failure::Store(_) => 4,
            Failure::CommandNotRun { code, .. } => *code,
        }
    }
}

/// Shorthand for a usage error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::Usage(message.into()).into()
}

/// Shorthand for an operation failure as an `anyhow::Error`.
pub fn failed(message: impl Into<String>) -> anyhow::Error {
    Failure::Operation(message.into()).into()
}

/// The exit code for any error that reaches `main`.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.chain().find_map(|cause| cause.downcast_ref::<Failure>()).map_or(1, Failure::exit_code)
}
