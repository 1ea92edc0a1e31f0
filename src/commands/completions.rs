//! `addons completions`: prints the completion script for a shell.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};

/// Handles `addons completions`.
pub fn run(args: CompletionsArgs) -> anyhow::Result<i32> {
    clap_complete::generate(args.shell, &mut Cli::command(), "addons", &mut std::io::stdout());
    Ok(0)
}
