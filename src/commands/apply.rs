//! `addons apply -f FILE`: prints the plan that makes the live addons match the file
//! (src/apply), then carries it out in one transaction of the store, planned again
//! there. A conflict stops everything before any change; a bad file is refused before
//! the state is opened.

use anyhow::Context;

use crate::addon::Addon;
use crate::apply::{self, Action, LiveAddon, Plan, PlanLine, PlanOptions};
use crate::cli::ApplyArgs;
use crate::error::{failed, usage};
use crate::output::addon_json;
use crate::spec::AddonSpec;
use crate::store::apply::{Applied, ApplyChange};
use crate::store::Store;

use super::provision::check_server;
use super::{
    parse_timeout,
    wait::{wait_for, Shape},
    Ctx,
};

/// Handles `addons apply`.
pub fn run(args: ApplyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let timeout = parse_timeout(args.timeout.as_deref())?;
    let file = ctx.reading(|| apply::load(&args.file))??;
    // A backup schedule is refused for a provider without backups, before the state is read.
    let engine = ctx.engine();
    for desired in file.addons.iter().filter(|desired| desired.backup_schedule.is_some()) {
        let server = desired.spec.server_name();
        if let Err(why) = engine.backs_up(&desired.spec.provider, server).map_err(usage)? {
            return Err(file.refuse_schedule(desired, &why));
        }
    }
    let options = PlanOptions { prune: args.prune, replace: args.replace, adopt: args.adopt };
    // With no state yet, the plan is against no live addon, and the state is made only
    // for changes: a file that makes nothing (a scope's teardown) has nothing to act on.
    let existing = ctx.existing_store()?;
    if existing.is_none() && file.addons.is_empty() {
        return Err(usage(ctx.no_state(Some("nothing to apply"))));
    }
    let plan = match &existing {
        Some(store) => apply::plan(&file, &live_addons(store)?, options, store.now()?),
        None => apply::plan(&file, &[], options, crate::store::now_ms()),
    };
    if !ctx.json {
        for line in &plan.lines {
            println!("{line}");
        }
        println!("{}", plan.summary(&file));
    }
    let conflicts: Vec<&PlanLine> = plan.conflicts().collect();
    if !conflicts.is_empty() {
        if ctx.json {
            ctx.print_json(&serde_json::json!({"plan": plan.to_json(), "changed": false, "addons": []}));
        }
        let names: Vec<&str> = conflicts.iter().map(|line| line.name.as_str()).collect();
        return Err(failed(format!("{}: nothing was changed", plan_summary_line(&plan, &names))));
    }
    if args.dry_run || !plan.changes_anything() {
        if ctx.json {
            ctx.print_json(&serde_json::json!({"plan": plan.to_json(), "changed": false, "addons": []}));
        }
        return Ok(());
    }
    let mut store = match existing {
        Some(store) => store,
        None => ctx.new_store()?,
    };
    // A schedule's backups need their folder (named in the config for a shared state).
    if file.addons.iter().any(|desired| desired.backup_schedule.is_some()) {
        engine.backups_dir(&store)?;
    }
    check_vars(&store, &file, &plan)?;
    // Every server a creation needs answers, or nothing is made.
    let mut servers: Vec<(&str, &str)> = plan
        .lines
        .iter()
        .filter(|line| matches!(line.action, Action::Create { .. } | Action::Replace { .. }))
        .map(|line| {
            let server =
                file.addon(&line.name).map_or(crate::spec::DEFAULT_SERVER, |desired| desired.spec.server_name());
            (line.provider.as_str(), server)
        })
        .collect();
    servers.sort();
    servers.dedup();
    for (provider, server) in servers {
        check_server(&engine, provider, server)?;
    }
    // Every `from` names a ready addon whose data can be copied, or nothing is made.
    let mut sources = std::collections::BTreeMap::new();
    for line in plan.lines.iter().filter(|line| matches!(line.action, Action::Create { .. } | Action::Replace { .. })) {
        let Some(desired) = file.addon(&line.name) else { continue };
        if let Some(from) = &desired.from {
            let source = engine
                .check_source(&store, &desired.spec, from)
                .with_context(|| format!("{} (line {})", line.name, desired.line))?;
            sources.insert(line.name.clone(), source);
        }
    }
    let applied = store.apply_changes(|live, now| changes(&engine, &file, options, &plan, &sources, live, now))?;
    let mut touched = Vec::new();
    for Applied { addon, created } in applied {
        if created {
            engine.begin(&mut store, &addon)?;
            touched.push(store.addon(&addon.id)?);
        } else {
            touched.push(addon);
        }
    }
    // Their apps, and the apps attached to them (a removal takes those apps' vars too).
    let touched_ids: Vec<String> = touched.iter().map(|addon| addon.id.clone()).collect();
    let apps = store.apps_of(&touched_ids)?;
    let done = format!("applied {}", file.path.display());
    let synced = super::sync_env_files(ctx, &engine, &mut store, &apps, &done);
    let ids: Vec<String> = touched.iter().map(|addon| addon.id.clone()).collect();
    if args.wait && !ids.is_empty() {
        // Under --json, wait prints the addons it waited for.
        wait_for(ctx, &engine, &mut store, ids, timeout, Shape::Many)?;
        synced?;
        return Ok(());
    }
    if ctx.json {
        let docs = ids.iter().map(|id| store.addon(id).map(|a| addon_json(&a))).collect::<anyhow::Result<Vec<_>>>()?;
        ctx.print_json(&serde_json::json!({"plan": plan.to_json(), "changed": true, "addons": docs}));
    }
    synced?;
    ctx.note("Applied. Run 'addons tick' (or apply with --wait) to finish provisioning.");
    Ok(())
}

