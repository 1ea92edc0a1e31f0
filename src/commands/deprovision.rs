//! `addons deprovision`: moves addons to `deprovisioned`, removing their config vars
//! at once; the provider's cleanup runs on the next tick (or now, with `--wait`). With
//! `--app`, the app is also detached from every other app's addon it is attached to.

use crate::addon::Addon;
use crate::cli::DeprovisionArgs;
use crate::error::usage;
use crate::output::addon_json;
use crate::selector::Selector;
use crate::store::Scan;

use super::{
    parse_timeout,
    wait::{wait_for, Shape},
    Ctx,
};

/// Handles `addons deprovision`.
pub fn run(args: DeprovisionArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let selector = args.selector.as_deref().map(Selector::parse).transpose()?;
    if let Some(app) = &args.app {
        crate::names::check_app(app)?;
    }
    // Addons chosen by label or app, rather than by name, may be none at all.
    let chosen = selector.is_some() || args.app.is_some();
    let many = chosen || args.addons.len() > 1;
    // No state means no addon exists: a script that lost track of its state hears so,
    // with exit 2 as for an addon that is not there, or (--missing-ok) a warning, as
    // each is then already gone.
    let store = match (args.addons.first(), args.missing_ok) {
        (Some(first), false) => Some(ctx.store_with_addons(first)?),
        (None, false) => match ctx.existing_store()? {
            Some(store) => Some(store),
            None => return Err(usage(ctx.no_state(Some("nothing to deprovision")))),
        },
        (_, true) => ctx.store_to_act_on("nothing to deprovision")?,
    };
    // Resolve every name first, so one typo changes nothing.
    let mut targets = Vec::new();
    for name in &args.addons {
        let found = match (&store, args.missing_ok) {
            (Some(store), false) => Some(store.addon(name)?),
            (Some(store), true) => store.find_addon(name)?,
            // Said once for them all: there is no state.
            (None, _) => continue,
        };
        match found {
            Some(addon) => targets.push(addon),
            None => ctx.note(format!("No addon named {}; nothing to remove.", crate::names::shown(name))),
        }
    }
    // The other apps' addons that --app's app is attached to: it is detached from each.
    let mut attached: Vec<Addon> = Vec::new();
    if let (Some(store), true) = (&store, chosen) {
        let matches = |addon: &Addon| selector.as_ref().is_none_or(|s| s.matches(&addon.labels));
        // Read a batch at a time with the selector in the store's query: what is held is
        // what is picked, not every live addon of the state.
        let scan = Scan {
            app: args.app.as_deref(),
            all: false,
            labels: selector.as_ref().map_or(&[], |selector| selector.requirements()),
            expired_by: None,
            own_schedule: false,
        };
        let mut picked = Vec::new();
        store.for_each_addon(&scan, |addon| {
            if !targets.iter().any(|t| t.id == addon.id) {
                picked.push(addon);
            }
            Ok(())
        })?;
        if let Some(app) = &args.app {
            attached = store.attached_addons(app)?.into_iter().filter(matches).collect();
            attached.retain(|addon| !targets.iter().chain(&picked).any(|t| t.id == addon.id));
        }
        match &args.app {
            _ if !picked.is_empty() || !attached.is_empty() => {}
            Some(app) => {
                ctx.note(format!("No live addon of app {app} and no attachment of it matches; nothing to remove."))
            }
            None => ctx.note("No live addon matches; nothing to remove."),
        }
        targets.extend(picked);
    }
    let Some(mut store) = store else {
        if ctx.json {
            ctx.print_json(&if many { serde_json::json!([]) } else { serde_json::Value::Null });
        }
        return Ok(());
    };
    // An addon whose server the config no longer leads to is refused before any is changed.
    let engine = ctx.engine();
    for target in targets.iter().chain(&attached) {
        engine.check_bound(target)?;
    }
    let mut ids = Vec::new();
    // The apps attached to them lose the vars too.
    let mut apps: Vec<String> = targets
        .iter()
        .flat_map(|target| std::iter::once(&target.app).chain(target.attachments.iter().map(|t| &t.app)))
        .cloned()
        .collect();
    apps.extend(args.app.iter().filter(|_| !attached.is_empty()).cloned());
    apps.sort();
    apps.dedup();
    let mut done = format!("deprovisioned {}", targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "));
    if let (Some(app), false) = (&args.app, attached.is_empty()) {
        let names: Vec<&str> = attached.iter().map(|addon| addon.name.as_str()).collect();
        done = format!("{done}; detached app {app} from {}", names.join(", "));
    }
    for target in targets {
        let (addon, changed) = store.deprovision(&target.id)?;
        if changed {
            let attached: Vec<&str> = target.attachments.iter().map(|t| t.app.as_str()).collect();
            let also = match attached.is_empty() {
                true => String::new(),
                false => format!(" and from attached apps {}", attached.join(", ")),
            };
            ctx.note(format!(
                "Deprovisioning {}: {} removed from app {}{also}",
                addon.name,
                addon.vars.join(", "),
                addon.app
            ));
        } else {
            ctx.note(format!("{} is already {}", addon.name, addon.state));
        }
        ids.push(addon.id);
    }
    if let Some(app) = &args.app {
        for addon in &attached {
            ids.push(detach(ctx, &mut store, addon, app)?);
        }
    }
    let synced = super::sync_env_files(ctx, &engine, &mut store, &apps, &done);
    if args.wait && !ids.is_empty() {
        wait_for(ctx, &engine, &mut store, ids, timeout, if many { Shape::Many } else { Shape::OneOrMany })?;
        synced?;
        return Ok(());
    }
    if ctx.json {
        let docs = ids.iter().map(|id| store.addon(id).map(|a| addon_json(&a))).collect::<anyhow::Result<Vec<_>>>()?;
        // One name asked about prints one addon (null when --missing-ok found none).
        ctx.print_json(&match (many, docs.first()) {
            (false, Some(doc)) => doc.clone(),
            (false, None) => serde_json::Value::Null,
            (true, _) => serde_json::Value::Array(docs),
        });
    }
    synced?;
    match (&args.app, ids.len() > attached.len(), attached.is_empty()) {
        (Some(app), true, false) => {
            ctx.note(format!("The resources are removed, and app {app}'s logins revoked, on the next 'addons tick'."))
        }
        (Some(app), false, false) => ctx.note(format!("App {app}'s logins are revoked on the next 'addons tick'.")),
        (_, true, _) => ctx.note("The resources are removed on the next 'addons tick'."),
        _ => {}
    }
    Ok(())
}

/// Detaches `app` from another app's `addon` (its vars go at once, its logins on the next
/// tick) and says so; the addon's id, to wait for.
fn detach(ctx: &Ctx, store: &mut crate::store::Store, addon: &Addon, app: &str) -> anyhow::Result<String> {
    let (addon, attachment) = store.detach(&addon.id, app)?;
    ctx.note(format!(
        "Detaching app {app} from {}: {} removed",
        addon.name,
        attachment.vars(crate::providers::vars_of(&addon.provider)).join(", ")
    ));
    Ok(addon.id)
}
