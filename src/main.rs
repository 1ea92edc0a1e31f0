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

fn main() -> ExitCode {
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

/// Prints a clap error as one line (help and version print as usual) and picks exit 2.
fn usage_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            ExitCode::from(0)
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let commands: Vec<String> =
                Cli::command().get_subcommands().map(|command| command.get_name().to_string()).collect();
            eprintln!("error: a command is required: one of {}; see 'addons --help'", commands.join(", "));
            ExitCode::from(2)
        }
        _ => {
            let rendered = err.render().to_string();
            let mut lines = rendered.lines().map(str::trim).filter(|line| !line.is_empty());
            let mut message = lines.next().unwrap_or("error: invalid usage").to_string();
            // "the following required arguments were not provided:" lists them on the
            // lines that follow; keep them, or the message says nothing useful.
            let mut rest: Vec<&str> = lines.collect();
            if message.ends_with(':') {
                let listed =
                    rest.iter().take_while(|line| !line.starts_with("Usage:") && !line.starts_with("tip:")).count();
                message = format!("{} {}", message, rest[..listed].join(", "));
                rest.drain(..listed);
            }
            let tips: Vec<&str> = rest.into_iter().filter(|line| line.starts_with("tip:")).collect();
            if !tips.is_empty() {
                message += &format!(" ({})", tips.join("; "));
            }
            eprintln!("{message}; see 'addons --help'");
            ExitCode::from(2)
        }
    }
}
