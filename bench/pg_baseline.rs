//! The baseline for tick throughput on PostgreSQL: a plain `FOR UPDATE SKIP LOCKED`
//! loop with the `postgres` client doing the durable work a tick does, in the same
//! schema. Like `addons tick`, it claims up to 16 due addons in one statement (lease on
//! the server's clock), then commits their 16 results (the addon row and an event row
//! each) in one transaction. Several may run at once, as several ticks do.
//!
//! ```text
//! bench_pg_baseline URL SCHEMA   passes until one finds nothing due, as `tick` repeated
//! ```
//! It prints nothing; `bench/run` times the whole process, as it times `addons tick`.

use anyhow::Context;
use postgres::{Client, NoTls};

#[path = "raw_step.rs"]
mod raw_step;
use raw_step::{step_from, token, BATCH, LEASE_MS};

/// The server's clock in ms since the epoch, as the store reads it.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, schema] = args.as_slice() else { anyhow::bail!("usage: bench_pg_baseline URL SCHEMA") };
    let mut client = Client::connect(url, NoTls).context("connecting")?;
    client.batch_execute(&format!("SET search_path TO {schema}"))?;
    let claim = client.prepare(&format!(
        "UPDATE addons SET claim = $1, claim_until = {NOW} + $2 WHERE id IN (SELECT id FROM addons \
         WHERE due_at <= $3 AND (claim IS NULL OR claim_until < {NOW}) ORDER BY due_at LIMIT {BATCH} \
         FOR UPDATE SKIP LOCKED) RETURNING id, state"
    ))?;
    let result = client.prepare(&format!(
        "UPDATE addons SET state = $2, message = $3, updated_at = {NOW}, \
         due_at = CASE WHEN $4 THEN {NOW} END, claim = NULL, claim_until = NULL WHERE id = $1 AND claim = $5"
    ))?;
    let event = client.prepare(&format!(
        "INSERT INTO events (addon_id, at, from_state, to_state, event, message) VALUES ($1, {NOW}, $2, $3, $4, $4)"
    ))?;
    let token = token();
    // Passes until one finds nothing, as a host runs `tick` until one has nothing to do:
    // what a pass moves is due after its `due_by`, for the next pass.
    loop {
        let due_by: i64 = client.query_one(&format!("SELECT {NOW} - 1"), &[])?.get(0);
        let mut moved = 0;
        loop {
            let claimed = client.query(&claim, &[&token, &LEASE_MS, &due_by])?;
            if claimed.is_empty() {
                break;
            }
            let mut tx = client.transaction()?;
            for row in &claimed {
                let (id, from): (String, String) = (row.get(0), row.get(1));
                let step = step_from(&from)?;
                tx.execute(&result, &[&id, &step.to, &step.event, &step.still_due, &token])?;
                tx.execute(&event, &[&id, &from, &step.to, &step.event])?;
            }
            tx.commit()?;
            moved += claimed.len();
        }
        if moved == 0 {
            return Ok(());
        }
    }
}
