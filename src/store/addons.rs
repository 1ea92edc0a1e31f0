//! Addon rows: creation (with its config vars reserved), look-ups, listings, the
//! recorded transitions, and the user's deprovision.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{now_ms, sql_error, EventRecord, Store};
use crate::addon::{Addon, Cleanup, Params};
use crate::error::{failed, usage};
use crate::machine::{self, Event, State};

pub(super) const COLUMNS: &str = "id, name, provider, app, prefix, params, seed, state, message, vars, config, \
     begun, cleanup, attempts, due_at, deadline_at, claim, claim_until, created_at, updated_at, \
     failure, last_error, last_error_permanent";

/// What `provision` asks the store to create.
#[derive(Debug, Clone)]
pub struct NewAddon {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub app: String,
    pub prefix: Option<String>,
    pub params: Params,
    pub seed: Vec<u8>,
    /// The var names it will own (prefix applied).
    pub vars: Vec<String>,
    pub deadline_at: i64,
    /// The claim the creating process holds while it calls `begin_provision`.
    pub claim: String,
    pub claim_until: i64,
}


pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Addon> {
    let text_err = |index: usize, message: String| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, message.into())
    };
    let state: String = row.get(7)?;
    let cleanup: String = row.get(12)?;
    let params: String = row.get(5)?;
    let vars: String = row.get(9)?;
    let config: Option<String> = row.get(10)?;
    Ok(Addon {
        id: row.get(0)?,
        name: row.get(1)?,
        provider: row.get(2)?,
        app: row.get(3)?,
        prefix: row.get(4)?,
        params: serde_json::from_str(&params).map_err(|err| text_err(5, err.to_string()))?,
        seed: row.get(6)?,
        state: state.parse().map_err(|err| text_err(7, err))?,
        message: row.get(8)?,
        vars: serde_json::from_str(&vars).map_err(|err| text_err(9, err.to_string()))?,
        config: config
            .map(|text| serde_json::from_str::<BTreeMap<String, String>>(&text))
            .transpose()
            .map_err(|err| text_err(10, err.to_string()))?,
        begun: row.get(11)?,
        cleanup: Cleanup::parse(&cleanup).ok_or_else(|| text_err(12, cleanup.clone()))?,
        attempts: row.get(13)?,
        due_at: row.get(14)?,
        deadline_at: row.get(15)?,
        claim: row.get(16)?,
        claim_until: row.get(17)?,
        created_at: row.get(18)?,
        updated_at: row.get(19)?,
        failure: row.get(20)?,
        last_error: row.get(21)?,
        last_error_permanent: row.get(22)?,
    })
}

/// Records one transition (or the creation, with `from` = None).
pub(super) fn record(
    tx: &Connection,
    addon_id: &str,
    from: Option<State>,
    to: State,
    event: &str,
    message: &str,
    at: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO events (addon_id, at, from_state, to_state, event, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![addon_id, at, from.map(State::as_str), to.as_str(), event, message])?;
    Ok(())
}

/// Removes an addon's config vars from its app and marks the app's env file stale.
pub(super) fn release_vars(tx: &Connection, addon: &Addon) -> rusqlite::Result<()> {
    let removed = tx.prepare_cached("DELETE FROM config_vars WHERE addon_id = ?1")?.execute([&addon.id])?;
    if removed > 0 {
        super::vars::bump_version(tx, &addon.app)?;
    }
    Ok(())
}

