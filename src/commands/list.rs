//! `addons list`: the addons, as a table or a JSON array.

use std::io::{IsTerminal, Write};

use crate::addon::Addon;
use crate::cli::{ListArgs, ListFormat};
use crate::error::stdout_error;
use crate::output::{addon_json, rfc3339, state_cell, use_color, TableWriter};
use crate::selector::Selector;
use crate::store::{now_ms, Scan, Store};

use super::Ctx;

/// Handles `addons list`.
///
/// The addons are written as they are read, a batch at a time (the selector and
/// `--expired` are in the store's query), so listing a fleet of any size holds one
/// batch and, for a table, the rows its columns are laid out by.
pub fn run(args: ListArgs, ctx: &Ctx) -> anyhow::Result<()> {
    if let Some(app) = &args.app {
        crate::names::check_app(app)?;
    }
    let selector = args.selector.as_deref().map(Selector::parse).transpose()?;
    let store = ctx.existing_store()?;
    let env_file_failures = match &store {
        Some(store) => crate::envfile::recorded_failures(store, &ctx.settings, args.app.as_deref())?,
        None => Vec::new(),
    };
    let expired_by = match args.expired {
        true => Some(store.as_ref().map(Store::now).transpose()?.unwrap_or_else(now_ms)),
        false => None,
    };
    let scan = Scan {
        app: args.app.as_deref(),
        all: args.all,
        labels: selector.as_ref().map_or(&[], |selector| selector.requirements()),
        expired_by,
        own_schedule: false,
    };
    let wide = args.output == Some(ListFormat::Wide);
    let mut listing = match ctx.json {
        true => Listing::Json(JsonList::new(std::io::BufWriter::new(std::io::stdout().lock()))),
        false => {
            let mut headers = vec!["NAME", "PROVIDER", "APP", "STATE", "VARS"];
            if wide {
                headers.extend(["LABELS", "EXPIRES", "SERVER"]);
            }
            headers.push("MESSAGE");
            // On a terminal a row fits its width (MESSAGE cut); piped or wide, it is whole.
            let fit = match wide || !std::io::stdout().is_terminal() {
                true => None,
                false => console::Term::stdout().size_checked().map(|(_, cols)| usize::from(cols)),
            };
            Listing::Table {
                table: TableWriter::new(std::io::BufWriter::new(std::io::stdout().lock()), &headers, fit),
                color: use_color(),
                wide,
            }
        }
    };
    let mut listed = 0usize;
    if let Some(store) = &store {
        store.for_each_addon(&scan, |addon| {
            listed += 1;
            listing.add(&addon, args.app.as_deref(), None)
        })?;
        // The addons of other apps attached to this one come after its own, marked.
        if let Some(app) = &args.app {
            for addon in store.attached_addons(app)? {
                let selected = selector.as_ref().is_none_or(|s| s.matches(&addon.labels));
                let expired = expired_by.is_none_or(|now| addon.expires_at.is_some_and(|at| at <= now));
                if selected && expired {
                    listed += 1;
                    listing.add(&addon, Some(app), Some(app))?;
                }
            }
        }
    }
    match listing {
        Listing::Json(json) => json.finish()?,
        // An empty listing says so on stderr, no table.
        Listing::Table { .. } if listed == 0 => {}
        Listing::Table { table, .. } => table.finish().map_err(stdout_error)?,
    }
    if listed == 0 && !ctx.json {
        ctx.note(match (&args.app, args.all) {
            // A script that lost track of its state hears where it looked.
            _ if store.is_none() => format!("No addons: {}.", ctx.no_state(None)),
            _ if selector.is_some() || args.expired => "No addons match.".to_string(),
            (Some(app), _) => format!("App {app} has no addons."),
            (None, false) => "No addons. Create one with 'addons provision secret myapp'.".to_string(),
            (None, true) => "No addons.".to_string(),
        });
    }
    if !ctx.json {
        for failure in env_file_failures {
            println!("{failure}");
        }
    }
    if let (Some(store), false, false) = (&store, args.all, ctx.json) {
        if let Some(line) = hidden_line(store.hidden_counts(args.app.as_deref())?, args.app.as_deref()) {
            ctx.note(line);
        }
    }
    Ok(())
}

