//! The `Txn` of a SQLite state file: one statement (or two) per method, prepared
//! once per connection, every error through `store_error`.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};

use super::rows::{decode, decode_in_order, glance, mark};
use super::store_error;
use crate::addon::{Addon, Glance};
use crate::attachment::Attachment;
use crate::backup::Backup;
use crate::machine::State;
use crate::store::backend::{
    scan_sql, AppVersions, ConfigVar, Conflict, EventRecord, HookRow, HookRun, NewEvent, Retired, Scan, ScanDialect,
    ScanParam, StoreError, Trouble, Txn, VarOwner, SCAN_BATCH,
};
use crate::store::copy;
use crate::store::tables::{Record, Write, Writes, ADDONS, ATTACHMENTS, BACKUPS, HOOK_RUNS};

/// The statements whose text depends on the state machine (the live states) or on a
/// table's declaration, built once.
struct Sql {
    by_id: String,
    /// An addon by its rowid: a claim returns the rowids it took, then reads each row
    /// (cheaper than returning whole rows, which SQLite first copies to a table of its own).
    by_rowid: String,
    by_name: String,
    live_taken: String,
    live_names: String,
    list_app: [String; 2],
    list_every: [String; 2],
    moving: String,
    /// An addon's glance, by id.
    these: String,
    pending: String,
    writes: Writes,
    attachments: String,
    live_attachments: String,
    batch_attachments: String,
    hook_runs: String,
    failing: String,
}

static SQL: LazyLock<Sql> = LazyLock::new(|| {
    // Comparisons, not an IN list, which SQLite checks through a temporary table; the
    // same terms as the live-name index's, so a look-up by name may use it.
    let live = State::ALL
        .into_iter()
        .filter(|state| state.is_live())
        .map(|state| format!("state = '{}'", state.as_str()))
        .collect::<Vec<_>>()
        .join(" OR ");
    let live = format!("({live})");
    let has_task = crate::store::backend::has_task_sql();
    let glance = crate::store::backend::glance_sql();
    let columns = ADDONS.field_list();
    let attachment = ATTACHMENTS.field_list();
    Sql {
        by_id: format!("SELECT {columns} FROM addons WHERE id = ?1"),
        by_rowid: format!("SELECT {columns} FROM addons WHERE rowid = ?1"),
        by_name: format!(
            "SELECT {columns} FROM addons WHERE name = ?1 ORDER BY {live} DESC, created_at DESC, rowid DESC LIMIT 1"
        ),
        live_taken: format!("SELECT 1 FROM addons WHERE name = ?1 AND {live}"),
        live_names: format!("SELECT DISTINCT name FROM addons WHERE {live} ORDER BY name"),
        list_app: [
            format!("SELECT {columns} FROM addons WHERE app = ?1 ORDER BY created_at, rowid"),
            format!("SELECT {columns} FROM addons WHERE app = ?1 AND {live} ORDER BY created_at, rowid"),
        ],
        list_every: [
            format!("SELECT {columns} FROM addons ORDER BY app, created_at, rowid"),
            format!("SELECT {columns} FROM addons WHERE {live} ORDER BY app, created_at, rowid"),
        ],
        moving: format!(
            "SELECT {glance} FROM addons WHERE due_at IS NOT NULL AND {has_task} ORDER BY app, created_at, rowid"
        ),
        // One look-up by key per id: cheaper here than a list of thousands of ids
        // taken apart by json_each and sorted for IN.
        these: format!("SELECT {glance} FROM addons WHERE id = ?1"),
        pending: format!(
            "SELECT count(*) FROM addons WHERE due_at IS NOT NULL AND {has_task} \
             AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1)))"
        ),
        writes: Writes::new(mark),
        attachments: format!("SELECT {attachment} FROM attachments WHERE addon_id = ?1 ORDER BY slot"),
        live_attachments: format!(
            "SELECT {attachment} FROM attachments WHERE state <> 'detached' AND (?1 IS NULL OR app = ?1) \
             ORDER BY addon_id, slot"
        ),
        batch_attachments: format!(
            "SELECT {attachment} FROM attachments WHERE state <> 'detached' \
             AND addon_id IN (SELECT value FROM json_each(?1)) ORDER BY addon_id, slot"
        ),
        hook_runs: format!("SELECT {} FROM hook_runs WHERE app = ?1 ORDER BY seq DESC", HOOK_RUNS.field_list()),
        failing: format!(
            "SELECT {columns} FROM addons WHERE attempts > 0 AND last_error IS NOT NULL ORDER BY app, created_at, rowid"
        ),
    }
});

