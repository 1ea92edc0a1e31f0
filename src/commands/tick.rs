//! `addons tick`: one pass over the due addons, a line per transition.

use serde_json::json;

use crate::cli::TickArgs;
use crate::output::{outcome_json, outcome_line};

use super::Ctx;

/// Handles `addons tick`.
pub fn run(args: TickArgs, ctx: &Ctx) -> anyhow::Result<i32> {
    let mut store = ctx.store()?;
    let engine = ctx.engine();
    let quiet_lines = ctx.json || ctx.quiet;
    let report = engine.tick(&mut store, super::jobs(args.jobs, ctx), None, &|outcome| {
        if !quiet_lines {
            println!("{}", outcome_line(outcome));
        }
    })?;
    if ctx.json {
        let transitions: Vec<_> = report.transitions.iter().map(outcome_json).collect();
        ctx.print_json(&json!({"transitions": transitions, "pending": report.pending}));
    } else if !report.transitions.is_empty() {
        // A tick that moved nothing says nothing, so cron mails only what happened.
        ctx.note(format!("{} transitions; {} addons with work left", report.transitions.len(), report.pending));
    }
    Ok(0)
}
