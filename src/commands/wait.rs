//! `addons wait`, and the waiting that `provision --wait` and `deprovision --wait` share.

use std::time::Duration;

use crate::addon::{Addon, Glance};
use crate::cli::WaitArgs;
use crate::engine::Engine;
use crate::error::{failed, Exit, Failure};
use crate::machine::State;
use crate::output::addon_json;
use crate::store::{now_ms, Store};

use super::progress::{Plain, Progress};
use super::{parse_timeout, Ctx};

/// Handles `addons wait`.
pub fn run(args: WaitArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let selector = args.selector.as_deref().map(crate::selector::Selector::parse).transpose()?;
    let mut store = match args.addons.first() {
        Some(first) => ctx.store_with_addons(first)?,
        None => match ctx.existing_store()? {
            Some(store) => store,
            None => {
                ctx.note(format!("warning: {}", ctx.no_state(Some("nothing to wait for"))));
                if ctx.json {
                    ctx.print_json(&serde_json::json!([]));
                }
                return Ok(());
            }
        },
    };
    let mut ids = Vec::new();
    for name in &args.addons {
        ids.push(store.addon(name)?.id);
    }
    if let Some(selector) = &selector {
        // Selected here, over the live addons of the state.
        for addon in store.list_addons(None, false)? {
            if selector.matches(&addon.labels) && !ids.contains(&addon.id) {
                ids.push(addon.id);
            }
        }
    }
    if ids.is_empty() {
        return nothing_selected(ctx);
    }
    let engine = ctx.engine();
    wait_for(ctx, &engine, &mut store, ids, timeout, Shape::Many)
}

/// What `wait --selector` does when no live addon matches: nothing to wait for.
fn nothing_selected(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.note("No live addon matches; nothing to wait for.");
    if ctx.json {
        ctx.print_json(&serde_json::json!([]));
    }
    Ok(())
}

/// How `wait_for` prints its addons under `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An array, even of one addon (`wait`, `apply`).
    Many,
    /// One addon as an object, several as an array (`deprovision`, `rotate`).
    OneOrMany,
    /// One addon as `provision` prints it, with whether this call made it.
    Provisioned { created: bool },
    /// Addons whose attachment to an app was asked for (`attach`, `detach`, `rotate
    /// --app`), one as an object unless `many`: the caller says how that ended, not how
    /// the addons are.
    Attachment { many: bool },
}

