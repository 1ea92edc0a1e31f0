//! `addons rotate`: asks for new credentials for ready addons. The new generation is
//! written to the state here; ticks make its login, switch the app's vars to it and,
//! once the grace is over, revoke the old ones.

use std::time::Duration;

use crate::addon::Addon;
use crate::cli::RotateArgs;
use crate::error::{failed, usage};
use crate::machine::State;
use crate::output::addon_json;
use crate::providers::{self, Rotates};
use crate::selector::Selector;
use crate::store::Refused;

use super::{
    parse_timeout,
    wait::{wait_for, Shape},
    Ctx,
};

/// Handles `addons rotate`.
pub fn run(args: RotateArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let grace = parse_grace(&args.grace)?;
    if let Some(app) = &args.app {
        crate::names::check_app(app)?;
    }
    let selector = args.selector.as_deref().map(Selector::parse).transpose()?;
    // Addons chosen by label may be none, or some with nothing to rotate (skipped).
    let chosen: Vec<Addon> = match (&selector, args.addons.first()) {
        (Some(selector), _) => match ctx.existing_store()? {
            Some(store) => {
                store.list_addons(None, false)?.into_iter().filter(|addon| selector.matches(&addon.labels)).collect()
            }
            None => return Err(usage(ctx.no_state(Some("nothing to rotate")))),
        },
        (None, Some(first)) => {
            let store = ctx.store_with_addons(first)?;
            args.addons.iter().map(|name| store.addon(name)).collect::<anyhow::Result<_>>()?
        }
        (None, None) => return Err(usage("name the addons to rotate, or choose them with --selector")),
    };
    let many = selector.is_some() || args.addons.len() > 1;
    // Check every addon first, so one that can't be rotated changes nothing.
    let mut targets = Vec::new();
    for addon in chosen {
        let rotates = providers::info(&addon.provider).map(|info| info.rotation);
        if let Some(Rotates::Nothing(why)) = rotates {
            if selector.is_some() {
                ctx.note(format!("Skipping {} ({}): nothing to rotate.", addon.name, addon.provider));
                continue;
            }
            return Err(failed(format!("{} ({}) has nothing to rotate: {why}", addon.name, addon.provider)));
        }
        if addon.state != State::Ready {
            return Err(Refused::RotateNotReady { addon: addon.name, state: addon.state }.into());
        }
        if let Some(app) = args.app.as_ref().filter(|app| !addon.attachments.iter().any(|t| &t.app == *app)) {
            return Err(Refused::NotAttached { addon: addon.name, app: app.clone() }.into());
        }
        if let (Some(app), Some(Rotates::Replace)) = (&args.app, rotates) {
            return Err(failed(format!(
                "{} ({}) hands app {app} the same value as app {}, with no login of its own: rotate the addon itself",
                addon.name, addon.provider, addon.app
            )));
        }
        targets.push((addon, rotates == Some(Rotates::Replace)));
    }
    if targets.is_empty() {
        ctx.note("No live addon with something to rotate matches; nothing rotated.");
        if ctx.json {
            ctx.print_json(&serde_json::json!([]));
        }
        return Ok(());
    }
    let engine = ctx.engine();
    for (target, _) in &targets {
        engine.check_bound(target)?;
    }
    let mut store = ctx.store()?;
    let mut ids = Vec::new();
    for (target, replaced) in targets {
        if let Some(app) = &args.app {
            let (addon, attachment) = store.rotate_attachment(&target.id, app, grace)?;
            let revoke = match grace.is_zero() {
                true => "the old login is revoked once the vars hold the new".to_string(),
                false => format!("the old login keeps working for {}", humantime::format_duration(grace)),
            };
            ctx.note(format!(
                "Rotating app {app}'s login to {} to generation {}: {revoke}",
                addon.name, attachment.login.generation
            ));
            ids.push(addon.id);
            continue;
        }
        let addon = store.rotate(&target.id, (!replaced).then_some(grace))?;
        let revoke = match replaced {
            true => "the old value is replaced".to_string(),
            false if grace.is_zero() => "the old credentials are revoked once the vars hold the new".to_string(),
            false => format!("the old credentials keep working for {}", humantime::format_duration(grace)),
        };
        ctx.note(format!("Rotating {} to generation {}: {revoke}", addon.name, addon.login.generation));
        ids.push(addon.id);
    }
    if let (true, Some(app)) = (args.wait, &args.app) {
        wait_for(ctx, &engine, &mut store, ids.clone(), timeout, Shape::Attachment { many })?;
        for id in &ids {
            ctx.note(rotated_for(&store.addon(id)?, app));
        }
        return Ok(());
    }
    if args.wait {
        return wait_for(ctx, &engine, &mut store, ids, timeout, if many { Shape::Many } else { Shape::OneOrMany });
    }
    if ctx.json {
        let docs = ids.iter().map(|id| store.addon(id).map(|a| addon_json(&a))).collect::<anyhow::Result<Vec<_>>>()?;
        ctx.print_json(&match many {
            false => docs.into_iter().next().unwrap_or_default(),
            true => serde_json::Value::Array(docs),
        });
    }
    ctx.note("The new credentials are made on the next 'addons tick'.");
    Ok(())
}

/// What `rotate --app APP --wait` says of an addon once APP's vars hold its new login.
fn rotated_for(addon: &Addon, app: &str) -> String {
    let attachment = addon.attachments.iter().find(|attachment| attachment.app == app);
    let vars =
        attachment.map(|attachment| attachment.vars(crate::providers::vars_of(&addon.provider))).unwrap_or_default();
    format!("{} is rotated for app {app}: {} set on app {app}", addon.name, vars.join(", "))
}

/// `--grace`: a duration as the config file takes them, or 0 for none.
fn parse_grace(text: &str) -> anyhow::Result<Duration> {
    match humantime::parse_duration(text) {
        Ok(grace) if grace.is_zero() => Ok(grace),
        _ => crate::expiry::parse_duration(text).map_err(|err| usage(format!("--grace: {err} (0 revokes at once)"))),
    }
}