/// Refuses (exit 1, before any change) a creation whose config vars another addon, or a
/// var set by hand, holds on its app, or that another addon of the file would also take;
/// an addon of the same name does not count (the one a replacement removes, or one
/// another apply of the file made since the plan: planned again, it is kept).
fn check_vars(store: &Store, file: &apply::ApplyFile, plan: &Plan) -> anyhow::Result<()> {
    let mut taken: Vec<(String, String)> = Vec::new();
    for line in &plan.lines {
        if !matches!(line.action, Action::Create { .. } | Action::Replace { .. }) {
            continue;
        }
        let Some(desired) = file.addon(&line.name) else { continue };
        let info = crate::providers::info(&desired.spec.provider);
        for var in info.map(|info| info.vars).unwrap_or_default() {
            let key = crate::names::prefixed(desired.spec.prefix.as_deref(), var);
            let held = match store.var_holder(&desired.spec.app, &key)? {
                None => false,
                Some(Some(id)) => store.find_addon(&id)?.is_none_or(|holder| holder.name != line.name),
                Some(None) => true,
            };
            let pair = (desired.spec.app.clone(), key.clone());
            if held || taken.contains(&pair) {
                return Err(failed(format!(
                    "{}: app {} already has {key} (or another addon of the file takes it); give the addon a prefix with as = \"...\"; nothing was changed",
                    line.name, desired.spec.app
                )));
            }
            taken.push(pair);
        }
    }
    Ok(())
}

/// The conflicts' names for the error line, and the flags that would resolve them.
fn plan_summary_line(plan: &Plan, names: &[&str]) -> String {
    format!(
        "{} can't be changed in place ({}){}",
        crate::output::plural(names.len() as u64, "addon"),
        names.join(", "),
        plan.remedy().map(|flags| format!("; give {flags}")).unwrap_or_default()
    )
}

/// The live addons as the planner sees them.
fn live_addons(store: &Store) -> anyhow::Result<Vec<LiveAddon>> {
    Ok(store.list_addons(None, false)?.iter().map(live_addon).collect())
}

/// A live addon as the planner sees it.
fn live_addon(addon: &Addon) -> LiveAddon {
    LiveAddon {
        name: addon.name.clone(),
        spec: AddonSpec::of(addon),
        labels: addon.labels.clone(),
        expires_at: addon.expires_at,
        backup_schedule: addon.backup_schedule,
    }
}

/// The changes that make the live addons match the file, planned again from `live` (read
/// in the apply's transaction), so what another process did since the printed plan is
/// seen: another apply of the same file that made an addon first leaves it to keep or
/// update; a conflict now, or an addon to make that the printed plan did not make (its
/// servers, vars and source unchecked), fails the apply with nothing changed.
fn changes(
    engine: &crate::engine::Engine,
    file: &apply::ApplyFile,
    options: PlanOptions,
    printed: &Plan,
    sources: &std::collections::BTreeMap<String, String>,
    live: &[Addon],
    now: i64,
) -> anyhow::Result<Vec<ApplyChange>> {
    let views: Vec<LiveAddon> = live.iter().map(live_addon).collect();
    let plan = apply::plan(file, &views, options, now);
    let conflicts: Vec<&str> = plan.conflicts().map(|line| line.name.as_str()).collect();
    if !conflicts.is_empty() {
        return Err(failed(format!(
            "the live addons changed while the apply ran: {}; nothing was changed",
            plan_summary_line(&plan, &conflicts)
        )));
    }
    let live_id = |name: &str| live.iter().find(|addon| addon.name == name).map(|addon| addon.id.clone());
    let mut changes = Vec::new();
    for line in &plan.lines {
        let desired = file.addon(&line.name);
        match (&line.action, desired) {
            (Action::Keep | Action::Conflict { .. }, _) => {}
            (Action::Remove, _) => changes.extend(live_id(&line.name).map(|id| ApplyChange::Remove { id })),
            (Action::Update { expiry, .. }, Some(desired)) => {
                let Some(addon) = live.iter().find(|addon| addon.name == line.name) else { continue };
                changes.push(ApplyChange::Update {
                    id: addon.id.clone(),
                    labels: desired.labels.clone(),
                    expires_at: expiry.map_or(addon.expires_at, |change| change.to),
                    backup_schedule: desired.backup_schedule,
                });
            }
            (Action::Create { expires_at } | Action::Replace { expires_at, .. }, Some(desired)) => {
                let printed_makes = printed.lines.iter().any(|printed| {
                    printed.name == line.name
                        && matches!(printed.action, Action::Create { .. } | Action::Replace { .. })
                });
                if !printed_makes {
                    return Err(failed(format!(
                        "{} was deprovisioned while the apply ran; nothing was changed; apply again",
                        line.name
                    )));
                }
                let source = sources.get(&line.name).map(String::as_str);
                let labels = desired.labels.clone();
                let mut new = engine.new_addon(&desired.name, &desired.spec, labels, *expires_at, source, now)?;
                new.backup_schedule = desired.backup_schedule;
                changes.push(match (&line.action, live_id(&line.name)) {
                    (Action::Replace { .. }, Some(old)) => ApplyChange::Replace { old, new },
                    _ => ApplyChange::Create(new),
                });
            }
            (_, None) => return Err(failed(format!("{} is not in the file", line.name))),
        }
    }
    Ok(changes)
}