impl Store {
    /// Creates an addon in `waiting_for_provision`, reserving its config var names on
    /// the app. Refused (nothing written) when a name or var is taken.
    pub fn insert_addon(&mut self, new: &NewAddon) -> anyhow::Result<Addon> {
        let path = self.path.clone();
        let now = now_ms();
        let tx = self.write()?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT name FROM addons WHERE name = ?1 AND state IN ('waiting_for_provision', 'provisioned', 'ready')",
                [&new.name],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql_error(&path))?;
        if taken.is_some() {
            return Err(failed(format!("an addon named {} already exists; choose another --name", new.name)));
        }
        for key in &new.vars {
            let owner: Option<Option<String>> = tx
                .query_row(
                    "SELECT a.name FROM config_vars v LEFT JOIN addons a ON a.id = v.addon_id WHERE v.app = ?1 AND v.key = ?2",
                    [&new.app, key],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql_error(&path))?;
            if let Some(owner) = owner {
                let by = owner.map_or("set by hand".to_string(), |name| format!("owned by addon {name}"));
                return Err(failed(format!(
                    "app {} already has {key} ({by}); pass --as PREFIX to give this addon's vars a prefix (e.g. --as secondary)",
                    new.app
                )));
            }
        }
        tx.execute("INSERT OR IGNORE INTO apps (name) VALUES (?1)", [&new.app]).map_err(sql_error(&path))?;
        tx.execute(
            &format!("INSERT INTO addons ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, 0, 'none', 0, ?11, ?12, ?13, ?14, ?11, ?11, NULL, NULL, 0)"),
            params![
                new.id,
                new.name,
                new.provider,
                new.app,
                new.prefix,
                serde_json::to_string(&new.params)?,
                new.seed,
                State::WaitingForProvision.as_str(),
                "provisioning",
                serde_json::to_string(&new.vars)?,
                now,
                new.deadline_at,
                new.claim,
                new.claim_until,
            ],
        )
        .map_err(sql_error(&path))?;
        for key in &new.vars {
            tx.execute(
                "INSERT INTO config_vars (app, key, value, addon_id) VALUES (?1, ?2, NULL, ?3)",
                params![new.app, key, new.id],
            )
            .map_err(sql_error(&path))?;
        }
        record(&tx, &new.id, None, State::WaitingForProvision, "provision", "provisioning", now)
            .map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        self.find_addon(&new.id)?.ok_or_else(|| failed("the new addon vanished"))
    }

    /// Finds an addon by display name or id. A live addon wins over deprovisioned ones
    /// of the same name; among those, the newest.
    pub fn find_addon(&self, name_or_id: &str) -> anyhow::Result<Option<Addon>> {
        let by_id = self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM addons WHERE id = ?1"))?
            .query_row([name_or_id], from_row)
            .optional()
            .map_err(sql_error(&self.path))?;
        if by_id.is_some() {
            return Ok(by_id);
        }
        self.conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM addons WHERE name = ?1 \
                 ORDER BY state IN ('waiting_for_provision', 'provisioned', 'ready') DESC, created_at DESC, rowid DESC LIMIT 1"
            ))?
            .query_row([name_or_id], from_row)
            .optional()
            .map_err(sql_error(&self.path))
    }

    /// Like [`Store::find_addon`], but a missing addon is a usage error that says so,
    /// suggesting the live addon whose name is nearest to what was typed.
    pub fn addon(&self, name_or_id: &str) -> anyhow::Result<Addon> {
        if let Some(addon) = self.find_addon(name_or_id)? {
            return Ok(addon);
        }
        let live = self.addon_names(true)?;
        let suggestion = crate::names::did_you_mean(name_or_id, live.iter().map(String::as_str));
        Err(usage(format!(
            "no addon named {}{suggestion}; 'addons list --all' shows every addon",
            crate::names::shown(name_or_id)
        )))
    }

    /// The names of the addons, only the live ones when `live`: for completion and
    /// did-you-mean.
    pub fn addon_names(&self, live: bool) -> anyhow::Result<Vec<String>> {
        let visible = if live { "WHERE state IN ('waiting_for_provision', 'provisioned', 'ready')" } else { "" };
        let mut stmt =
            self.conn.prepare_cached(&format!("SELECT DISTINCT name FROM addons {visible} ORDER BY name"))?;
        let rows = stmt.query_map([], |row| row.get(0)).map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }

    /// Addons, optionally of one app; `all` includes deprovisioned and errored ones.
    pub fn list_addons(&self, app: Option<&str>, all: bool) -> anyhow::Result<Vec<Addon>> {
        let visible = if all { "" } else { "AND state IN ('waiting_for_provision', 'provisioned', 'ready')" };
        let sql = match app {
            Some(_) => format!("SELECT {COLUMNS} FROM addons WHERE app = ?1 {visible} ORDER BY created_at, rowid"),
            None => format!("SELECT {COLUMNS} FROM addons WHERE 1 {visible} ORDER BY app, created_at, rowid"),
        };
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = match app {
            Some(app) => stmt.query_map([app], from_row),
            None => stmt.query_map([], from_row),
        }
        .map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }

    /// The addons with a task still to run (those `pending_count` counts), for the
    /// live display of `watch`.
    pub fn moving_addons(&self) -> anyhow::Result<Vec<Addon>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM addons WHERE due_at IS NOT NULL ORDER BY app, created_at, rowid"
        ))?;
        let rows = stmt.query_map([], from_row).map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }

    /// What a default `list` leaves out but a user must hear of, optionally of one app:
    /// how many addons are in error, and how many deprovisioned ones still wait for
    /// their resource to be removed.
    pub fn hidden_counts(&self, app: Option<&str>) -> anyhow::Result<(usize, usize)> {
        let (errors, pending): (i64, i64) = self
            .conn
            .prepare_cached(
                "SELECT count(*) FILTER (WHERE state = 'error'), \
                 count(*) FILTER (WHERE state = 'deprovisioned' AND cleanup = 'pending') \
                 FROM addons WHERE (?1 IS NULL OR app = ?1) AND state IN ('error', 'deprovisioned')",
            )?
            .query_row([app], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(sql_error(&self.path))?;
        Ok((errors as usize, pending as usize))
    }

    /// Every recorded transition of an addon, oldest first.
    pub fn events(&self, addon_id: &str) -> anyhow::Result<Vec<EventRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at, from_state, to_state, event, message FROM events WHERE addon_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map([addon_id], |row| {
                Ok(EventRecord {
                    at: row.get(0)?,
                    from: row.get(1)?,
                    to: row.get(2)?,
                    event: row.get(3)?,
                    message: row.get(4)?,
                })
            })
            .map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }

    /// The user's deprovision: moves the addon to `deprovisioned`, removes its config
    /// vars from the app at once, and schedules the provider's cleanup. An addon that
    /// is already terminal is returned unchanged. A claim held by a tick in flight is
    /// kept, so the cleanup cannot overtake the step in hand.
    pub fn deprovision(&mut self, addon_id: &str) -> anyhow::Result<(Addon, bool)> {
        let path = self.path.clone();
        let now = now_ms();
        let tx = self.write()?;
        let addon = tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM addons WHERE id = ?1"))?
            .query_row([addon_id], from_row)
            .map_err(sql_error(&path))?;
        let changed = match machine::transition(addon.state, Event::Deprovision) {
            Ok(to) => {
                tx.execute(
                    "UPDATE addons SET state = ?2, message = 'deprovisioning', cleanup = 'pending', attempts = 0, \
                     last_error = NULL, due_at = ?3, updated_at = ?3 WHERE id = ?1",
                    params![addon_id, to.as_str(), now],
                )
                .map_err(sql_error(&path))?;
                release_vars(&tx, &addon).map_err(sql_error(&path))?;
                record(&tx, addon_id, Some(addon.state), to, Event::Deprovision.as_str(), "deprovision requested", now)
                    .map_err(sql_error(&path))?;
                true
            }
            Err(_) => false,
        };
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok((self.addon(addon_id)?, changed))
    }
}
