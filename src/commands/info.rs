//! `addons info`: one addon in full, with its config vars masked unless `--reveal`.

use crate::cli::InfoArgs;
use crate::output::{addon_json, masked, rfc3339};

use super::Ctx;

/// Handles `addons info`.
pub fn run(args: InfoArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    let values = addon.config.clone().unwrap_or_default();
    let shown = |key: &String| values.get(key).map(|value| if args.reveal { value.clone() } else { masked(value) });
    if ctx.json {
        let mut doc = addon_json(&addon);
        let config: serde_json::Map<String, serde_json::Value> =
            addon.vars.iter().filter_map(|key| shown(key).map(|v| (key.clone(), v.into()))).collect();
        doc["config"] = config.into();
        ctx.print_json(&doc);
        return Ok(0);
    }
    let mut state = addon.state.to_string();
    if addon.state.is_terminal() {
        state += &format!(" (cleanup {})", addon.cleanup.as_str());
    }
    let params = addon.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
    let fields = [
        ("name", addon.name.clone()),
        ("id", addon.id.clone()),
        ("provider", addon.provider.clone()),
        ("app", addon.app.clone()),
        ("prefix", addon.prefix.clone().unwrap_or_else(|| "-".into())),
        ("params", if params.is_empty() { "-".into() } else { params }),
        ("state", state),
        ("message", addon.message.clone()),
        ("created", rfc3339(addon.created_at)),
        ("updated", rfc3339(addon.updated_at)),
    ];
    for (key, value) in fields {
        println!("{key:<9} {value}");
    }
    println!("vars");
    for key in &addon.vars {
        let missing = if addon.state.is_terminal() { "(removed from the app)" } else { "(not set yet)" };
        println!("  {key}={}", shown(key).filter(|_| !addon.state.is_terminal()).unwrap_or_else(|| missing.into()));
    }
    Ok(0)
}
