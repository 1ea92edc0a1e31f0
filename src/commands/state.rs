//! `addons state copy --to PATH|URL`: moves a whole state (every addon, event, app and
//! config var) to an empty target of either kind, a file or a PostgreSQL schema.

use std::path::{Path, PathBuf};

use crate::cli::{StateAction, StateArgs, StateCopyArgs};
use crate::error::{usage, Exit, Failure};
use crate::store::{CopyAs, StateLocation, Store};

use super::Ctx;

/// Handles `addons state`.
pub fn run(args: StateArgs, ctx: &Ctx) -> anyhow::Result<()> {
    match args.action {
        StateAction::Copy(args) => copy(args, ctx),
    }
}

fn copy(args: StateCopyArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let target = match args.to.to_str() {
        Some(text) => StateLocation::parse(text, ctx.settings.state_schema.as_deref())
            .map_err(|err| usage(format!("--to: {err}")))?,
        None => StateLocation::File(args.to.clone()),
    };
    if same_place(&ctx.state, &target) {
        return Err(usage(format!(
            "--to names the state being copied ({}); give another file, or another ?schema= on the server",
            target.describe()
        )));
    }
    let Some(source) = ctx.existing_store()? else {
        let line = format!("there is no state at {} to copy", ctx.state.describe());
        return Err(Failure::new(Exit::StateUnusable, line).into());
    };
    // A file this command made is removed again when the copy fails: nothing changed.
    let made = target.file().filter(|path| path.symlink_metadata().is_err()).map(Path::to_path_buf);
    ctx.debug(format!("copying to {}", target.describe()));
    let how = if args.keep_source { CopyAs::Snapshot } else { CopyAs::Move };
    let result = Store::open(target.clone()).and_then(|mut into| {
        let copied = source.copy_to(&mut into, how)?;
        Ok((copied, into.describe()))
    });
    let (copied, described) = match result {
        Ok(done) => done,
        Err(err) => {
            if let Some(path) = made {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            return Err(err);
        }
    };
    if ctx.json {
        let counts: serde_json::Map<String, serde_json::Value> =
            copied.counts.iter().map(|(table, count)| (table.name.to_string(), (*count).into())).collect();
        let kept = match how {
            CopyAs::Move if copied.source_moved => "moved",
            CopyAs::Move => "copied",
            CopyAs::Snapshot => "snapshot",
        };
        ctx.print_json(&serde_json::json!({"to": described, "copied": counts, "as": kept}));
    } else {
        println!("copied {} to {described}", copied.summary());
        match how {
            CopyAs::Move if !copied.source_moved => {}
            CopyAs::Move => ctx.note(format!(
                "{} is marked as moved: it refuses every change from now on; use --state {described}",
                ctx.state.describe()
            )),
            CopyAs::Snapshot => ctx.note(format!("{described} is a read-only snapshot; this state goes on acting")),
        }
    }
    Ok(())
}

/// Whether two locations name the same state: the same file (through links and
/// relative paths), or the same schema of the same database on the same server.
fn same_place(source: &StateLocation, target: &StateLocation) -> bool {
    match (source, target) {
        (StateLocation::File(a), StateLocation::File(b)) => resolved(a) == resolved(b),
        (StateLocation::Postgres(a), StateLocation::Postgres(b)) => {
            let place = |pg: &crate::store::PostgresLocation| {
                let url = &pg.url;
                let database = url.path().trim_start_matches('/').to_string();
                let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
                let host = if host == "localhost" { "127.0.0.1".to_string() } else { host };
                (host, url.port().unwrap_or(5432), database, pg.schema.clone())
            };
            place(a) == place(b)
        }
        _ => false,
    }
}

/// A path with its links and `..` resolved as far as it exists.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(path) = path.canonicalize() {
        return path;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
            dir.canonicalize().map_or_else(|_| path.to_path_buf(), |dir| dir.join(name))
        }
        _ => path.to_path_buf(),
    }
}