/// How many addons `list` hides: in error, and deprovisioned with a cleanup pending.
const HIDDEN: &str = "SELECT count(*) FILTER (WHERE state = 'error'), \
     count(*) FILTER (WHERE state = 'deprovisioned' AND cleanup = 'pending') \
     FROM addons WHERE state IN ('error', 'deprovisioned')";

/// The same for one app: a statement of its own, so SQLite finds the app's rows through
/// `addons_app` (with `?1 IS NULL OR app = ?1` it scans every addon of the state).
pub(super) const HIDDEN_IN_APP: &str = "SELECT count(*) FILTER (WHERE state = 'error'), \
     count(*) FILTER (WHERE state = 'deprovisioned' AND cleanup = 'pending') \
     FROM addons WHERE state IN ('error', 'deprovisioned') AND app = ?1";

/// A transaction on a state file.
pub(super) struct SqliteTxn<'c> {
    tx: Transaction<'c>,
    path: &'c Path,
    /// Apps whose vars version this transaction (since its last savepoint) counted up
    /// already: what reads it needs to know only that it moved, so once is enough.
    bumped: Vec<String>,
}

impl<'c> SqliteTxn<'c> {
    pub(super) fn new(tx: Transaction<'c>, path: &'c Path) -> SqliteTxn<'c> {
        SqliteTxn { tx, path, bumped: Vec::new() }
    }

    /// Commits, outside the [`Txn`] seam (a statement of the backend's own).
    pub(super) fn finish(self) -> Result<(), StoreError> {
        let path = self.path;
        self.tx.commit().map_err(|err| store_error(path, err, None))
    }

    /// Whether an addon with a time still to come was written by a clock ahead of
    /// `now` (its `updated_at` is later): found through the due index.
    pub(super) fn times_ahead(&self, now: i64) -> Result<bool, StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM addons WHERE due_at > ?1 AND updated_at > ?1)")?
                .query_row([now], |row| row.get(0))
        })
    }

    /// Moves back by its lead over `now` what a clock ahead of it worked out: an
    /// addon's due time (not when it is its expiry, a time someone chose) and its
    /// rotation's revocation, and an attachment's revocation; each row is then written
    /// at `now`. How many addons moved.
    pub(super) fn pull_back_times(&self, now: i64) -> Result<usize, StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE attachments SET revoke_at = max(?1, revoke_at - (updated_at - ?1)), updated_at = ?1 \
                 WHERE updated_at > ?1 AND revoke_at > ?1",
            )?
            .execute([now])?;
            c.prepare_cached(
                "UPDATE addons SET \
                 due_at = CASE WHEN due_at >= expires_at THEN due_at ELSE max(?1, due_at - (updated_at - ?1)) END, \
                 revoke_at = CASE WHEN revoke_at > ?1 THEN max(?1, revoke_at - (updated_at - ?1)) ELSE revoke_at END, \
                 updated_at = ?1, version = version + 1 \
                 WHERE due_at > ?1 AND updated_at > ?1",
            )?
            .execute([now])
        })
    }

    /// Runs statements, mapping any error in the one place.
    fn run<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        f(&self.tx).map_err(|err| store_error(self.path, err, None))
    }

    /// Like `run`, for a statement that can break the unique rule `conflict`.
    fn run_unique<T>(
        &self,
        conflict: Conflict,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        f(&self.tx).map_err(|err| store_error(self.path, err, Some(conflict)))
    }
}

