//! `addons __backup`: the background worker of one backup or restore, started by
//! `backup`, `restore` or a tick. It takes the work up through its claim (and leaves
//! it when another worker holds it), does it, and records how it ended; its errors go
//! to stderr, which its starter points at a log.

use crate::cli::BackupWorkerArgs;
use crate::engine::Engine;
use crate::providers::Environment;

use super::Ctx;

/// Handles `addons __backup`.
pub fn run(args: BackupWorkerArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let mut store = ctx.store()?;
    let env = Environment { data_dir: args.data_dir };
    let engine = Engine::new(ctx.settings.clone(), ctx.providers.clone(), env, ctx.stop.clone())
        .on_state(ctx.state.as_setting());
    if let Some(ended) = engine.run_backup_worker(&mut store, &args.id)? {
        eprintln!("{} {} of {}: {}", ended.kind.as_str(), ended.status.as_str(), ended.addon_name, ended.message);
    }
    Ok(())
}
