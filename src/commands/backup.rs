//! `addons backup`: records a backup of an addon and starts its background worker;
//! with `--wait`, waits for the worker to record how it ended (what `restore --wait`
//! does too).

use std::time::{Duration, Instant};

use crate::addon::Addon;
use crate::backup::{Backup, Kind, Status};
use crate::cli::BackupArgs;
use crate::engine::Engine;
use crate::error::{failed, Exit, Failure};
use crate::output::backup_json;
use crate::providers::{CopyProgress, CopyUnit};
use crate::store::{now_ms, Store};

use super::progress::{Plain, Progress};
use super::Ctx;

/// Handles `addons backup`.
pub fn run(args: BackupArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let timeout = super::parse_timeout(args.timeout.as_deref())?;
    let mut store = ctx.store_with_addons(&args.addon)?;
    let addon = store.addon(&args.addon)?;
    let engine = ctx.engine();
    let backup = engine.request_backup(&mut store, &addon, false)?;
    if !args.wait {
        return say(ctx, &backup, &format!("backing up {} in the background as {}", addon.name, backup.id));
    }
    let backup = wait_for(ctx, &engine, &mut store, (&addon, &backup), timeout)?;
    let size = backup.size.map(|size| format!("{size} bytes")).unwrap_or_default();
    say(ctx, &backup, &format!("backed up {} as {} ({size})", addon.name, backup.id))
}

/// Prints what was recorded: its id on stdout (the JSON shape with `--json`), the
/// line for people on stderr.
pub(super) fn say(ctx: &Ctx, backup: &Backup, line: &str) -> anyhow::Result<()> {
    if ctx.json {
        ctx.print_json(&backup_json(backup));
    } else {
        println!("{}", backup.id);
        ctx.note(line);
    }
    Ok(())
}

/// Waits until the worker recorded how the backup or restore ended: `Ok` once done,
/// exit 1 with the worker's reason when it failed, exit 3 at `timeout`. A worker that
/// died is started again, as a tick would.
pub(super) fn wait_for(
    ctx: &Ctx,
    engine: &Engine,
    store: &mut Store,
    (addon, backup): (&Addon, &Backup),
    timeout: Option<Duration>,
) -> anyhow::Result<Backup> {
    let progress = Progress::new(ctx.quiet || ctx.json, Plain::Nowhere);
    let ended = waiting(ctx, engine, store, backup, timeout, &progress);
    let said = match &ended {
        Ok(done) => format!("{} done: {}", done.kind.as_str(), done.message),
        Err(err) => format!("{err:#}"),
    };
    progress.worked(addon, &said, store.now()?);
    ended
}

/// What a backup's line says while it is made: how far its file has come, out of the
/// size of the addon's last backup (what this one is likely to come to).
fn how_far(store: &Store, backup: &Backup) -> anyhow::Result<(String, Option<CopyProgress>)> {
    if backup.kind == Kind::Restore {
        let from = backup.source.as_deref().unwrap_or_default();
        return Ok((format!("restoring backup {from}"), None));
    }
    let written = std::fs::metadata(backup.partial_file()).map(|meta| meta.len()).ok();
    let last = store
        .backups_of(Some(&backup.addon_id))?
        .into_iter()
        .rev()
        .find_map(|b| b.size.filter(|_| b.kind == Kind::Backup));
    let progress = written.map(|done| CopyProgress {
        done,
        total: last.map_or(done, |size| size.max(0) as u64),
        unit: CopyUnit::Bytes,
    });
    Ok((format!("backing up as {}", backup.id), progress))
}

/// How often a wait for a backup or restore looks at its progress when nothing wakes it.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// [`wait_for`]'s loop.
fn waiting(
    ctx: &Ctx,
    engine: &Engine,
    store: &mut Store,
    backup: &Backup,
    timeout: Option<Duration>,
    progress: &Progress,
) -> anyhow::Result<Backup> {
    let addon = store.find_addon(&backup.addon_id)?;
    let started = Instant::now();
    // Watching from before the first look: the worker's record wakes the wait at once.
    let mut wakeups = store.wakeups()?;
    let mut looked = Instant::now();
    loop {
        let now = store.find_backup(&backup.id)?.ok_or_else(|| failed(format!("{} is gone", backup.id)))?;
        match now.status {
            Status::Done => return Ok(now),
            Status::Failed => {
                return Err(failed(format!("the {} of {} failed: {}", now.kind.as_str(), now.addon_name, now.message)))
            }
            Status::Pending => {}
        }
        if ctx.stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(failed(format!(
                "stopped waiting; the {} of {} goes on in the background",
                now.kind.as_str(),
                now.addon_name
            )));
        }
        if timeout.is_some_and(|timeout| started.elapsed() >= timeout) {
            return Err(Failure::new(
                Exit::TimedOut,
                format!("timed out; the {} of {} goes on in the background", now.kind.as_str(), now.addon_name),
            )
            .into());
        }
        if let Some(addon) = &addon {
            let (what, counted) = how_far(store, &now)?;
            progress.working(addon, &what, counted, store.now()?);
        }
        if looked.elapsed() >= Duration::from_secs(1) {
            engine.start_due_backups(store)?;
            looked = Instant::now();
        }
        // A stop is seen at the top of the loop.
        wakeups.wait(now_ms().saturating_add(PROGRESS_EVERY.as_millis() as i64), &ctx.stop)?;
    }
}