/// `only` as the JSON array `json_each` reads.
fn ids_json(only: Option<&[String]>) -> Option<String> {
    // Serialising a list of strings can't fail.
    only.map(|ids| serde_json::to_string(ids).unwrap_or_default())
}

fn addons(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<Addon>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, decode::<Addon>)?;
    rows.collect()
}

fn glances(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<Glance>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, glance)?;
    rows.collect()
}

fn strings(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |row| row.get(0))?;
    rows.collect()
}

/// How a scan's statement reads a label here: through SQLite's JSON functions, the key
/// quoted in the path (a key may hold '.' and '/').
const DIALECT: ScanDialect = ScanDialect {
    mark: |n, _| format!("?{n}"),
    label: |mark| format!("json_extract(labels, {mark})"),
    key: |key| format!("$.\"{key}\""),
    distinct: "IS NOT",
    made: "rowid",
};

/// Fills the live attachments of a scan's batch, with one query for the batch.
fn fill_batch(conn: &Connection, batch: &mut [Addon]) -> rusqlite::Result<()> {
    let ids = serde_json::Value::from(batch.iter().map(|addon| addon.id.as_str()).collect::<Vec<_>>()).to_string();
    let mut stmt = conn.prepare_cached(&SQL.batch_attachments)?;
    for attachment in stmt.query_map([ids], decode::<Attachment>)? {
        let attachment = attachment?;
        if let Some(addon) = batch.iter_mut().find(|addon| addon.id == attachment.addon_id) {
            addon.attachments.push(attachment);
        }
    }
    Ok(())
}

/// Runs a statement that writes a record.
fn write<T: Record>(conn: &Connection, statement: &Write, record: &T) -> rusqlite::Result<usize> {
    let values = record.to_values();
    conn.prepare_cached(&statement.sql)?.execute(params_from_iter(statement.params(&values).map(|(value, _)| value)))
}

