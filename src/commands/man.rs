//! `addons man`: prints the manual page (roff) of addons or of one of its commands,
//! made by clap_mangen from the same clap types as `--help`. man/ holds them all.

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::roff::{roman, Roff};

use crate::cli::{Cli, ManArgs};
use crate::error::usage;

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
    let mut out = std::io::stdout().lock();
    render(command, &mut out)?;
    out.flush()?;
    Ok(())
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
