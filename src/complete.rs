//! Dynamic shell completion. The scripts under completions/ call the binary back
//! (`ADDONS_COMPLETE=<shell> addons -- <words>`); clap_complete's engine completes
//! commands, flags and provider names from the clap types, and the functions here
//! add the addon and app names read from the state file. Completing never creates
//! or changes a state file. The functions take the command line's clap type as a
//! parameter (`cli.rs` names `Cli`), so this file needs nothing from the CLI's.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::CommandFactory;
use clap_complete::CompletionCandidate;

use crate::store::{StateLocation, Store};

/// The environment variable that puts the binary in completion mode; the scripts set
/// it to the shell's name.
pub const VAR: &str = "ADDONS_COMPLETE";

/// When a completion script called the binary, prints the candidates and exits;
/// otherwise returns at once.
pub fn answer_if_asked<Cli: CommandFactory>() {
    clap_complete::CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

/// Writes the script that registers completion for `shell`: it calls `addons` (found
/// on PATH) back with the words typed so far.
pub fn write_script(shell: clap_complete::Shell, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let name = shell.to_string();
    let shells = clap_complete::env::Shells::builtins();
    let completer =
        shells.completer(&name).ok_or_else(|| std::io::Error::other(format!("no completion script for {name}")))?;
    completer.write_registration(VAR, "addons", "addons", "addons", out)
}

/// Candidates for an argument that names a live addon (`deprovision`, `wait`).
pub fn live_addons<Cli: CommandFactory>(typed: &OsStr) -> Vec<CompletionCandidate> {
    candidates::<Cli>(typed, |store| store.addon_names(true))
}

/// Candidates for an argument that names any addon, deprovisioned ones too (`info`, `log`).
pub fn any_addons<Cli: CommandFactory>(typed: &OsStr) -> Vec<CompletionCandidate> {
    candidates::<Cli>(typed, |store| store.addon_names(false))
}

/// Candidates for an argument that names an app.
pub fn apps<Cli: CommandFactory>(typed: &OsStr) -> Vec<CompletionCandidate> {
    candidates::<Cli>(typed, Store::app_names)
}

/// The names `names` reads from the state file that start with what was typed; none
/// when there is no state file or it can't be read.
fn candidates<Cli: CommandFactory>(
    typed: &OsStr,
    names: impl Fn(&Store) -> anyhow::Result<Vec<String>>,
) -> Vec<CompletionCandidate> {
    let typed = typed.to_string_lossy();
    let Some(store) = state_location::<Cli>().and_then(Store::peek) else {
        return Vec::new();
    };
    let mut names = names(&store).unwrap_or_default();
    names.retain(|name| name.starts_with(typed.as_ref()));
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// The state the completed command line would use: `--state` on the line, else
/// `ADDONS_STATE`, else the default file. The line is what the script passed after `--`.
fn state_location<Cli: CommandFactory>() -> Option<StateLocation> {
    let words: Vec<OsString> = std::env::args_os().skip_while(|arg| arg != "--").skip(1).collect();
    let matches = Cli::command().ignore_errors(true).try_get_matches_from(words).ok()?;
    match matches.get_one::<PathBuf>("state") {
        Some(given) => match given.to_str() {
            Some(text) => StateLocation::parse(text, None).ok(),
            None => Some(StateLocation::File(given.clone())),
        },
        None => Some(StateLocation::File(crate::config::default_state_path())),
    }
}
