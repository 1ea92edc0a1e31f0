//! `addons backups`: the backups made of an addon, or of every addon (a table, or
//! `--json`). Only whole backups are listed: one still being made is not.

use crate::backup::{Kind, Status};
use crate::cli::BackupsArgs;
use crate::output::{backup_json, rfc3339, table};

use super::Ctx;

/// Handles `addons backups`.
pub fn run(args: BackupsArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let Some(store) = ctx.existing_store()? else {
        return match &args.addon {
            Some(addon) => Err(crate::error::usage(format!(
                "no addon named {}; {}",
                crate::names::shown(addon),
                ctx.no_state(None)
            ))),
            None => print(ctx, Vec::new()),
        };
    };
    let addon_id = match &args.addon {
        Some(name) => Some(store.addon(name)?.id),
        None => None,
    };
    let backups = store
        .backups_of(addon_id.as_deref())?
        .into_iter()
        .filter(|backup| backup.kind == Kind::Backup && backup.status == Status::Done)
        .collect();
    print(ctx, backups)
}

fn print(ctx: &Ctx, backups: Vec<crate::backup::Backup>) -> anyhow::Result<()> {
    if ctx.json {
        ctx.print_json(&serde_json::Value::Array(backups.iter().map(backup_json).collect()));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = backups
        .iter()
        .map(|backup| {
            vec![
                backup.id.clone(),
                backup.addon_name.clone(),
                backup.provider.clone(),
                backup.finished_at.map(rfc3339).unwrap_or_default(),
                backup.size.map(|size| size.to_string()).unwrap_or_default(),
                backup
                    .checksum
                    .as_deref()
                    .map(|sum| format!("sha256:{}", &sum[..sum.len().min(12)]))
                    .unwrap_or_default(),
                if backup.scheduled { "schedule" } else { "by hand" }.to_string(),
            ]
        })
        .collect();
    print!("{}", table(&["ID", "ADDON", "PROVIDER", "MADE", "SIZE", "CHECKSUM", "BY"], &rows));
    Ok(())
}
