//! `addons watch`: ticks as work comes due, until none is left (or, with `--forever`,
//! until SIGINT/SIGTERM), with a live display on a terminal.

use serde_json::json;

use crate::cli::WatchArgs;
use crate::output::{outcome_json, plural};

use super::progress::{Plain, Progress};
use super::Ctx;

/// Handles `addons watch`.
pub fn run(args: WatchArgs, ctx: &Ctx) -> anyhow::Result<()> {
    // Until work comes, a watch that ends when none is left has nothing to do without a
    // state; one that runs for good waits in a state it makes.
    let mut store = match args.forever {
        true => ctx.store_to_make_addons()?,
        false => match ctx.store_to_act_on("nothing to watch")? {
            Some(store) => store,
            None => {
                if ctx.json {
                    ctx.print_json(&json!({"transitions": [], "pending": 0}));
                }
                return Ok(());
            }
        },
    };
    let engine = ctx.engine();
    let progress = Progress::new(ctx.quiet || ctx.json, Plain::Stdout);
    let transitions = std::sync::Mutex::new(Vec::new());
    let forever = args.forever;
    // Each env-file failure is said once, not on every tick that retries it.
    let mut said = std::collections::BTreeSet::new();
    engine.run_until_settled(
        &mut store,
        super::jobs(args.jobs, ctx),
        None,
        None,
        &mut |store, report| {
            // Off screen and back only when there may be something to print above it.
            let printing =
                report.followed.is_some() || !report.env_file_failures.is_empty() || !report.hooks.is_empty();
            if printing {
                progress.suspend(|| {
                    if let Some(path) = &report.followed {
                        let note = "was replaced (renamed over) while watch ran; now on the new file";
                        eprintln!("warning: state file {path} {note}");
                    }
                    for failure in &report.env_file_failures {
                        if said.insert(failure.to_string()) {
                            eprintln!("error: {failure}");
                        }
                    }
                    super::report_hooks(ctx, &report.hooks, Some("error"));
                });
            }
            progress.failed_attempts(&report.failed_attempts);
            progress.copies(&report.copies);
            if progress.is_live() {
                let now = store.now()?;
                progress.update(store.moving_glances()?, &mut |ids| store.glances(ids), report.pending, now)?;
            }
            Ok(!forever && report.pending == 0)
        },
        &|outcome| {
            progress.transition(outcome);
            if ctx.json {
                transitions.lock().unwrap_or_else(|e| e.into_inner()).push(outcome_json(outcome));
            }
        },
    )?;
    let pending = store.pending_count(None)?;
    if progress.is_live() {
        let now = store.now()?;
        progress.finish(store.moving_glances()?, &mut |ids| store.glances(ids), pending, now)?;
    }
    if ctx.json {
        let transitions = transitions.into_inner().unwrap_or_default();
        ctx.print_json(&json!({"transitions": transitions, "pending": pending}));
    } else if ctx.stop.load(std::sync::atomic::Ordering::SeqCst) {
        ctx.note(format!("Stopped; {} with work left.", plural(pending as u64, "addon")));
    } else {
        ctx.note("No work left.");
    }
    Ok(())
}
