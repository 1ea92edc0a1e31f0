//! Parses the command line, loads the config, dispatches, and is the one place that exits.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use addons::cli::Cli;
use addons::commands::{self, Ctx};
use addons::config;
use addons::error::{self, Exit, Failure};
use addons::providers::Discovery;
use addons::store::StateLocation;
use addons::{complete, usage};

fn main() -> ExitCode {
    ExitCode::from(run().code())
}

/// Runs the command line; how it ended.
fn run() -> Exit {
    quiet_on_a_closed_stdout();
    complete::answer_if_asked::<Cli>();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err, json_on_the_line()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let input = Arc::new(AtomicBool::new(false));
    for (signal, exit) in
        [(signal_hook::consts::SIGINT, Exit::Interrupted), (signal_hook::consts::SIGTERM, Exit::Terminated)]
    {
        // A second signal ends the process at once; the first asks for a clean stop, or
        // ends it at once too while it waits for input (nothing is in hand then).
        let code = i32::from(exit.code());
        let _ = signal_hook::flag::register_conditional_shutdown(signal, code, stop.clone());
        let _ = signal_hook::flag::register_conditional_shutdown(signal, code, input.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    let result = (|| {
        let config_path = match &cli.config {
            Some(path) => named_config(path)?,
            None => config::default_config_path(),
        };
        let settings = commands::reading_input(&stop, &input, || config::load(&config_path))??;
        let mut providers = addons::providers::configure(&settings)?;
        let state = state_location(cli.state.as_deref(), &settings)?;
        providers.set_discovery(match &state {
            _ if std::env::var_os("ADDONS_DISCOVER").is_some_and(|value| value == "0") => Discovery::Off,
            StateLocation::File(_) => Discovery::Here,
            StateLocation::Postgres(_) => Discovery::SharedState(state.describe()),
        });
        let ctx = Ctx {
            settings,
            providers,
            state,
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose,
            stop,
            input,
            settings_said: Default::default(),
        };
        ctx.setting(format!("config file {}", config_path.display()));
        commands::dispatch(cli.command, &ctx)
    })();
    match result {
        Ok(()) => Exit::Success,
        // A listing written as it is read meets a closed pipe as an error, not a panic.
        Err(err) if err.downcast_ref::<error::StdoutGone>().is_some() => Exit::ReaderGone,
        Err(err) => {
            let exit = error::exit_of(&err);
            if !err.chain().find_map(|cause| cause.downcast_ref::<Failure>()).is_some_and(Failure::is_quiet) {
                print_error(&format!("error: {err:#}"), exit, cli.json);
            }
            exit
        }
    }
}

/// `addons list | head`: a reader that stopped reading ends the command quietly with
/// 141 (as SIGPIPE ends `ls` in a shell), not with a panic's message. Rust ignores
/// SIGPIPE, so a print to a closed pipe fails, and `println!` panics on that failure;
/// a write whose error is returned instead goes through [`error::written`].
/// What was committed stays committed; nothing after the print runs.
fn quiet_on_a_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(Exit::ReaderGone.code().into());
        }
        default(info)
    }));
}

/// Where the state is: `--state` (or `ADDONS_STATE`), else `[state] url`, else the
/// default file. A `postgres://` URL is a state on a server.
fn state_location(given: Option<&std::path::Path>, settings: &config::Settings) -> anyhow::Result<StateLocation> {
    let schema = settings.state_schema.as_deref();
    match given {
        Some(path) => match path.to_str() {
            Some(text) => StateLocation::parse(text, schema).map_err(|err| error::usage(format!("--state: {err}"))),
            None => Ok(StateLocation::File(path.to_path_buf())),
        },
        None => match &settings.state_url {
            Some(url) => StateLocation::parse(url, schema).map_err(|err| error::usage(format!("[state] url: {err}"))),
            None => Ok(StateLocation::File(config::default_state_path())),
        },
    }
}

/// Prints the one error line on stderr: as it is, or under `--json` as a JSON object
/// `{"error": ..., "code": N}` that a script can parse.
/// A message may end in a block of config lines to paste (after a blank line): the line
/// is one line, the block is printed as it is after it.
fn print_error(message: &str, exit: Exit, json: bool) {
    let (line, block) = message.split_once("\n\n").unwrap_or((message, ""));
    let line = line.replace('\n', " ");
    if json {
        let line = line.strip_prefix("error: ").unwrap_or(&line);
        let message = if block.is_empty() { line.to_string() } else { format!("{line}\n\n{block}") };
        eprintln!("{}", serde_json::json!({"error": message, "code": exit.code()}));
    } else if block.is_empty() {
        eprintln!("{line}");
    } else {
        eprintln!("{line}\n\n{}", block.trim_end());
    }
}

/// Whether `--json` is among the arguments (before any `--`), for a usage error that
/// clap found before it could say so.
fn json_on_the_line() -> bool {
    std::env::args_os().skip(1).take_while(|arg| arg != "--").any(|arg| arg == "--json")
}

/// A config file named with `--config` or `ADDONS_CONFIG` must exist: a typo in its
/// name would otherwise run with no providers configured. The default one may be missing.
fn named_config(path: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(addons::error::usage(format!(
            "config file {} does not exist; create it, or leave out --config and ADDONS_CONFIG to use the default",
            path.display()
        ))),
        _ => Ok(path.to_path_buf()),
    }
}

/// Prints a clap error as one line (help and version print as usual; bare `addons`
/// prints the help on stderr) and picks exit 2.
fn usage_error(err: clap::Error, json: bool) -> Exit {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match error::written(err.print()) {
            Ok(()) => Exit::Success,
            Err(err) => error::exit_of(&err),
        },
        // Bare `addons`: clap says "help on missing subcommand", or, when ADDONS_STATE or
        // ADDONS_CONFIG count as arguments given, "missing subcommand".
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand
            if std::env::args_os().len() <= 1 =>
        {
            eprint!("{}", Cli::command().render_help());
            Exit::Usage
        }
        _ => {
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            print_error(&usage::one_line(&err, &args), Exit::Usage, json);
            Exit::Usage
        }
    }
}
