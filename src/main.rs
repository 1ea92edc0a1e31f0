//! Parses the command line, loads the config, dispatches, and is the one place that exits.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

use addons::cli::Cli;
use addons::commands::{self, Ctx};
use addons::config;
use addons::error::exit_code_of;
use addons::{complete, usage};

fn main() -> ExitCode {
    complete::answer_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal ends the process at once; the first asks for a clean stop.
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    let result = (|| {
        let config_path = cli.config.clone().unwrap_or_else(config::default_config_path);
        let settings = config::load(&config_path)?;
        let ctx = Ctx {
            settings,
            state_path: cli.state.clone().unwrap_or_else(config::default_state_path),
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose,
            stop,
        };
        ctx.debug(format!("config file {}", config_path.display()));
        commands::dispatch(cli.command, &ctx)
    })();
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            let message = format!("{err:#}").replace('\n', " ");
            eprintln!("error: {message}");
            ExitCode::from(exit_code_of(&err) as u8)
        }
    }
}

/// Prints a clap error as one line (help and version print as usual; bare `addons`
/// prints the help on stderr) and picks exit 2.
fn usage_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::from(0)
        }
        // Bare `addons`: clap says "help on missing subcommand", or, when ADDONS_STATE or
        // ADDONS_CONFIG count as arguments given, "missing subcommand".
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand
            if std::env::args_os().len() <= 1 =>
        {
            eprint!("{}", Cli::command().render_help());
            ExitCode::from(2)
        }
        _ => {
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            eprintln!("{}", usage::one_line(&err, &args));
            ExitCode::from(2)
        }
    }
}
