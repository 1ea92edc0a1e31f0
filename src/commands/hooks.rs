//! `addons hooks`: an app's `on_change` hook, whether a run is due, and its recent
//! runs with the last lines each printed; and the one-line summary `info` shows.

use std::time::Duration;

use serde_json::json;

use crate::cli::HooksArgs;
use crate::output::{rfc3339, table};
use crate::store::{HookRun, HookStatus, Store};

use super::Ctx;

/// Handles `addons hooks`.
pub fn run(args: HooksArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let store = ctx.existing_store()?;
    super::known_app(store.as_ref(), &args.app)?;
    let command = ctx.settings.apps.get(&args.app).and_then(|app| app.on_change.clone());
    let status = store.as_ref().map(|store| store.hook_status(&args.app)).transpose()?.flatten();
    let runs = store.as_ref().map(|store| store.hook_runs(&args.app)).transpose()?.unwrap_or_default();
    if ctx.json {
        let runs: Vec<_> = runs
            .iter()
            .map(|run| {
                json!({
                    "vars_version": run.vars_version,
                    "started_at": rfc3339(run.started_at),
                    "finished_at": rfc3339(run.finished_at),
                    "result": run.result,
                    "exit_status": run.exit_status,
                    "output": run.output.lines().collect::<Vec<_>>(),
                })
            })
            .collect();
        ctx.print_json(&json!({
            "app": args.app,
            "on_change": command,
            "vars_version": status.map_or(0, |s| s.vars_version),
            "hook_version": status.map_or(0, |s| s.hook_version),
            "due": command.is_some() && status.is_some_and(|s| s.hook_version < s.vars_version),
            "attempts": status.map_or(0, |s| s.attempts),
            "next_try_at": status.and_then(|s| s.due_at).map(rfc3339),
            "runs": runs,
        }));
        return Ok(());
    }
    println!("on_change  {}", command.as_deref().unwrap_or("- (none in the config file)"));
    if let Some(line) = summary(store.as_ref(), ctx, &args.app)? {
        println!("status     {line}");
    }
    if runs.is_empty() {
        println!("no runs recorded");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            let took = Duration::from_millis((run.finished_at - run.started_at).max(0) as u64);
            vec![
                rfc3339(run.started_at),
                run.vars_version.to_string(),
                result_text(run),
                format!("{:.1}s", took.as_secs_f64()),
            ]
        })
        .collect();
    print!("{}", table(&["STARTED", "VERSION", "RESULT", "TOOK"], &rows));
    let latest = &runs[0];
    match latest.output.is_empty() {
        true => println!("The latest run printed nothing."),
        false => {
            println!("Output of the latest run (its last lines):");
            for line in latest.output.lines() {
                println!("  {line}");
            }
        }
    }
    Ok(())
}

/// A run's result for people: "ok", "failed (exit 3)", "timed out".
fn result_text(run: &HookRun) -> String {
    match (run.result.as_str(), run.exit_status) {
        ("failed", Some(status)) => format!("failed (exit {status})"),
        (result, _) => result.to_string(),
    }
}

/// The app's hook in one line, for `hooks` and `info`: the latest run's result and
/// what comes next; `None` when the app has no hook and never had a run.
pub(super) fn summary(store: Option<&Store>, ctx: &Ctx, app: &str) -> anyhow::Result<Option<String>> {
    let configured = ctx.settings.apps.get(app).is_some_and(|app| app.on_change.is_some());
    let Some(store) = store else { return Ok(configured.then(|| "no vars change yet".to_string())) };
    let status = store.hook_status(app)?;
    let latest = store.hook_runs(app)?.into_iter().next();
    if !configured && latest.is_none() {
        return Ok(None);
    }
    let mut parts = Vec::new();
    if let Some(run) = &latest {
        parts.push(format!(
            "last run {} for vars version {} at {}",
            result_text(run),
            run.vars_version,
            rfc3339(run.finished_at)
        ));
    }
    parts.push(next_line(status, configured, store.now()?));
    Ok(Some(parts.join("; ")))
}

/// What comes next for the app's hook, `now` being the state's clock.
fn next_line(status: Option<HookStatus>, configured: bool, now: i64) -> String {
    let Some(status) = status.filter(|s| s.hook_version < s.vars_version) else {
        return "up to date".into();
    };
    if !configured {
        return format!("vars version {} not run (no on_change in the config file)", status.vars_version);
    }
    match status.due_at {
        Some(at) if status.attempts > 0 => {
            let wait = Duration::from_secs(((at - now).max(0) as u64).div_ceil(1000));
            format!(
                "due for vars version {} after {} failed; next try in {}",
                status.vars_version,
                crate::output::plural(u64::from(status.attempts), "attempt"),
                humantime::format_duration(wait)
            )
        }
        _ => format!("due for vars version {} (the next tick runs it)", status.vars_version),
    }
}
