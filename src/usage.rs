//! Bad usage caught by clap, as the one line on stderr that docs/contract.md's bad-input
//! rule promises: clap's message with its possible values and tips, a hint for the usual
//! slips (`config APP KEY=VALUE`, `run APP COMMAND`), and the help of the command that was
//! being typed.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::CommandFactory;

/// The one line for a clap error (not help or version), given the arguments the
/// process got.
pub fn one_line(err: &clap::Error, args: &[OsString]) -> String {
    let rendered = err.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|line| !line.is_empty());
    let mut message = lines.next().unwrap_or("error: invalid usage").to_string();
    // "the following required arguments were not provided:" lists them on the lines
    // that follow; keep them, or the message says nothing useful.
    let mut rest: Vec<&str> = lines.collect();
    if message.ends_with(':') {
        let listed = rest.iter().take_while(|line| !line.starts_with("Usage:") && !line.starts_with("tip:")).count();
        message = format!("{} {}", message, rest[..listed].join(", "));
        rest.drain(..listed);
    }
    for values in rest.iter().filter(|line| line.starts_with("[possible values:")) {
        message = format!("{message} {values}");
    }
    let command = command_path(args);
    let mut tips: Vec<String> =
        rest.iter().filter(|line| line.starts_with("tip:")).map(|tip| tip.to_string()).collect();
    tips.extend(slip(err, &command, args));
    if !tips.is_empty() {
        message += &format!(" ({})", tips.join("; "));
    }
    format!("{message}; see '{command} --help'")
}

/// The command being typed: the subcommands named on the line, followed down from
/// `addons` (`addons`, `addons provision`, `addons config set`).
fn command_path(args: &[OsString]) -> String {
    let mut top = crate::cli::Cli::command();
    top.build();
    let mut command = &top;
    let mut path = vec!["addons".to_string()];
    let mut words = args.iter().skip(1).filter_map(|arg| arg.to_str());
    while let Some(word) = words.next() {
        if let Some(flag) = word.strip_prefix("--").filter(|flag| !flag.is_empty() && !flag.contains('=')) {
            let takes_value = command
                .get_arguments()
                .any(|arg| arg.get_long() == Some(flag) && arg.get_num_args().is_some_and(|n| n.takes_values()));
            if takes_value {
                words.next();
            }
        } else if !word.starts_with('-') {
            match command.find_subcommand(word) {
                Some(sub) => {
                    path.push(sub.get_name().to_string());
                    command = sub;
                }
                None => break,
            }
        }
    }
    path.join(" ")
}

/// A tip for the slips clap can't see through: `config APP KEY=VALUE` meant `config
/// set`, and `run APP COMMAND` needs `--` before the command.
fn slip(err: &clap::Error, command: &str, args: &[OsString]) -> Option<String> {
    let after = |name: &str| -> Option<Vec<String>> {
        let start = args.iter().skip(1).position(|arg| arg == name)? + 2;
        args[start..].iter().map(|arg| arg.to_str().map(str::to_string)).collect()
    };
    match (command, err.kind()) {
        ("addons config", ErrorKind::ArgumentConflict | ErrorKind::UnknownArgument) => {
            let words: Vec<String> = after("config")?.into_iter().filter(|word| !word.starts_with('-')).collect();
            words
                .iter()
                .any(|word| word.contains('=') && !word.starts_with('-'))
                .then(|| format!("tip: to set config vars, use '{}'", shown_command("addons config set", &words)))
        }
        ("addons run", ErrorKind::UnknownArgument) => {
            let words = after("run")?;
            let (app, command) = words.split_first()?;
            let line = shown_command(&format!("addons run {app} --"), command);
            Some(format!("tip: put the command after '--': '{line}'"))
        }
        _ => None,
    }
}

/// `head` and the words as one command line, when every word is plain enough to show
/// unquoted; else `head` and placeholders.
fn shown_command(head: &str, words: &[String]) -> String {
    let plain = |word: &String| {
        !word.is_empty()
            && word.len() <= 64
            && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=./:@%+,".contains(&b))
    };
    if words.iter().all(plain) {
        format!("{head} {}", words.join(" "))
    } else {
        format!("{head} ...")
    }
}
