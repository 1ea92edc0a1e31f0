//! `addons deprovision`: moves addons to `deprovisioned`, removing their config vars
//! at once; the provider's cleanup runs on the next tick (or now, with `--wait`).

use crate::cli::DeprovisionArgs;
use crate::output::addon_json;

use super::{parse_timeout, wait::wait_for, Ctx};

/// Handles `addons deprovision`.
pub fn run(args: DeprovisionArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let timeout = parse_timeout(args.timeout.as_deref())?;
    // With --missing-ok, no state file means no addon exists: each is already gone.
    let store = if args.missing_ok { ctx.existing_store()? } else { Some(ctx.store_with_addons(&args.addons[0])?) };
    // Resolve every name first, so one typo changes nothing.
    let mut targets = Vec::new();
    for name in &args.addons {
        let found = match (&store, args.missing_ok) {
            (Some(store), false) => Some(store.addon(name)?),
            (Some(store), true) => store.find_addon(name)?,
            (None, _) => None,
        };
        match found {
            Some(addon) => targets.push(addon),
            None => ctx.note(format!("No addon named {}; nothing to remove.", crate::names::shown(name))),
        }
    }
    let Some(mut store) = store else {
        if ctx.json {
            ctx.print_json(&if args.addons.len() == 1 { serde_json::Value::Null } else { serde_json::json!([]) });
        }
        return Ok(0);
    };
    let mut ids = Vec::new();
    let mut apps: Vec<String> = targets.iter().map(|target| target.app.clone()).collect();
    apps.sort();
    apps.dedup();
    let done = format!("deprovisioned {}", targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "));
    for target in targets {
        let (addon, changed) = store.deprovision(&target.id)?;
        if changed {
            ctx.note(format!(
                "Deprovisioning {}: {} removed from app {}",
                addon.name,
                addon.vars.join(", "),
                addon.app
            ));
        } else {
            ctx.note(format!("{} is already {}", addon.name, addon.state));
        }
        ids.push(addon.id);
    }
    let synced = super::sync_env_files(ctx, &mut store, &apps, &done);
    if args.wait && !ids.is_empty() {
        let engine = ctx.engine();
        let code = wait_for(ctx, &engine, &mut store, ids, timeout, args.addons.len() > 1)?;
        synced?;
        return Ok(code);
    }
    if ctx.json {
        let docs = ids.iter().map(|id| store.addon(id).map(|a| addon_json(&a))).collect::<anyhow::Result<Vec<_>>>()?;
        // One name asked about prints one addon (null when --missing-ok found none).
        ctx.print_json(&match (args.addons.len(), docs.first()) {
            (1, Some(doc)) => doc.clone(),
            (1, None) => serde_json::Value::Null,
            _ => serde_json::Value::Array(docs),
        });
    }
    synced?;
    if !ids.is_empty() {
        ctx.note("The resources are removed on the next 'addons tick'.");
    }
    Ok(0)
}
