//! Makes the state files that `bench/run` measures, through the library (the same
//! store and engine the binary uses), and reports what a state file holds.
//!
//! ```text
//! bench_state waiting PATH N     N secret addons in waiting_for_provision, as `provision` leaves them
//! bench_state ready PATH N       the same, then ticked until every one is ready
//! bench_state due-later PATH S   one secret addon whose next step is due in S seconds
//! bench_state states PATH        counts of addons by state (and cleanup), one `state=count` a line
//! ```
//! Addon `i` is named `b-<i:06>` and belongs to app `app-<i / 10:05>`; the ten addons
//! of an app take prefixes `P1`..`P9` (the first none), so their vars never clash.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use addons::addon::{new_seed, Params};
use addons::config::Settings;
use addons::engine::Engine;
use addons::names::generate_addon_id;
use addons::providers::Environment;
use addons::store::{now_ms, NewAddon, Store};
use anyhow::{bail, Context};

/// Addons per app: `list APP` and `env APP` see this many whatever the total.
const PER_APP: usize = 10;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, path) = match args.as_slice() {
        [mode, path, ..] => (mode.as_str(), PathBuf::from(path)),
        _ => bail!("usage: bench_state waiting|ready|due-later|states PATH [N|SECONDS]"),
    };
    let number = || -> anyhow::Result<u64> { args.get(2).context("missing count")?.parse().context("bad count") };
    match mode {
        "waiting" => {
            generate(&path, number()? as usize)?;
        }
        "ready" => {
            let (engine, mut store) = generate(&path, number()? as usize)?;
            loop {
                let report = engine.tick(&mut store, 1, None, &|_| {})?;
                if report.pending == 0 {
                    break;
                }
                // A step commits work due from its own `now`; the next pass must start after it.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        "due-later" => {
            let (_, store) = generate(&path, 1)?;
            drop(store);
            let conn = rusqlite::Connection::open(&path)?;
            conn.execute("UPDATE addons SET due_at = ?1", [now_ms() + number()? as i64 * 1000])?;
        }
        "states" => {
            let conn = rusqlite::Connection::open(&path)?;
            let mut stmt =
                conn.prepare("SELECT state || '/' || cleanup, count(*) FROM addons GROUP BY 1 ORDER BY 1")?;
            let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)))?;
            for row in rows {
                let (state, count) = row?;
                println!("{state}={count}");
            }
        }
        other => bail!("unknown mode {other}"),
    }
    Ok(())
}

/// Creates `count` secret addons the way `provision` does (insert under a claim,
/// `begin_provision`, release), in a fresh state file.
fn generate(path: &Path, count: usize) -> anyhow::Result<(Engine, Store)> {
    if path.exists() {
        bail!("{} exists; the generator only makes fresh state files", path.display());
    }
    let data_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let engine = Engine::new(
        Settings::default(),
        addons::providers::Configs::default(),
        Environment { data_dir },
        Arc::new(AtomicBool::new(false)),
    );
    let mut store = Store::open(path)?;
    let deadline_at = now_ms() + 24 * 3600 * 1000;
    for i in 0..count {
        let prefix = (i % PER_APP > 0).then(|| format!("P{}", i % PER_APP));
        let addon = store.insert_addon(&NewAddon {
            id: generate_addon_id(),
            name: format!("b-{i:06}"),
            provider: "secret".into(),
            app: format!("app-{:05}", i / PER_APP),
            vars: vec![addons::names::prefixed(prefix.as_deref(), "SECRET_KEY")],
            prefix,
            params: Params::new(),
            seed: new_seed(),
            deadline_at,
            claim: engine.token().into(),
            lease: engine.lease(),
            labels: Default::default(),
            expires_at: None,
            source_id: None,
            server: None,
            backup_schedule: None,
        })?;
        if engine.begin(&mut store, &addon)?.is_some() {
            bail!("begin_provision failed for {}", addon.name);
        }
    }
    Ok((engine, store))
}
