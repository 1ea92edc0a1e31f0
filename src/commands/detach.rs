//! `addons detach`: takes an attached app's vars away at once; a tick revokes its
//! login (now, with `--wait`), leaving every other app's working.

use crate::cli::DetachArgs;
use crate::names;
use crate::output::addon_json;
use crate::providers;

use super::wait::{wait_for, Shape};
use super::{parse_timeout, Ctx};

/// Handles `addons detach`.
pub fn run(args: DetachArgs, ctx: &Ctx) -> anyhow::Result<()> {
    names::check_app(&args.app)?;
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let mut store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    let (addon, _) = store.detach(&addon.id, &args.app)?;
    ctx.note(format!("Detached {} from app {}: its vars are removed", addon.name, args.app));
    let done = format!("detached {} from app {}", addon.name, args.app);
    let apps = [args.app.clone()];
    let engine = ctx.engine();
    let synced = super::sync_env_files(ctx, &engine, &mut store, &apps, &done);
    if args.wait {
        wait_for(ctx, &engine, &mut store, vec![addon.id.clone()], timeout, Shape::Attachment { many: false })?;
        synced?;
        let revoked = match providers::info(&addon.provider).is_some_and(|info| info.own_logins()) {
            true => "its login is revoked",
            false => "it had no login of its own",
        };
        ctx.note(format!("{} is detached from app {}: {revoked}", addon.name, args.app));
        return Ok(());
    }
    if ctx.json {
        ctx.print_json(&addon_json(&store.addon(&addon.id)?));
    }
    synced?;
    ctx.note(format!("Its credential is revoked on the next 'addons tick' (or 'addons wait {}').", addon.name));
    Ok(())
}
