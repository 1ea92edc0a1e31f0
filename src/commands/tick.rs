//! `addons tick`: one pass over the due addons, a line per transition. Silent when
//! there was nothing to do; failures always reach stderr, and set the exit code.

use serde_json::json;

use crate::cli::TickArgs;
use crate::error::Failure;
use crate::output::{outcome_json, outcome_line, plural};

use super::Ctx;

/// Handles `addons tick`. Exit 1 when a step of this tick ended an addon in error, an
/// app's env file could not be written, or an app's `on_change` hook failed for the
/// first time for a change (its retries fail quietly, unless `-v`); everything else
/// was done all the same.
pub fn run(args: TickArgs, ctx: &Ctx) -> anyhow::Result<()> {
    // No state, no addon to move: said, and none is made (cron pointed at a wrong path).
    let Some(mut store) = ctx.store_to_act_on("nothing to tick")? else {
        if ctx.json {
            ctx.print_json(&json!({"transitions": [], "pending": 0, "env_file_failures": [], "hooks": []}));
        }
        return Ok(());
    };
    let engine = ctx.engine();
    let quiet_lines = ctx.json || ctx.quiet;
    let report = engine.tick(&mut store, super::jobs(args.jobs, ctx), None, &|outcome| {
        if !quiet_lines {
            println!("{}", outcome_line(outcome));
        }
    })?;
    if ctx.json {
        let transitions: Vec<_> = report.transitions.iter().map(outcome_json).collect();
        let env_file_failures: Vec<_> = report
            .env_file_failures
            .iter()
            .map(|f| json!({"app": f.app, "path": f.path.display().to_string(), "why": f.why}))
            .collect();
        ctx.print_json(&json!({
            "transitions": transitions,
            "pending": report.pending,
            "env_file_failures": env_file_failures,
            "hooks": report.hooks.iter().map(|hook| json!({
                "app": hook.app,
                "vars_version": hook.vars_version,
                "result": hook.ending.result(),
                "exit_status": hook.ending.exit_status(),
            })).collect::<Vec<_>>(),
        }));
    } else if !report.transitions.is_empty() {
        ctx.note(format!(
            "{}; {} with work left",
            plural(report.transitions.len() as u64, "transition"),
            plural(report.pending as u64, "addon")
        ));
    }
    if ctx.verbose {
        for attempt in &report.failed_attempts {
            eprintln!("{}: {}", attempt.name, attempt.message);
        }
    }
    // Drift left for a person is always said; what was repaired is in `log`.
    for check in report.checks.iter().filter(|check| !check.left.is_empty()) {
        eprintln!(
            "warning: {} drifted: {}; 'addons check {} --repair-data' recreates it empty",
            check.name,
            check.left.join("; "),
            check.name
        );
    }
    let mut failed = false;
    for outcome in report.errors() {
        eprintln!("error: {} ended in error: {}", outcome.name, outcome.message);
        failed = true;
    }
    for failure in &report.env_file_failures {
        eprintln!("error: {failure}");
        failed = true;
    }
    failed |= super::report_hooks(ctx, &report.hooks, Some("error"));
    match failed {
        true => Err(Failure::Said.into()),
        false => Ok(()),
    }
}
