//! `addons list`: the addons, as a table or a JSON array.

use crate::addon::Addon;
use crate::cli::ListArgs;
use crate::output::{addon_json, state_cell, table, use_color};

use super::Ctx;

/// Handles `addons list`.
pub fn run(args: ListArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    if let Some(app) = &args.app {
        crate::names::check_app(app)?;
    }
    let (addons, env_file_failures) = match ctx.existing_store()? {
        Some(store) => (
            store.list_addons(args.app.as_deref(), args.all)?,
            crate::envfile::recorded_failures(&store, &ctx.settings, args.app.as_deref())?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(addons.iter().map(addon_json).collect()));
    } else if addons.is_empty() {
        ctx.note(match (&args.app, args.all) {
            (Some(app), _) => format!("App {app} has no addons."),
            (None, false) => "No addons. Create one with 'addons provision secret myapp'.".to_string(),
            (None, true) => "No addons.".to_string(),
        });
    } else {
        let color = use_color();
        let rows: Vec<Vec<String>> = addons.iter().map(|addon| row(addon, color)).collect();
        print!("{}", table(&["NAME", "PROVIDER", "APP", "STATE", "VARS", "MESSAGE"], &rows));
    }
    if !ctx.json {
        for failure in env_file_failures {
            println!("{failure}");
        }
    }
    Ok(0)
}

fn row(addon: &Addon, color: bool) -> Vec<String> {
    let mut state = state_cell(addon.state.as_str(), color);
    if addon.state.is_terminal() && addon.has_pending_work() {
        state += " (cleanup pending)";
    }
    vec![
        addon.name.clone(),
        addon.provider.clone(),
        addon.app.clone(),
        state,
        addon.vars.join(","),
        // Why an addon failed stays in sight; its cleanup's messages are in `info` and `log`.
        addon.failure.clone().unwrap_or_else(|| addon.message.clone()),
    ]
}