/// Where a listing's addons go as they are read.
enum Listing<W: Write> {
    Json(JsonList<W>),
    Table { table: TableWriter<W>, color: bool, wide: bool },
}

impl<W: Write> Listing<W> {
    /// Writes one addon; `listed_app` is the app asked for, `attached_to` set when the
    /// addon is another app's, attached to it.
    fn add(&mut self, addon: &Addon, listed_app: Option<&str>, attached_to: Option<&str>) -> anyhow::Result<()> {
        match self {
            Listing::Json(json) => {
                let mut doc = addon_json(addon);
                if listed_app.is_some() {
                    doc["attached"] = attached_to.is_some().into();
                }
                json.push(&doc)
            }
            Listing::Table { table, color, wide } => {
                table.row(row(addon, *color, *wide, attached_to)).map_err(stdout_error)
            }
        }
    }
}

/// A JSON array written an element at a time, laid out as `serde_json::to_string_pretty`
/// lays out the whole array (each element indented a level; a JSON string holds no raw
/// line break, so every line break is the layout's).
struct JsonList<W: Write> {
    out: W,
    empty: bool,
    element: Vec<u8>,
}

impl<W: Write> JsonList<W> {
    fn new(out: W) -> JsonList<W> {
        JsonList { out, empty: true, element: Vec::new() }
    }

    fn push(&mut self, doc: &serde_json::Value) -> anyhow::Result<()> {
        self.element.clear();
        serde_json::to_writer_pretty(&mut self.element, doc)?;
        self.out.write_all(if std::mem::take(&mut self.empty) { b"[\n  " } else { b",\n  " }).map_err(stdout_error)?;
        for (i, line) in self.element.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.out.write_all(b"\n  ").map_err(stdout_error)?;
            }
            self.out.write_all(line).map_err(stdout_error)?;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.out.write_all(if self.empty { b"[]\n" } else { b"\n]\n" }).map_err(stdout_error)?;
        self.out.flush().map_err(stdout_error)
    }
}

/// The line that ends a default listing when it leaves out addons a user must hear
/// of, e.g. "1 addon in error, 1 cleanup pending: addons list --all".
fn hidden_line((errors, pending): (usize, usize), app: Option<&str>) -> Option<String> {
    let mut parts = Vec::new();
    if errors > 0 {
        parts.push(format!("{errors} {} in error", if errors == 1 { "addon" } else { "addons" }));
    }
    if pending > 0 {
        parts.push(format!("{pending} cleanup pending"));
    }
    if parts.is_empty() {
        return None;
    }
    let command = match app {
        Some(app) => format!("addons list {app} --all"),
        None => "addons list --all".to_string(),
    };
    Some(format!("{}: {command}", parts.join(", ")))
}

/// One addon's row; `attached_to` names the listed app when the addon is another
/// app's, attached to it: its APP cell is marked and its VARS are that app's.
fn row(addon: &Addon, color: bool, wide: bool, attached_to: Option<&str>) -> Vec<String> {
    let mut state = state_cell(addon.state.as_str(), color);
    if addon.state.is_terminal() && addon.has_pending_work() {
        state += " (cleanup pending)";
    }
    if addon.drift.is_some() {
        state += " (drift)";
    }
    let (app, vars) = match attached_to.and_then(|app| addon.attachments.iter().find(|t| t.app == app)) {
        Some(attachment) => (
            match attachment.access.is_read_only() {
                true => format!("{} (attached, read-only)", attachment.app),
                false => format!("{} (attached)", attachment.app),
            },
            attachment.vars(crate::providers::vars_of(&addon.provider)).join(","),
        ),
        None => (addon.app.clone(), addon.vars.join(",")),
    };
    let mut row = vec![addon.name.clone(), addon.provider.clone(), app, state, vars];
    if wide {
        row.push(if addon.labels.is_empty() { "-".into() } else { addon.labels.to_string() });
        row.push(addon.expires_at.map_or_else(|| "-".into(), rfc3339));
        row.push(addon.server.clone().unwrap_or_else(|| "-".into()));
    }
    // Why an addon failed stays in sight; its cleanup's messages are in `info` and `log`.
    row.push(addon.failure.clone().unwrap_or_else(|| addon.message.clone()));
    row
}
