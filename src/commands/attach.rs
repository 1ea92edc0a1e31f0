//! `addons attach`: gives another app an addon's vars. The vars are reserved at once
//! (refused, with nothing made, when one is taken); a tick makes the app's own login
//! and sets them (now, with `--wait`).

use crate::addon::Addon;
use crate::cli::AttachArgs;
use crate::credential::Access;
use crate::engine::Engine;
use crate::names;
use crate::output::addon_json;
use crate::providers;
use crate::store::Store;

use super::wait::{wait_for, Shape};
use super::{parse_timeout, Ctx};

/// Handles `addons attach`.
pub fn run(args: AttachArgs, ctx: &Ctx) -> anyhow::Result<()> {
    names::check_app(&args.app)?;
    let prefix = args.prefix.as_deref().map(names::normalize_prefix).transpose()?;
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let mut store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    let engine = ctx.engine();
    let access = Access::of(args.read_only);
    // A provider that can't make a read-only login, and a server that does not answer,
    // are refused before anything is written.
    if access.is_read_only() {
        engine.check_read_only(&addon)?;
    }
    if addon.state.is_live() {
        super::provision::check_server(&engine, &addon.provider, crate::engine::server_name(&addon))?;
        engine.check_bound(&addon)?;
    }
    let declared = providers::vars_of(&addon.provider);
    super::note_new_app(ctx, &store, &args.app)?;
    let (addon, attachment, made) = store.attach(&addon.id, (&args.app, prefix.as_deref(), access), declared)?;
    let vars = attachment.vars(declared);
    if !made {
        return already_attached(ctx, &engine, &mut store, &addon, (&args, &vars), timeout);
    }
    let how = if access.is_read_only() { " read-only" } else { "" };
    ctx.note(format!("Attaching {} to app {}{how}: {} reserved", addon.name, args.app, vars.join(", ")));
    if !providers::info(&addon.provider).is_some_and(|info| info.own_logins()) {
        ctx.note(match access {
            Access::ReadWrite => {
                format!("{}: hands {} the same value as {}; no per-app credential", addon.provider, args.app, addon.app)
            }
            Access::ReadOnly => format!(
                "{}: hands {} the value of {} with a request to its client to only read (not enforced); no \
                 per-app credential",
                addon.provider, args.app, addon.app
            ),
        });
    }
    let done = format!("attached {} to app {}", addon.name, args.app);
    let apps = [args.app.clone()];
    if args.wait {
        wait_for(ctx, &engine, &mut store, vec![addon.id.clone()], timeout, Shape::Attachment { many: false })?;
        super::env_files_after_wait(ctx, &mut store, &apps, &done)?;
        ctx.note(format!("{} is attached to app {}: {} set", addon.name, args.app, vars.join(", ")));
        return Ok(());
    }
    let synced = super::sync_env_files(ctx, &engine, &mut store, &apps, &done);
    if ctx.json {
        ctx.print_json(&addon_json(&store.addon(&addon.id)?));
    }
    synced?;
    ctx.note(format!("Run 'addons tick' (or 'addons wait {}') to set the vars on app {}.", addon.name, args.app));
    Ok(())
}

/// The attachment asked for is in place already (same app, same prefix): said, nothing
/// changed; with `--wait`, waited for as a new one would be.
fn already_attached(
    ctx: &Ctx,
    engine: &Engine,
    store: &mut Store,
    addon: &Addon,
    (args, vars): (&AttachArgs, &[String]),
    timeout: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let how = if args.read_only { ", read-only" } else { "" };
    ctx.note(format!(
        "{} is already attached to app {}{how} ({}): nothing changed",
        addon.name,
        args.app,
        vars.join(", ")
    ));
    if args.wait {
        return wait_for(ctx, engine, store, vec![addon.id.clone()], timeout, Shape::Attachment { many: false });
    }
    if ctx.json {
        ctx.print_json(&addon_json(addon));
    }
    Ok(())
}
