//! The baseline for tick throughput on SQLite: a plain rusqlite loop doing the durable
//! work a tick does, with the store's pragmas, on a copy of the same state file. Like
//! `addons tick`, it claims up to 16 due addons in one IMMEDIATE transaction, synced at
//! its commit (`synchronous = FULL`), then commits their 16 results (the addon row and
//! an event row each) in one more, which a power loss may undo (`NORMAL`).
//!
//! ```text
//! bench_baseline PATH    two passes: waiting_for_provision -> provisioned -> ready
//! ```
//! It prints nothing; `bench/run` times the whole process, as it times `addons tick`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rusqlite::{params, Connection, TransactionBehavior};

#[path = "raw_step.rs"]
mod raw_step;
use raw_step::{step_from, token, BATCH, LEASE_MS};

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).context("usage: bench_baseline PATH")?;
    let mut conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    let token = token();
    // Two passes, as two ticks: what a pass moves is due after its `due_by`.
    for _ in 0..2 {
        // Work the last pass left is due at its commit's millisecond: start after it.
        std::thread::sleep(Duration::from_millis(2));
        let due_by = now_ms() - 1;
        while pass_batch(&mut conn, &token, due_by)? > 0 {}
    }
    Ok(())
}

/// Claims one batch due by `due_by` and commits its results; returns how many.
fn pass_batch(conn: &mut Connection, token: &str, due_by: i64) -> anyhow::Result<usize> {
    let now = now_ms();
    conn.execute_batch("PRAGMA synchronous = FULL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimed: Vec<(String, String)> = {
        let mut claim = tx.prepare_cached(&format!(
            "UPDATE addons SET claim = ?1, claim_until = ?2 WHERE id IN (SELECT id FROM addons \
             WHERE due_at <= ?3 AND (claim IS NULL OR claim_until < ?4) ORDER BY due_at LIMIT {BATCH}) \
             RETURNING id, state"
        ))?;
        let rows =
            claim.query_map(params![token, now + LEASE_MS, due_by, now], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    tx.commit()?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    conn.execute_batch("PRAGMA synchronous = NORMAL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (id, from) in &claimed {
        let step = step_from(from)?;
        tx.prepare_cached(
            "UPDATE addons SET state = ?2, message = ?3, updated_at = ?4, due_at = ?5, claim = NULL, \
             claim_until = NULL WHERE id = ?1 AND claim = ?6",
        )?
        .execute(params![id, step.to, step.event, now, step.still_due.then_some(now), token])?;
        tx.prepare_cached(
            "INSERT INTO events (addon_id, at, from_state, to_state, event, message) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )?
        .execute(params![id, now, from, step.to, step.event])?;
    }
    tx.commit()?;
    Ok(claimed.len())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
