//! `addons completions`: prints the script that registers completion for a shell. The
//! script calls `addons` back to complete (see `complete`), so addon and app names
//! come from the state file; completions/ holds the scripts for every shell.

use std::io::Write;

use crate::cli::CompletionsArgs;

/// Handles `addons completions`.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    crate::error::written(crate::complete::write_script(args.shell, &mut out).and_then(|()| out.flush()))
}
