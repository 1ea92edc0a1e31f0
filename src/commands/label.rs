//! `addons label` and `addons expire`: what a user marks on an existing addon.

use crate::cli::{ExpireArgs, LabelArgs};
use crate::expiry::{check_expire, parse_expire, Expiry};
use crate::labels::parse_edits;
use crate::output::{addon_json, rfc3339};

use super::Ctx;

/// Handles `addons label`: every edit is checked before the addon is looked up, and all
/// are made in one transaction, or none.
pub fn label(args: LabelArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let edits = parse_edits(&args.edits)?;
    let mut store = ctx.store_with_addons(&args.addon)?;
    let id = store.addon(&args.addon)?.id;
    let addon = store.relabel(&id, |labels| labels.edited(&edits))?;
    if ctx.json {
        ctx.print_json(&addon_json(&addon));
    } else {
        let shown = if addon.labels.is_empty() { "no labels".to_string() } else { addon.labels.to_string() };
        ctx.note(format!("{} now has {shown}", addon.name));
    }
    Ok(())
}

/// Handles `addons expire`: the argument is read against the state's clock (a shared
/// state's server's, not this host's, which may be off).
pub fn expire(args: ExpireArgs, ctx: &Ctx) -> anyhow::Result<()> {
    // Its form is checked first, so a bad argument is refused before the state is
    // opened; the time it names is checked and worked out on the state's clock.
    check_expire(&args.when)?;
    let mut store = ctx.store_with_addons(&args.addon)?;
    let id = store.addon(&args.addon)?.id;
    let addon = store.set_expiry(&id, |now| {
        Ok(match parse_expire(&args.when, now)? {
            Expiry::At(at) => Some(at),
            Expiry::Never => None,
        })
    })?;
    if ctx.json {
        ctx.print_json(&addon_json(&addon));
    } else {
        ctx.note(match addon.expires_at {
            Some(at) => format!("{} expires at {}; a tick or watch then deprovisions it", addon.name, rfc3339(at)),
            None => format!("{} never expires", addon.name),
        });
    }
    Ok(())
}
