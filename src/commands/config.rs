//! `addons config`: show an app's config vars (masked unless `--reveal`), or set and
//! unset vars by hand. Vars owned by addons can't be set or unset here.

use crate::cli::{ConfigAction, ConfigArgs};
use crate::error::usage;
use crate::names;
use crate::output::{masked, table, vars_rows};
use crate::store::Store;

use super::Ctx;

/// Handles `addons config`.
pub fn run(args: ConfigArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    match args.action {
        Some(ConfigAction::Set { app, pairs }) => set(ctx, &app, &pairs),
        Some(ConfigAction::Unset { app, keys }) => unset(ctx, &app, &keys),
        None => show(ctx, args.app.as_deref().unwrap_or_default(), args.reveal),
    }
}

fn show(ctx: &Ctx, app: &str, reveal: bool) -> anyhow::Result<i32> {
    let vars = super::env::app_vars(ctx, app)?;
    if ctx.json {
        let doc: serde_json::Map<String, serde_json::Value> = vars
            .iter()
            .map(|var| (var.key.clone(), if reveal { var.value.clone() } else { masked(&var.value) }.into()))
            .collect();
        ctx.print_json(&doc.into());
    } else if vars.is_empty() {
        ctx.note(format!("App {app} has no config vars."));
    } else {
        print!("{}", table(&["KEY", "VALUE", "SOURCE"], &vars_rows(&vars, reveal)));
    }
    Ok(0)
}

fn set(ctx: &Ctx, app: &str, raw: &[String]) -> anyhow::Result<i32> {
    names::check_app(app)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in raw {
        let Some((key, value)) = item.split_once('=') else {
            return Err(usage(format!("{} is not KEY=VALUE; write e.g. API_TOKEN=abc", names::shown(item))));
        };
        names::check_var_key(key)?;
        if pairs.iter().any(|(k, _)| k == key) {
            return Err(usage(format!("{key} is given twice; give it once")));
        }
        pairs.push((key.to_string(), value.to_string()));
    }
    let mut store = ctx.store()?;
    store.set_config_vars(app, &pairs)?;
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    finish(ctx, &mut store, app, &keys, "Set")
}

fn unset(ctx: &Ctx, app: &str, keys: &[String]) -> anyhow::Result<i32> {
    names::check_app(app)?;
    for key in keys {
        names::check_var_key(key)?;
    }
    let Some(mut store) = ctx.existing_store()? else {
        return Err(usage(format!("app {app} has no config var {}; there is no state file yet", keys[0])));
    };
    store.unset_config_vars(app, keys)?;
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    finish(ctx, &mut store, app, &keys, "Unset")
}

/// Writes the app's env file after a committed change, and says what was done.
fn finish(ctx: &Ctx, store: &mut Store, app: &str, keys: &[&str], verb: &str) -> anyhow::Result<i32> {
    let done = format!("{} {} on app {app}", verb.to_lowercase(), keys.join(", "));
    let synced = super::sync_env_files(ctx, store, &[app.to_string()], &done);
    if ctx.json {
        ctx.print_json(&serde_json::json!({"app": app, "keys": keys}));
    }
    synced?;
    ctx.note(format!("{verb} {} on app {app}.", keys.join(", ")));
    Ok(0)
}
