//! `addons deprovision`: moves addons to `deprovisioned`, removing their config vars
//! at once; the provider's cleanup runs on the next tick (or now, with `--wait`).

use crate::cli::DeprovisionArgs;
use crate::output::addon_json;

use super::{parse_timeout, wait::wait_for, Ctx};

/// Handles `addons deprovision`.
pub fn run(args: DeprovisionArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let mut store = ctx.store_with_addons(&args.addons[0])?;
    // Resolve every name first, so one typo changes nothing.
    let mut targets = Vec::new();
    for name in &args.addons {
        targets.push(store.addon(name)?);
    }
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
    if args.wait {
        let engine = ctx.engine();
        let code = wait_for(ctx, &engine, &mut store, ids, timeout, args.addons.len() > 1)?;
        synced?;
        return Ok(code);
    }
    if ctx.json {
        let docs = ids.iter().map(|id| store.addon(id).map(|a| addon_json(&a))).collect::<anyhow::Result<Vec<_>>>()?;
        ctx.print_json(&if docs.len() == 1 { docs[0].clone() } else { serde_json::Value::Array(docs) });
    }
    synced?;
    ctx.note("The resources are removed on the next 'addons tick'.");
    Ok(0)
}