impl Txn for SqliteTxn<'_> {
    fn now(&mut self) -> Result<i64, StoreError> {
        Ok(crate::store::now_ms())
    }

    fn addon(&mut self, id: &str) -> Result<Option<Addon>, StoreError> {
        self.run(|c| c.prepare_cached(&SQL.by_id)?.query_row([id], decode).optional())
    }

    fn addon_by_name(&mut self, name: &str) -> Result<Option<Addon>, StoreError> {
        self.run(|c| c.prepare_cached(&SQL.by_name)?.query_row([name], decode).optional())
    }

    fn live_name_taken(&mut self, name: &str) -> Result<bool, StoreError> {
        self.run(|c| c.prepare_cached(&SQL.live_taken)?.exists([name]))
    }

    fn addon_names(&mut self, live: bool) -> Result<Vec<String>, StoreError> {
        let sql = if live { SQL.live_names.as_str() } else { "SELECT DISTINCT name FROM addons ORDER BY name" };
        self.run(|c| strings(c, sql, []))
    }

    fn list_addons(&mut self, app: Option<&str>, all: bool) -> Result<Vec<Addon>, StoreError> {
        let live = usize::from(!all);
        self.run(|c| match app {
            Some(app) => addons(c, &SQL.list_app[live], [app]),
            None => addons(c, &SQL.list_every[live], []),
        })
    }

    fn scan_addons(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(Vec<Addon>) -> bool) -> Result<(), StoreError> {
        let (sql, params) = scan_sql(scan, &DIALECT);
        self.run(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(params.iter().map(|param| match param {
                ScanParam::Text(text) => rusqlite::types::Value::Text(text.clone()),
                ScanParam::Int(n) => rusqlite::types::Value::Integer(*n),
            })))?;
            let names: Vec<&'static str> = ADDONS.fields().map(|column| column.name).collect();
            let mut batch = Vec::with_capacity(SCAN_BATCH);
            loop {
                let row = rows.next()?;
                if let Some(row) = row {
                    batch.push(decode_in_order::<Addon>(row, &names)?);
                }
                if batch.len() == SCAN_BATCH || (row.is_none() && !batch.is_empty()) {
                    fill_batch(c, &mut batch)?;
                    if !visit(std::mem::replace(&mut batch, Vec::with_capacity(SCAN_BATCH))) {
                        return Ok(());
                    }
                }
                if row.is_none() {
                    return Ok(());
                }
            }
        })
    }

    fn moving_glances(&mut self) -> Result<Vec<Glance>, StoreError> {
        self.run(|c| glances(c, &SQL.moving, []))
    }

    fn glances(&mut self, ids: &[String]) -> Result<Vec<Glance>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(&SQL.these)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.extend(stmt.query_row([id], glance).optional()?);
            }
            Ok(found)
        })
    }

    fn due_checks(&mut self, before: i64) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, verified_at FROM addons WHERE state = 'ready' AND coalesce(verified_at, updated_at) <= ?1 \
                 ORDER BY app, created_at, rowid",
            )?;
            let rows = stmt.query_map([before], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
    }

    fn hidden_counts(&mut self, app: Option<&str>) -> Result<(usize, usize), StoreError> {
        let (errors, pending): (i64, i64) = self.run(|c| match app {
            Some(app) => c.prepare_cached(HIDDEN_IN_APP)?.query_row([app], |row| Ok((row.get(0)?, row.get(1)?))),
            None => c.prepare_cached(HIDDEN)?.query_row([], |row| Ok((row.get(0)?, row.get(1)?))),
        })?;
        Ok((errors as usize, pending as usize))
    }

    fn apps_of(&mut self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let ids = ids_json(Some(ids));
        self.run(|c| {
            strings(
                c,
                "SELECT DISTINCT app FROM addons WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY app",
                [ids],
            )
        })
    }

    fn insert_addon(&mut self, addon: &Addon) -> Result<(), StoreError> {
        self.run_unique(Conflict::LiveName, |c| write(c, &SQL.writes.insert_addon, addon))?;
        Ok(())
    }

    fn update_addon(&mut self, addon: &Addon) -> Result<(), StoreError> {
        self.run(|c| write(c, &SQL.writes.update_addon, addon))?;
        Ok(())
    }

    fn update_addon_from(&mut self, stored: &Addon, addon: &Addon) -> Result<(), StoreError> {
        let values = addon.to_values();
        let statement = SQL.writes.addon_updates.of(&stored.to_values(), &values);
        self.run(|c| {
            c.prepare_cached(&statement.sql)?
                .execute(params_from_iter(statement.params(&values).map(|(value, _)| value)))
        })?;
        Ok(())
    }

    fn claim_of(&mut self, id: &str) -> Result<Option<(Option<String>, i64)>, StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT claim, version FROM addons WHERE id = ?1")?
                .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
    }

    fn record_event(&mut self, e: &NewEvent<'_>) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO events (addon_id, at, from_state, to_state, event, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![e.addon_id, e.at, e.from.map(State::as_str), e.to.as_str(), e.event, e.message])
        })?;
        Ok(())
    }

    fn events(&mut self, addon_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT at, from_state, to_state, event, message FROM events WHERE addon_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([addon_id], |row| {
                Ok(EventRecord {
                    at: row.get(0)?,
                    from: row.get(1)?,
                    to: row.get(2)?,
                    event: row.get(3)?,
                    message: row.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    fn claim_due(
        &mut self,
        token: &str,
        due_by: i64,
        lease: Duration,
        limit: usize,
        only: Option<&[String]>,
    ) -> Result<Vec<Addon>, StoreError> {
        let now = self.now()?;
        let claim_until = now.saturating_add(lease.as_millis() as i64);
        let only = ids_json(only);
        // The limit is in the text, not bound: a bound LIMIT makes SQLite re-plan the
        // statement on every call. The text is the same for every batch of a tick.
        let sql = format!(
            "UPDATE addons SET claim = ?1, claim_until = ?2 WHERE id IN (\
               SELECT id FROM addons WHERE due_at <= ?3 AND (claim IS NULL OR claim_until < ?4) \
               AND (?5 IS NULL OR id IN (SELECT value FROM json_each(?5))) ORDER BY due_at LIMIT {limit}) \
             RETURNING rowid"
        );
        self.run(|c| {
            let rowids: Vec<i64> = c
                .prepare_cached(&sql)?
                .query_map(params![token, claim_until, due_by, now, only], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut read = c.prepare_cached(&SQL.by_rowid)?;
            rowids.into_iter().map(|rowid| read.query_row([rowid], decode)).collect()
        })
    }

    fn release_claim(&mut self, addon_id: &str, token: &str) -> Result<bool, StoreError> {
        let changed = self.run(|c| {
            c.prepare_cached("UPDATE addons SET claim = NULL, claim_until = NULL WHERE id = ?1 AND claim = ?2")?
                .execute([addon_id, token])
        })?;
        Ok(changed == 1)
    }

    fn claim_holders(&mut self) -> Result<Vec<String>, StoreError> {
        let now = self.now()?;
        // Every claimed addon has a task due, so the due index finds the claims.
        self.run(|c| {
            strings(
                c,
                "SELECT claim FROM addons WHERE due_at IS NOT NULL AND claim IS NOT NULL AND claim_until >= ?1 \
                 UNION SELECT hook_claim FROM apps WHERE hook_claim IS NOT NULL AND hook_claim_until >= ?1",
                [now],
            )
        })
    }

    fn expire_claims_of(&mut self, token: &str) -> Result<usize, StoreError> {
        self.run(|c| {
            let addons = c
                .prepare_cached("UPDATE addons SET claim_until = 0 WHERE due_at IS NOT NULL AND claim = ?1")?
                .execute([token])?;
            let hooks =
                c.prepare_cached("UPDATE apps SET hook_claim_until = 0 WHERE hook_claim = ?1")?.execute([token])?;
            Ok(addons + hooks)
        })
    }

    fn pending_count(&mut self, only: Option<&[String]>) -> Result<usize, StoreError> {
        let only = ids_json(only);
        let count: i64 = self.run(|c| c.prepare_cached(&SQL.pending)?.query_row([only], |row| row.get(0)))?;
        Ok(count as usize)
    }

    fn next_due(&mut self, only: Option<&[String]>) -> Result<Option<i64>, StoreError> {
        let only = ids_json(only);
        self.run(|c| {
            c.prepare_cached(
                "SELECT min(CASE WHEN claim IS NOT NULL THEN max(due_at, claim_until) ELSE due_at END) \
                 FROM addons WHERE due_at IS NOT NULL AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1)))",
            )?
            .query_row([only], |row| row.get(0))
        })
    }

    fn ensure_app(&mut self, app: &str) -> Result<(), StoreError> {
        self.run(|c| c.prepare_cached("INSERT OR IGNORE INTO apps (name) VALUES (?1)")?.execute([app]))?;
        Ok(())
    }

    fn app_exists(&mut self, app: &str) -> Result<bool, StoreError> {
        self.run(|c| c.prepare_cached("SELECT 1 FROM apps WHERE name = ?1")?.exists([app]))
    }

    fn app_names(&mut self) -> Result<Vec<String>, StoreError> {
        self.run(|c| strings(c, "SELECT name FROM apps ORDER BY name", []))
    }

    fn var_owner(&mut self, app: &str, key: &str) -> Result<Option<VarOwner>, StoreError> {
        let row: Option<(Option<String>, Option<String>)> = self.run(|c| {
            c.prepare_cached(
                "SELECT v.addon_id, a.name FROM config_vars v LEFT JOIN addons a ON a.id = v.addon_id \
                 WHERE v.app = ?1 AND v.key = ?2",
            )?
            .query_row([app, key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
        })?;
        Ok(row.map(|owner| match owner {
            (Some(id), name) => VarOwner::Addon { name: name.unwrap_or_else(|| id.clone()), id },
            (None, _) => VarOwner::Hand,
        }))
    }

    fn reserve_var(&mut self, app: &str, key: &str, addon_id: &str) -> Result<(), StoreError> {
        self.run_unique(Conflict::VarKey, |c| {
            c.prepare_cached("INSERT INTO config_vars (app, key, value, addon_id) VALUES (?1, ?2, NULL, ?3)")?
                .execute([app, key, addon_id])
        })?;
        Ok(())
    }

    fn fill_var(&mut self, app: &str, key: &str, addon_id: &str, value: &str) -> Result<bool, StoreError> {
        let set = self.run(|c| {
            c.prepare_cached("UPDATE config_vars SET value = ?4 WHERE app = ?1 AND key = ?2 AND addon_id = ?3")?
                .execute([app, key, addon_id, value])
        })?;
        Ok(set == 1)
    }

    fn release_vars(&mut self, addon_id: &str) -> Result<usize, StoreError> {
        self.run(|c| c.prepare_cached("DELETE FROM config_vars WHERE addon_id = ?1")?.execute([addon_id]))
    }

    fn set_var(&mut self, app: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO config_vars (app, key, value, addon_id) VALUES (?1, ?2, ?3, NULL) \
                 ON CONFLICT (app, key) DO UPDATE SET value = excluded.value",
            )?
            .execute([app, key, value])
        })?;
        Ok(())
    }

    fn delete_var(&mut self, app: &str, key: &str) -> Result<bool, StoreError> {
        let removed =
            self.run(|c| c.prepare_cached("DELETE FROM config_vars WHERE app = ?1 AND key = ?2")?.execute([app, key]))?;
        Ok(removed > 0)
    }

    fn vars(&mut self, app: &str) -> Result<Vec<ConfigVar>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT v.key, v.value, a.name FROM config_vars v LEFT JOIN addons a ON a.id = v.addon_id \
                 WHERE v.app = ?1 AND v.value IS NOT NULL ORDER BY v.key",
            )?;
            let rows = stmt
                .query_map([app], |row| Ok(ConfigVar { key: row.get(0)?, value: row.get(1)?, addon: row.get(2)? }))?;
            rows.collect()
        })
    }

    fn bump_version(&mut self, app: &str) -> Result<(), StoreError> {
        if self.bumped.iter().any(|bumped| bumped == app) {
            return Ok(());
        }
        self.bumped.push(app.to_string());
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO apps (name, vars_version) VALUES (?1, 1) \
                 ON CONFLICT (name) DO UPDATE SET vars_version = vars_version + 1",
            )?
            .execute([app])
        })?;
        Ok(())
    }

    fn app_versions(&mut self, app: &str) -> Result<Option<AppVersions>, StoreError> {
        // What is read now must look older than a change made after it.
        self.bumped.clear();
        self.run(|c| {
            c.prepare_cached("SELECT vars_version, env_version FROM apps WHERE name = ?1")?
                .query_row([app], |row| Ok(AppVersions { vars: row.get(0)?, env: row.get(1)? }))
                .optional()
        })
    }

    fn mark_env_written(&mut self, app: &str, version: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached("UPDATE apps SET env_version = ?2, env_error = NULL, env_error_at = NULL WHERE name = ?1")?
                .execute(params![app, version])
        })?;
        Ok(())
    }

    fn record_env_error(&mut self, app: &str, why: &str, at: i64) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached("UPDATE apps SET env_error = ?2, env_error_at = ?3 WHERE name = ?1")?
                .execute(params![app, why, at])
        })?;
        Ok(())
    }

    fn env_errors(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        self.run(|c| {
            let mut stmt =
                c.prepare_cached("SELECT name, env_error FROM apps WHERE env_error IS NOT NULL ORDER BY name")?;
            let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
    }

    fn hook_row(&mut self, app: &str) -> Result<Option<HookRow>, StoreError> {
        // A write transaction here holds the whole file: the row cannot change under it.
        let now = self.now()?;
        self.bumped.clear();
        self.run(|c| {
            c.prepare_cached(
                "SELECT vars_version, hook_version, hook_attempts, hook_failed_version, hook_due_at, hook_claim, \
                 hook_claim_until FROM apps WHERE name = ?1",
            )?
            .query_row([app], |row| {
                Ok(HookRow {
                    vars_version: row.get(0)?,
                    hook_version: row.get(1)?,
                    attempts: row.get(2)?,
                    failed_version: row.get(3)?,
                    due_at: row.get(4)?,
                    claim: row.get(5)?,
                    claim_until: row.get(6)?,
                    now,
                })
            })
            .optional()
        })
    }

    fn put_hook_row(&mut self, app: &str, row: &HookRow) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "UPDATE apps SET hook_version = ?2, hook_attempts = ?3, hook_failed_version = ?4, hook_due_at = ?5, \
                 hook_claim = ?6, hook_claim_until = ?7 WHERE name = ?1",
            )?
            .execute(params![
                app,
                row.hook_version,
                row.attempts,
                row.failed_version,
                row.due_at,
                row.claim,
                row.claim_until
            ])
        })?;
        Ok(())
    }

    fn add_hook_run(&mut self, run: &HookRun, keep: usize) -> Result<(), StoreError> {
        self.run(|c| {
            write(c, &SQL.writes.insert_hook_run, run)?;
            c.prepare_cached(
                "DELETE FROM hook_runs WHERE app = ?1 AND seq NOT IN \
                 (SELECT seq FROM hook_runs WHERE app = ?1 ORDER BY seq DESC LIMIT ?2)",
            )?
            .execute(params![run.app, keep as i64])
        })?;
        Ok(())
    }

    fn hook_runs(&mut self, app: &str) -> Result<Vec<HookRun>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(&SQL.hook_runs)?;
            let rows = stmt.query_map([app], decode)?;
            rows.collect()
        })
    }

    fn attachments(&mut self, addon_id: &str) -> Result<Vec<Attachment>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(&SQL.attachments)?;
            let rows = stmt.query_map([addon_id], decode)?;
            rows.collect()
        })
    }

    fn live_attachments(&mut self, app: Option<&str>) -> Result<Vec<Attachment>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(&SQL.live_attachments)?;
            let rows = stmt.query_map([app], decode)?;
            rows.collect()
        })
    }

    fn put_attachment(&mut self, attachment: &Attachment) -> Result<(), StoreError> {
        self.run(|c| write(c, &SQL.writes.put_attachment, attachment))?;
        Ok(())
    }

    fn release_app_vars(&mut self, addon_id: &str, app: &str) -> Result<usize, StoreError> {
        self.run(|c| {
            c.prepare_cached("DELETE FROM config_vars WHERE addon_id = ?1 AND app = ?2")?.execute([addon_id, app])
        })
    }

    fn copy_rows(
        &mut self,
        table: &copy::Table,
        visit: &mut dyn FnMut(Vec<copy::Row>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        super::copy::rows(&self.tx, self.path, table, visit)
    }

    fn paste_rows(&mut self, table: &copy::Table, rows: &[copy::Row]) -> Result<(), StoreError> {
        super::copy::paste(&self.tx, self.path, table, rows)
    }

    fn count_rows(&mut self, table: &copy::Table) -> Result<u64, StoreError> {
        super::copy::count(&self.tx, self.path, table)
    }

    fn backups(&mut self, addon_id: Option<&str>) -> Result<Vec<Backup>, StoreError> {
        let sql = format!(
            "SELECT {} FROM backups WHERE (?1 IS NULL OR addon_id = ?1) ORDER BY requested_at, id",
            BACKUPS.field_list()
        );
        self.run(|c| c.prepare_cached(&sql)?.query_map([addon_id], decode)?.collect())
    }

    fn failing_backups(&mut self) -> Result<Vec<Backup>, StoreError> {
        let sql = format!(
            "SELECT {} FROM backups b WHERE b.scheduled AND b.status = 'failed' AND b.requested_at = \
             (SELECT max(l.requested_at) FROM backups l WHERE l.addon_id = b.addon_id AND l.scheduled AND l.status <> 'pending') ORDER BY b.addon_id",
            BACKUPS.field_list().split(", ").map(|c| format!("b.{c}")).collect::<Vec<_>>().join(", ")
        );
        self.run(|c| c.prepare_cached(&sql)?.query_map([], decode)?.collect())
    }

    fn pending_backups(&mut self) -> Result<Vec<Backup>, StoreError> {
        let sql =
            format!("SELECT {} FROM backups WHERE status = 'pending' ORDER BY requested_at, id", BACKUPS.field_list());
        self.run(|c| c.prepare_cached(&sql)?.query_map([], decode)?.collect())
    }

    fn backup(&mut self, id: &str) -> Result<Option<Backup>, StoreError> {
        let sql = format!("SELECT {} FROM backups WHERE id = ?1", BACKUPS.field_list());
        self.run(|c| c.prepare_cached(&sql)?.query_row([id], decode).optional())
    }

    fn put_backup(&mut self, backup: &Backup) -> Result<(), StoreError> {
        self.run(|c| write(c, &SQL.writes.put_backup, backup))?;
        Ok(())
    }

    fn delete_backup(&mut self, id: &str) -> Result<(), StoreError> {
        self.run(|c| c.prepare_cached("DELETE FROM backups WHERE id = ?1")?.execute([id]))?;
        Ok(())
    }

    /// A write transaction here holds the file's write lock from its start.
    fn lock_addons(&mut self, _addon_ids: &[String]) -> Result<(), StoreError> {
        Ok(())
    }

    /// A write transaction here holds the file's write lock from its start.
    fn lock_table(&mut self, _table: &copy::Table) -> Result<(), StoreError> {
        Ok(())
    }

    fn failing_addons(&mut self) -> Result<Vec<Addon>, StoreError> {
        self.run(|c| addons(c, &SQL.failing, []))
    }

    fn failing_hooks(&mut self) -> Result<Vec<String>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name FROM apps WHERE hook_attempts > 0 AND hook_failed_version = vars_version \
                 AND hook_version < vars_version ORDER BY name",
            )?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            rows.collect()
        })
    }

    fn troubles(&mut self) -> Result<Vec<Trouble>, StoreError> {
        // A write transaction here holds the whole file.
        self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT subject, since, warned_at FROM troubles ORDER BY subject")?;
            let rows = stmt.query_map([], |row| {
                Ok(Trouble { subject: row.get(0)?, since: row.get(1)?, warned_at: row.get(2)? })
            })?;
            rows.collect()
        })
    }

    fn put_trouble(&mut self, trouble: &Trouble) -> Result<(), StoreError> {
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO troubles (subject, since, warned_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (subject) DO UPDATE SET since = excluded.since, warned_at = excluded.warned_at",
            )?
            .execute(params![trouble.subject, trouble.since, trouble.warned_at])
        })?;
        Ok(())
    }

    fn drop_trouble(&mut self, subject: &str) -> Result<(), StoreError> {
        self.run(|c| c.prepare_cached("DELETE FROM troubles WHERE subject = ?1")?.execute([subject]))?;
        Ok(())
    }

    fn retired(&mut self) -> Result<Option<Retired>, StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT how, elsewhere, at FROM retired")?
                .query_row([], |row| Ok(Retired::from_columns(row.get(0)?, row.get(1)?, row.get(2)?)))
                .optional()
        })
    }

    fn retire(&mut self, how: &Retired) -> Result<(), StoreError> {
        let (kind, elsewhere, at) = how.columns();
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO retired (id, how, elsewhere, at) VALUES (1, ?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET how = excluded.how, elsewhere = excluded.elsewhere, at = excluded.at",
            )?
            .execute(params![kind, elsewhere, at])
        })?;
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        // A count made before the savepoint may be rolled back with it.
        self.bumped.clear();
        self.run(|c| c.execute_batch("SAVEPOINT step"))
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.run(|c| c.execute_batch("RELEASE step"))
    }

    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        self.bumped.clear();
        self.run(|c| c.execute_batch("ROLLBACK TO step; RELEASE step"))
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        (*self).finish()
    }
}
