//! `addons man`: the manual page of addons or of one of its commands, made by
//! clap_mangen from the same clap types as `--help`: shown by `man` on a terminal (as
//! `git help` does), printed as roff otherwise. man/ holds them all.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use anyhow::Context;

use clap::CommandFactory;
use clap_mangen::roff::{roman, Roff};

use crate::cli::{Cli, ManArgs};
use crate::error::{failed, usage, written};

/// Handles `addons man`.
pub fn run(args: ManArgs) -> anyhow::Result<()> {
    let mut top = Cli::command().disable_help_subcommand(true);
    top.build();
    let mut command = &top;
    for word in &args.command {
        let names: Vec<&str> = command.get_subcommands().map(|sub| sub.get_name()).collect();
        command = command.find_subcommand(word).ok_or_else(|| {
            let page = command.get_display_name().unwrap_or("addons").replace('-', " ");
            usage(format!(
                "'{page}' has no command {}{}; it has: {}",
                crate::names::shown(word),
                crate::names::did_you_mean(word, names.iter().copied()),
                names.join(", ")
            ))
        })?;
    }
    let mut page = Vec::new();
    render(command, &mut page)?;
    if std::io::stdout().is_terminal() && shown_by_man(&page)? {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    written(out.write_all(&page).and_then(|()| out.flush()))
}

/// Hands the page to `man -l -`, which formats it for the terminal and pages it the
/// way `man` pages any page (`MANPAGER`, else `PAGER`, else its own default); `false`
/// when there is no `man` to run, and the page is printed as roff instead.
fn shown_by_man(page: &[u8]) -> anyhow::Result<bool> {
    let mut man = match Command::new("man").args(["-l", "-"]).stdin(Stdio::piped()).spawn() {
        Ok(man) => man,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err).context("can't start man to show the page"),
    };
    let mut input = man.stdin.take().context("can't hand the page to man")?;
    match input.write_all(page) {
        // Quitting the pager before the end of the page closes the pipe: that is no failure.
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(err).context("can't hand the page to man");
        }
        _ => drop(input),
    }
    let status = man.wait().context("can't wait for man")?;
    match status.code() {
        // No code: ended by a signal, as a pager quit with Ctrl-C may be.
        Some(0) | None => Ok(true),
        Some(code) => Err(failed(format!(
            "man could not show the page (exit {code}); piped or redirected, as in 'addons man > addons.1', \
             addons man prints the page as roff"
        ))),
    }
}

/// Renders one page: clap_mangen's, with the blocks after the options in `--help`
/// (examples, exit status) as sections of their own instead of one "EXTRA".
fn render(command: &clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let after = command.get_after_help().map(ToString::to_string);
    let page = command.clone().after_help(None::<&str>);
    let source = format!("addons {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(page).source(source).render(out)?;
    match after {
        Some(text) => after_help_sections(&text).to_writer(out),
        None => Ok(()),
    }
}

/// The text after the options, `Heading:` lines and the rows under each, as man
/// sections with the rows kept as they are laid out.
fn after_help_sections(text: &str) -> Roff {
    let mut roff = Roff::default();
    let mut open = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_suffix(':').filter(|_| !line.starts_with(' ')) {
            if open {
                roff.control("fi", []);
            }
            roff.control("SH", [heading.to_uppercase().as_str()]);
            roff.control("nf", []);
            open = true;
        } else if let Some(row) = line.strip_prefix("  ") {
            roff.text([roman(row)]);
        }
    }
    if open {
        roff.control("fi", []);
    }
    roff
}
