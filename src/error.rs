//! How a command ends: the exit codes of docs/contract.md, and the one failure type that
//! carries one of them to `main`, the one place that exits.
//!
//! The store and the engine refuse with errors of their own that carry what happened as
//! data (a name taken, a var held by which addon); the commands word those for people
//! and make them a [`Failure`]. Everything else that reaches `main` without a `Failure`
//! in its chain is an operation failure (exit 1).

/// Every exit code docs/contract.md lists, by what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: it did what was asked.
    Success,
    /// 1: an operation failed (a provider refused, a conflict, an addon ended in error).
    Failed,
    /// 2: bad usage or invalid input; nothing was changed.
    Usage,
    /// 3: a wait ran out of time.
    TimedOut,
    /// 4: the state can't be used (locked, damaged, newer schema, unwritable).
    StateUnusable,
    /// 126: `run` could not execute its command.
    CannotExecute,
    /// 127: `run` did not find its command.
    CommandNotFound,
    /// 130: ended at once by SIGINT (128 + 2), as a shell reports it.
    Interrupted,
    /// 141: the output's reader stopped reading (128 + SIGPIPE's 13), as a shell reports it.
    ReaderGone,
    /// 143: ended at once by SIGTERM (128 + 15).
    Terminated,
}

impl Exit {
    /// Every exit code, in order.
    pub const ALL: [Exit; 10] = [
        Exit::Success,
        Exit::Failed,
        Exit::Usage,
        Exit::TimedOut,
        Exit::StateUnusable,
        Exit::CannotExecute,
        Exit::CommandNotFound,
        Exit::Interrupted,
        Exit::ReaderGone,
        Exit::Terminated,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::TimedOut => 3,
            Exit::StateUnusable => 4,
            Exit::CannotExecute => 126,
            Exit::CommandNotFound => 127,
            Exit::Interrupted => 130,
            Exit::ReaderGone => 141,
            Exit::Terminated => 143,
        }
    }
}

/// Why a command failed, as `main` reports it.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The one line a user reads, and the exit code it ends with.
    #[error("{line}")]
    Line { exit: Exit, line: String },
    /// The command said on stderr what failed already (a tick's steps that ended in
    /// error, `check`'s drift): exit 1, with no further line.
    #[error("failed, as said above")]
    Said,
    /// The reader of stdout stopped reading (`addons man | head -1`): exit 141, with no
    /// line, as a shell reports a command that SIGPIPE ended.
    #[error("the reader of the output stopped reading")]
    ReaderGone,
}

/// A write to stdout found its reader gone (`addons list | head`): the command ends
/// quietly with [`Exit::ReaderGone`].
#[derive(Debug, thiserror::Error)]
#[error("the output's reader stopped reading")]
pub struct StdoutGone;

/// An error of writing to stdout: [`StdoutGone`] when the reader is gone.
pub fn stdout_error(err: std::io::Error) -> anyhow::Error {
    match err.kind() {
        std::io::ErrorKind::BrokenPipe => StdoutGone.into(),
        _ => anyhow::Error::new(err).context("writing to stdout"),
    }
}

impl Failure {
    /// A failure that ends with `exit`, saying `line`.
    pub fn new(exit: Exit, line: impl Into<String>) -> Failure {
        Failure::Line { exit, line: line.into() }
    }

    /// The exit code it ends with.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Line { exit, .. } => *exit,
            Failure::Said => Exit::Failed,
            Failure::ReaderGone => Exit::ReaderGone,
        }
    }

    /// Whether `main` prints no line for it: the command said what failed already, or
    /// nobody reads the output any more.
    pub fn is_quiet(&self) -> bool {
        matches!(self, Failure::Said | Failure::ReaderGone)
    }
}

/// Shorthand for a usage error (exit 2) as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure::new(Exit::Usage, message).into()
}

/// Shorthand for an operation failure (exit 1) as an `anyhow::Error`.
pub fn failed(message: impl Into<String>) -> anyhow::Error {
    Failure::new(Exit::Failed, message).into()
}

/// The result of writing to stdout, for a command's error: a reader that stopped
/// reading is [`Failure::ReaderGone`] (exit 141, quietly), as it is for `println!`;
/// any other failure to write is an operation failure.
pub fn written(result: std::io::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::ReaderGone.into()),
        other => Ok(other?),
    }
}

/// The exit code of an error that reaches `main`: that of the first [`Failure`] in its
/// chain, else exit 1.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    err.chain().find_map(|cause| cause.downcast_ref::<Failure>()).map_or(Exit::Failed, Failure::exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_codes_are_128_and_the_signal() {
        assert_eq!(i32::from(Exit::Interrupted.code()), 128 + libc::SIGINT);
        assert_eq!(i32::from(Exit::Terminated.code()), 128 + libc::SIGTERM);
        assert_eq!(i32::from(Exit::ReaderGone.code()), 128 + libc::SIGPIPE);
    }

    #[test]
    fn an_error_takes_the_code_of_the_first_failure_in_its_chain() {
        assert_eq!(exit_of(&anyhow::anyhow!("plain")), Exit::Failed);
        assert_eq!(exit_of(&usage("bad").context("while reading")), Exit::Usage);
        assert_eq!(exit_of(&Failure::Said.into()), Exit::Failed);
        let gone = written(Err(std::io::ErrorKind::BrokenPipe.into())).unwrap_err();
        assert_eq!(exit_of(&gone.context("printing the page")), Exit::ReaderGone);
        assert_eq!(exit_of(&written(Err(std::io::ErrorKind::StorageFull.into())).unwrap_err()), Exit::Failed);
        let codes: Vec<u8> = Exit::ALL.iter().map(|exit| exit.code()).collect();
        assert!(codes.windows(2).all(|pair| pair[0] < pair[1]), "each code once, in order: {codes:?}");
    }
}
