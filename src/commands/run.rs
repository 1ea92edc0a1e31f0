//! `addons run`: replaces this process with a command that has the app's config vars
//! in its environment, so its exit status and signals are the command's own.

use std::io::ErrorKind;
use std::os::unix::process::CommandExt;

use crate::cli::RunArgs;
use crate::error::{failed, Failure};

use super::Ctx;

/// Handles `addons run`. Returns only when the command can't be started.
pub fn run(args: RunArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let vars = super::env::ready_vars(ctx, &args.app, &args.ready)?;
    let (program, rest) = args.command.split_first().ok_or_else(|| failed("no command given after --"))?;
    let mut command = std::process::Command::new(program);
    command.args(rest);
    for var in vars {
        command.env(var.key, var.value);
    }
    let err = command.exec();
    let shown = program.to_string_lossy();
    let (code, message) = match err.kind() {
        ErrorKind::NotFound => (127, format!("can't run {shown}: command not found ({err})")),
        _ => (126, format!("can't run {shown}: {err}")),
    };
    Err(Failure::CommandNotRun { code, message }.into())
}
