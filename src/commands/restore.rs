//! `addons restore`: records a restore of a backup into an addon (its data replaced,
//! its credentials and vars kept) and starts its background worker; with `--wait`,
//! waits for it. A backup whose file no longer has its checksum is refused.

use crate::cli::RestoreArgs;
use crate::error::usage;

use super::backup::{say, wait_for};
use super::Ctx;

/// Handles `addons restore`.
pub fn run(args: RestoreArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let timeout = super::parse_timeout(args.timeout.as_deref())?;
    let mut store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    if args.confirm != addon.name && args.confirm != addon.id {
        return Err(usage(format!(
            "--confirm {} does not name {}: the restore replaces its data, so repeat its name: --confirm {}",
            crate::names::shown(&args.confirm),
            addon.name,
            addon.name
        )));
    }
    let backup = store.find_backup(&args.backup)?.ok_or_else(|| {
        usage(format!("no backup {}; 'addons backups' lists them", crate::names::shown(&args.backup)))
    })?;
    let engine = ctx.engine();
    let restore = engine.request_restore(&mut store, &addon, &backup)?;
    if !args.wait {
        return say(ctx, &restore, &format!("restoring {} from {} in the background", addon.name, backup.id));
    }
    let restore = wait_for(ctx, &engine, &mut store, (&addon, &restore), timeout)?;
    say(ctx, &restore, &format!("restored {} from {}", addon.name, backup.id))
}