/// Ticks the addons until each has settled. `Ok` when all are ready or cleaned up;
/// exit 1 when any ended in error, 3 when `timeout` passed first. `many` prints an array
/// under `--json` even for one addon.
pub fn wait_for(
    ctx: &Ctx,
    engine: &Engine,
    store: &mut Store,
    ids: Vec<String>,
    timeout: Option<Duration>,
    shape: Shape,
) -> anyhow::Result<()> {
    // The deadline runs on this host's clock; the addons' times on the state's.
    let deadline = timeout.map(|t| now_ms() + t.as_millis() as i64);
    let started = store.now()?;
    // A cleanup or a rotation the provider refused for good in this wait will not
    // finish by waiting.
    let blocked = |addon: &Addon| {
        (addon.state.is_terminal() || addon.state == State::Ready)
            && addon.has_pending_work()
            && addon.last_error_permanent
            && addon.last_error.is_some()
            && addon.updated_at >= started
    };
    let progress = Progress::new(ctx.quiet || ctx.json, Plain::Stderr);
    let said = std::cell::RefCell::new(std::collections::HashSet::new());
    // Whether they settled is read from the state afterwards: another process may
    // have settled the last of them after the final tick.
    engine.run_until_settled(
        store,
        super::jobs(None, ctx),
        Some(&ids),
        deadline,
        &mut |store, report| {
            let addons = ids.iter().map(|id| store.addon(id)).collect::<anyhow::Result<Vec<_>>>()?;
            // Off screen and back only when there may be something to print above it.
            let printing = report.followed.is_some()
                || !report.hooks.is_empty()
                || addons.iter().any(|addon| addon.last_error.is_some());
            if printing {
                progress.suspend(|| {
                    if let Some(path) = &report.followed {
                        eprintln!(
                            "warning: state file {path} was replaced (renamed over) while waiting; now on the new file"
                        );
                    }
                    super::report_hooks(ctx, &report.hooks, Some("warning"));
                    // A rotation retried after a transient failure says why while it waits.
                    for addon in addons.iter().filter(|addon| addon.state == State::Ready && !blocked(addon)) {
                        if let Some(why) = addon.last_error.as_ref().filter(|_| !ctx.quiet && !ctx.json) {
                            if said.borrow_mut().insert(format!("{}\n{why}", addon.id)) {
                                eprintln!("warning: {}'s rotation failed, retrying with backoff: {why}", addon.name);
                            }
                        }
                    }
                });
            }
            // A ready addon's retried rotation is said above, once per reason.
            let attempts: Vec<_> =
                report.failed_attempts.iter().filter(|attempt| attempt.to != State::Ready).cloned().collect();
            progress.failed_attempts(&attempts);
            progress.copies(&report.copies);
            let now = store.now()?;
            progress.update(
                addons.iter().map(Glance::of).collect(),
                &mut |ids| store.glances(ids),
                report.pending,
                now,
            )?;
            Ok(addons.iter().all(|addon| addon.is_settled(now) || blocked(addon)))
        },
        &|outcome| progress.transition(outcome),
    )?;
    let addons = ids.iter().map(|id| store.addon(id)).collect::<anyhow::Result<Vec<_>>>()?;
    let (pending, now) = (store.pending_count(Some(&ids))?, store.now()?);
    progress.finish(addons.iter().map(Glance::of).collect(), &mut |ids| store.glances(ids), pending, now)?;
    if ctx.json {
        let mut docs: Vec<_> = addons.iter().map(addon_json).collect();
        if let Shape::Provisioned { created } = shape {
            for doc in &mut docs {
                doc["created"] = created.into();
            }
        }
        let many = matches!(shape, Shape::Many | Shape::Attachment { many: true }) || docs.len() != 1;
        ctx.print_json(&if many { serde_json::Value::Array(docs) } else { docs[0].clone() });
    }
    if let Some(addon) = addons.iter().find(|a| a.state == State::Error) {
        let why = addon.failure.as_deref().unwrap_or(&addon.message);
        return Err(failed(format!("{} ended in error: {why}", addon.name)));
    }
    if let Some(addon) = addons.iter().find(|a| blocked(a)) {
        return Err(failed(format!(
            "{}'s {} can't finish: {}: {}; ticks keep retrying it, so fix that and run 'addons wait {}'",
            addon.name,
            step_in_hand(addon),
            addon.provider,
            addon.last_error.as_deref().unwrap_or_default(),
            addon.name
        )));
    }
    let now = store.now()?;
    let waiting: Vec<_> = addons.iter().filter(|a| !a.is_settled(now)).collect();
    if let Some(first) = waiting.first() {
        let names = waiting.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ");
        if ctx.stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(failed(format!("interrupted while waiting for {names}")));
        }
        let line =
            format!("timed out waiting for {names} ({}); 'addons wait' picks up where this left off", first.message);
        return Err(Failure::new(Exit::TimedOut, line).into());
    }
    if let Shape::Attachment { .. } = shape {
        return Ok(());
    }
    for addon in &addons {
        let done = match addon.state {
            State::Ready => format!("{} is ready: {} set on app {}", addon.name, addon.vars.join(", "), addon.app),
            _ => format!("{} is {}: {}", addon.name, addon.state, addon.message),
        };
        ctx.note(done);
    }
    Ok(())
}

/// What a tick tries first of an addon's work left, as a tick runs it: its cleanup; for
/// a ready addon, its own rotation, else the first attachment with a step due.
pub(super) fn step_in_hand(addon: &Addon) -> String {
    if addon.state != State::Ready {
        return "cleanup".into();
    }
    let now = now_ms();
    if addon.login.due(now).is_some() {
        return "rotation".into();
    }
    let mut attachments: Vec<_> = addon.attachments.iter().filter(|t| t.has_work()).collect();
    attachments.sort_by_key(|t| (!t.is_due(now), t.slot));
    attachments.first().map_or_else(|| "rotation".into(), |attachment| attachment.step())
}
