//! An addon as a row of the PostgreSQL state: the columns, reading a row into an
//! `Addon`, and the values and statements that write one.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use postgres::types::ToSql;
use postgres::Row;

use super::location::Location;
use crate::addon::{Addon, Cleanup, Rotation};
use crate::store::backend::StoreError;

/// The addon columns, in the order `addon_from_row` reads them.
pub const COLUMNS: &str = "id, name, provider, app, prefix, params, seed, state, message, vars, config, \
     begun, cleanup, attempts, due_at, deadline_at, claim, claim_until, created_at, updated_at, \
     failure, last_error, last_error_permanent, labels, expires_at, generation, vars_generation, revoke_from, revoke_at, \
     verified_at, drift, source_id";

/// Reads an addon row; a value this binary can't read makes the state unusable.
pub fn addon_from_row(location: &Location, row: &Row) -> Result<Addon, StoreError> {
    let damaged = |column: &str| {
        StoreError::Unusable(format!(
            "state {}: addon {} has a {column} this addons can't read; restore the state from a backup",
            location.describe(),
            row.get::<_, String>(0)
        ))
    };
    let json = |index: usize, column: &str| -> Result<serde_json::Value, StoreError> {
        serde_json::from_str(row.get::<_, &str>(index)).map_err(|_| damaged(column))
    };
    let config: Option<&str> = row.get(10);
    Ok(Addon {
        id: row.get(0),
        name: row.get(1),
        provider: row.get(2),
        app: row.get(3),
        prefix: row.get(4),
        params: serde_json::from_value(json(5, "params")?).map_err(|_| damaged("params"))?,
        seed: row.get(6),
        state: row.get::<_, &str>(7).parse().map_err(|_| damaged("state"))?,
        message: row.get(8),
        vars: serde_json::from_value(json(9, "vars")?).map_err(|_| damaged("vars"))?,
        config: config
            .map(serde_json::from_str::<BTreeMap<String, String>>)
            .transpose()
            .map_err(|_| damaged("config"))?,
        begun: row.get(11),
        cleanup: Cleanup::parse(row.get(12)).ok_or_else(|| damaged("cleanup"))?,
        attempts: u32::try_from(row.get::<_, i32>(13)).unwrap_or(0),
        due_at: row.get(14),
        deadline_at: row.get(15),
        claim: row.get(16),
        claim_until: row.get(17),
        created_at: row.get(18),
        updated_at: row.get(19),
        failure: row.get(20),
        last_error: row.get(21),
        last_error_permanent: row.get(22),
        labels: serde_json::from_value(json(23, "labels")?).map_err(|_| damaged("labels"))?,
        expires_at: row.get(24),
        rotation: Rotation {
            generation: generation(row.get(25)).ok_or_else(|| damaged("generation"))?,
            vars_generation: generation(row.get(26)).ok_or_else(|| damaged("vars_generation"))?,
            revoke_from: row
                .get::<_, Option<i64>>(27)
                .map(|g| generation(g).ok_or_else(|| damaged("revoke_from")))
                .transpose()?,
            revoke_at: row.get(28),
        },
        verified_at: row.get(29),
        drift: row.get(30),
        attachments: Vec::new(),
        source_id: row.get(31),
    })
}

/// A credential generation as stored (BIGINT: PostgreSQL has no unsigned integers).
fn generation(stored: i64) -> Option<u32> {
    u32::try_from(stored).ok()
}

/// The columns of an addon row, as every backend names them.
use crate::store::backend::{FIXED_COLUMNS as FIXED, MUTABLE_COLUMNS as MUTABLE};

/// Calls `f` with the values of an addon's [`MUTABLE`] columns.
pub fn with_mutable<T>(addon: &Addon, f: impl FnOnce(&[&(dyn ToSql + Sync)]) -> T) -> T {
    let config = addon.config.as_ref().map(json_text);
    let attempts = i32::try_from(addon.attempts).unwrap_or(i32::MAX);
    let labels = json_text(&addon.labels);
    let rotation = addon.rotation;
    let (generation, vars_generation) = (i64::from(rotation.generation), i64::from(rotation.vars_generation));
    let revoke_from = rotation.revoke_from.map(i64::from);
    let values: [&(dyn ToSql + Sync); 22] = [
        &addon.state.as_str(),
        &addon.message,
        &config,
        &addon.begun,
        &addon.cleanup.as_str(),
        &attempts,
        &addon.due_at,
        &addon.deadline_at,
        &addon.claim,
        &addon.claim_until,
        &addon.updated_at,
        &addon.failure,
        &addon.last_error,
        &addon.last_error_permanent,
        &labels,
        &addon.expires_at,
        &generation,
        &vars_generation,
        &revoke_from,
        &rotation.revoke_at,
        &addon.verified_at,
        &addon.drift,
    ];
    f(&values)
}

/// The insert and the update of an addon row, built once from [`FIXED`] and [`MUTABLE`].
pub struct Writes {
    pub insert: String,
    pub update: String,
}

pub fn writes() -> &'static Writes {
    static WRITES: OnceLock<Writes> = OnceLock::new();
    WRITES.get_or_init(|| {
        let columns: Vec<&str> = FIXED.iter().chain(MUTABLE).copied().collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        let set: Vec<String> = MUTABLE.iter().enumerate().map(|(i, column)| format!("{column} = ${}", i + 2)).collect();
        Writes {
            insert: format!("INSERT INTO addons ({}) VALUES ({})", columns.join(", "), placeholders.join(", ")),
            update: format!("UPDATE addons SET {} WHERE id = $1", set.join(", ")),
        }
    })
}

/// The JSON text of a stored list or map.
pub fn json_text(value: &impl serde::Serialize) -> String {
    // Maps and lists of strings always serialize.
    serde_json::to_string(value).unwrap_or_default()
}
