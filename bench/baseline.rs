//! The baseline for tick throughput: a plain rusqlite loop doing, per step, the durable
//! work a tick step does (one IMMEDIATE transaction: update one addon row, insert one
//! event row) on a copy of the same state file, with the store's pragmas.
//!
//! ```text
//! bench_baseline PATH    two steps for every addon: waiting_for_provision -> provisioned -> ready
//! ```
//! It prints nothing; `bench/run` times the whole process, as it times `addons tick`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rusqlite::{params, Connection, TransactionBehavior};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: bench_baseline PATH")?;
    let mut conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    let ids: Vec<String> = {
        let mut stmt = conn.prepare("SELECT id FROM addons WHERE state = 'waiting_for_provision' ORDER BY rowid")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for (from, to, event) in
        [("waiting_for_provision", "provisioned", "provision_complete"), ("provisioned", "ready", "config_vars_set")]
    {
        for id in &ids {
            let now = now_ms();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached("UPDATE addons SET state = ?2, message = ?3, updated_at = ?4 WHERE id = ?1")?
                .execute(params![id, to, event, now])?;
            tx.prepare_cached(
                "INSERT INTO events (addon_id, at, from_state, to_state, event, message) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![id, now, from, to, event])?;
            tx.commit()?;
        }
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
