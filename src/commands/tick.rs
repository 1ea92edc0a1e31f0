//! `addons tick`: one pass over the due addons, a line per transition. Silent when
//! there was nothing to do; failures always reach stderr, and set the exit code.

use serde_json::json;

use crate::cli::TickArgs;
use crate::clock::rfc3339;
use crate::error::Failure;
use crate::machine::State;
use crate::output::{outcome_json, outcome_line, plural};
use crate::store::{Failing, TroubleNews};

use super::wait::step_in_hand;
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
            ctx.say_settings();
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
    for attempt in &report.failed_attempts {
        ctx.verbose_line(format!("{}: {}", attempt.name, attempt.message));
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
    // Trouble that keeps on is said once it has lasted, then hourly, then at its end.
    let said: Vec<String> = report
        .hooks
        .iter()
        .filter(|hook| !hook.succeeded() && (hook.attempts_before == 0 || ctx.verbose))
        .map(|hook| hook.app.clone())
        .collect();
    let engine_settings = &ctx.settings.engine;
    let news = store.news_of_trouble(engine_settings.warn_after, engine_settings.warn_every, &said)?;
    for line in news.iter().map(|news| trouble_line(news, engine_settings.warn_every)) {
        failed |= line.starts_with("error:");
        eprintln!("{line}");
    }
    match failed {
        true => Err(Failure::Said.into()),
        false => Ok(()),
    }
}

/// The one line a tick says of trouble: an `error:` line while it lasts, a `notice:`
/// when it is over (an `error:` when it ended with the addon in error).
fn trouble_line(news: &TroubleNews, every: std::time::Duration) -> String {
    let again = humantime::format_duration(every);
    match news {
        TroubleNews::Failing { what: Failing::Addon(addon), since } => format!(
            "error: {} (app {}): its {} has been failing since {}: {}; ticks keep retrying it (said again every {again} while it fails)",
            addon.name,
            addon.app,
            failing_step(addon),
            rfc3339(*since),
            addon.last_error.as_deref().unwrap_or(&addon.message)
        ),
        TroubleNews::Failing { what: Failing::Hook(app), since } => format!(
            "error: app {app}: its on_change hook has been failing since {}; 'addons hooks {app}' shows its output (said again every {again} while it fails)",
            rfc3339(*since)
        ),
        TroubleNews::Failing { what: Failing::Backup(backup), since } => format!(
            "error: {}: its scheduled backups have been failing since {}: {}; ticks try again at its next backup_every (said again every {again} while they fail)",
            backup.addon_name,
            rfc3339(*since),
            backup.message
        ),
        TroubleNews::Over { what: Some(Failing::Backup(backup)), since, .. } => format!(
            "notice: {}: its scheduled backups fail no more (they were failing since {})",
            backup.addon_name,
            rfc3339(*since)
        ),
        TroubleNews::Over { what: Some(Failing::Addon(addon)), since, .. } if addon.state == State::Error => format!(
            "error: {} (app {}) ended in error after failing since {}: {}",
            addon.name,
            addon.app,
            rfc3339(*since),
            addon.failure.as_deref().unwrap_or(&addon.message)
        ),
        TroubleNews::Over { what: Some(Failing::Addon(addon)), since, .. } => format!(
            "notice: {} (app {}) fails no more (it was failing since {}): {}",
            addon.name,
            addon.app,
            rfc3339(*since),
            addon.message
        ),
        TroubleNews::Over { what: Some(Failing::Hook(app)), since, .. } => {
            format!("notice: app {app}: its on_change hook fails no more (it was failing since {})", rfc3339(*since))
        }
        TroubleNews::Over { what: None, subject, since } => {
            format!("notice: {subject} fails no more (it was failing since {})", rfc3339(*since))
        }
    }
}

/// What an addon's failing attempts are at.
fn failing_step(addon: &crate::addon::Addon) -> String {
    match addon.state {
        State::WaitingForProvision | State::Provisioned => "provisioning".into(),
        _ => step_in_hand(addon),
    }
}
