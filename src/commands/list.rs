//! `addons list`: the addons, as a table or a JSON array.

use crate::addon::Addon;
use crate::cli::{ListArgs, ListFormat};
use crate::output::{addon_json, rfc3339, state_cell, table, use_color};
use crate::selector::Selector;
use crate::store::{now_ms, Store};

use super::Ctx;

/// Handles `addons list`.
pub fn run(args: ListArgs, ctx: &Ctx) -> anyhow::Result<()> {
    if let Some(app) = &args.app {
        crate::names::check_app(app)?;
    }
    let selector = args.selector.as_deref().map(Selector::parse).transpose()?;
    let store = ctx.existing_store()?;
    let (mut addons, env_file_failures) = match &store {
        Some(store) => (
            store.list_addons(args.app.as_deref(), args.all)?,
            crate::envfile::recorded_failures(store, &ctx.settings, args.app.as_deref())?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    // The addons of other apps attached to this one come after its own, marked.
    if let (Some(store), Some(app)) = (&store, &args.app) {
        addons.extend(store.attached_addons(app)?);
    }
    let attached = |addon: &Addon| args.app.as_ref().is_some_and(|app| &addon.app != app);
    // Selected here, over the listing: a state holds addons by the thousand, not millions.
    if let Some(selector) = &selector {
        addons.retain(|addon| selector.matches(&addon.labels));
    }
    if args.expired {
        let now = store.as_ref().map(Store::now).transpose()?.unwrap_or_else(now_ms);
        addons.retain(|addon| addon.expires_at.is_some_and(|at| at <= now));
    }
    let wide = args.output == Some(ListFormat::Wide);
    if ctx.json {
        let docs = addons.iter().map(|addon| {
            let mut doc = addon_json(addon);
            if args.app.is_some() {
                doc["attached"] = attached(addon).into();
            }
            doc
        });
        ctx.print_json(&serde_json::Value::Array(docs.collect()));
    } else if addons.is_empty() && (selector.is_some() || args.expired) {
        ctx.note("No addons match.");
    } else if addons.is_empty() {
        ctx.note(match (&args.app, args.all) {
            (Some(app), _) => format!("App {app} has no addons."),
            (None, false) => "No addons. Create one with 'addons provision secret myapp'.".to_string(),
            (None, true) => "No addons.".to_string(),
        });
    } else {
        let color = use_color();
        let rows: Vec<Vec<String>> = addons
            .iter()
            .map(|addon| row(addon, color, wide, args.app.as_deref().filter(|_| attached(addon))))
            .collect();
        let mut headers = vec!["NAME", "PROVIDER", "APP", "STATE", "VARS"];
        if wide {
            headers.extend(["LABELS", "EXPIRES"]);
        }
        headers.push("MESSAGE");
        print!("{}", table(&headers, &rows));
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
            format!("{} (attached)", attachment.app),
            attachment.vars(crate::providers::vars_of(&addon.provider)).join(","),
        ),
        None => (addon.app.clone(), addon.vars.join(",")),
    };
    let mut row = vec![addon.name.clone(), addon.provider.clone(), app, state, vars];
    if wide {
        row.push(if addon.labels.is_empty() { "-".into() } else { addon.labels.to_string() });
        row.push(addon.expires_at.map_or_else(|| "-".into(), rfc3339));
    }
    // Why an addon failed stays in sight; its cleanup's messages are in `info` and `log`.
    row.push(addon.failure.clone().unwrap_or_else(|| addon.message.clone()));
    row
}
