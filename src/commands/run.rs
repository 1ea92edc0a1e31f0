//! `addons run`: replaces this process with a command that has the app's config vars
//! in its environment, so its exit status and signals are the command's own.

use std::io::ErrorKind;
use std::os::unix::process::CommandExt;

use crate::cli::RunArgs;
use crate::error::{failed, Exit, Failure};

use super::Ctx;

/// Handles `addons run`. Returns only when the command can't be started.
pub fn run(args: RunArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let vars = super::env::ready_vars(ctx, &args.app, &args.ready)?;
    let (program, rest) = args.command.split_first().ok_or_else(|| failed("no command given after --"))?;
    let mut command = std::process::Command::new(program);
    command.args(rest);
    for var in vars {
        command.env(var.key, var.value);
    }
    let err = command.exec();
    let shown = program.to_string_lossy();
    // As shells do, so that a script tells these from the command's own statuses.
    let (exit, line) = match err.kind() {
        ErrorKind::NotFound => (Exit::CommandNotFound, format!("can't run {shown}: command not found ({err})")),
        _ => (Exit::CannotExecute, format!("can't run {shown}: {err}")),
    };
    Err(Failure::new(exit, line).into())
}
