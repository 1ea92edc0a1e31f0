//! An app's config vars (set by hand or owned by addons) and the version counter
//! that tells when its env file must be rewritten.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{sql_error, ConfigVar, Store};
use crate::error::{failed, usage};


/// Notes that an app's vars changed, so its env file is stale.
pub(super) fn bump_version(tx: &Connection, app: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO apps (name, vars_version) VALUES (?1, 1) \
         ON CONFLICT (name) DO UPDATE SET vars_version = vars_version + 1",
    )?
    .execute([app])?;
    Ok(())
}

impl Store {
    /// An app's config vars that have values, by key. Vars reserved by an addon that
    /// is not ready yet are left out.
    pub fn config_vars(&self, app: &str) -> anyhow::Result<Vec<ConfigVar>> {
        read_vars(&self.conn, app).map_err(sql_error(&self.path))
    }

    /// An app's vars together with the version they are at, from one snapshot.
    pub fn config_vars_at_version(&mut self, app: &str) -> anyhow::Result<(Vec<ConfigVar>, i64)> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(sql_error(&path))?;
        let version: i64 = tx
            .query_row("SELECT vars_version FROM apps WHERE name = ?1", [app], |row| row.get(0))
            .optional()
            .map_err(sql_error(&path))?
            .unwrap_or(0);
        let vars = read_vars(&tx, app).map_err(sql_error(&path))?;
        Ok((vars, version))
    }

    /// Whether anything has ever referred to the app.
    pub fn app_exists(&self, app: &str) -> anyhow::Result<bool> {
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM apps WHERE name = ?1")?
            .query_row([app], |row| row.get(0))
            .optional()
            .map_err(sql_error(&self.path))?;
        Ok(found.is_some())
    }

    /// Every app anything has referred to, for completion and did-you-mean.
    pub fn app_names(&self) -> anyhow::Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT name FROM apps ORDER BY name")?;
        let rows = stmt.query_map([], |row| row.get(0)).map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }

    /// Sets vars by hand. Refused, with nothing written, when any key is owned by an addon.
    pub fn set_config_vars(&mut self, app: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
        let path = self.path.clone();
        let tx = self.write()?;
        for (key, _) in pairs {
            refuse_owned(&tx, app, key, "set")?;
        }
        tx.execute("INSERT OR IGNORE INTO apps (name) VALUES (?1)", [app]).map_err(sql_error(&path))?;
        for (key, value) in pairs {
            tx.execute(
                "INSERT INTO config_vars (app, key, value, addon_id) VALUES (?1, ?2, ?3, NULL) \
                 ON CONFLICT (app, key) DO UPDATE SET value = excluded.value",
                params![app, key, value],
            )
            .map_err(sql_error(&path))?;
        }
        bump_version(&tx, app).map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(())
    }

    /// Unsets vars set by hand. Refused, with nothing written, when any key is owned by
    /// an addon or not set at all.
    pub fn unset_config_vars(&mut self, app: &str, keys: &[String]) -> anyhow::Result<()> {
        let path = self.path.clone();
        let tx = self.write()?;
        for key in keys {
            refuse_owned(&tx, app, key, "unset")?;
            let present: Option<i64> = tx
                .query_row("SELECT 1 FROM config_vars WHERE app = ?1 AND key = ?2", [app, key], |row| row.get(0))
                .optional()
                .map_err(sql_error(&path))?;
            if present.is_none() {
                return Err(usage(format!("app {app} has no config var {key}; 'addons config {app}' lists them")));
            }
        }
        for key in keys {
            tx.execute("DELETE FROM config_vars WHERE app = ?1 AND key = ?2", [app, key]).map_err(sql_error(&path))?;
        }
        bump_version(&tx, app).map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(())
    }

    /// Whether an app's env file is behind its vars: `Some(version)` to write.
    pub fn env_file_behind(&self, app: &str) -> anyhow::Result<Option<i64>> {
        let row: Option<(i64, i64)> = self
            .conn
            .prepare_cached("SELECT vars_version, env_version FROM apps WHERE name = ?1")?
            .query_row([app], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(sql_error(&self.path))?;
        Ok(row.and_then(|(vars, env)| (vars != env).then_some(vars)))
    }

    /// Records that the env file now holds the vars of `version`.
    pub fn mark_env_file_written(&mut self, app: &str, version: i64) -> anyhow::Result<()> {
        let path = self.path.clone();
        let tx = self.write()?;
        tx.execute(
            "UPDATE apps SET env_version = ?2, env_error = NULL, env_error_at = NULL WHERE name = ?1",
            params![app, version],
        )
        .map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(())
    }
}

impl Store {
    /// Records why an app's env file could not be written; the next write that
    /// succeeds clears it.
    pub fn record_env_file_failure(&mut self, app: &str, why: &str) -> anyhow::Result<()> {
        let path = self.path.clone();
        let tx = self.write()?;
        tx.execute(
            "UPDATE apps SET env_error = ?2, env_error_at = ?3 WHERE name = ?1",
            params![app, why, super::now_ms()],
        )
        .map_err(sql_error(&path))?;
        tx.commit().map_err(|err| super::locked_or(&path, err))?;
        Ok(())
    }

    /// Every app whose env file failed the last time it was written, with why.
    pub fn env_file_failures(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT name, env_error FROM apps WHERE env_error IS NOT NULL ORDER BY name")?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }

    /// The apps of these addons (by id), each once.
    pub fn apps_of(&self, addon_ids: &[String]) -> anyhow::Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT app FROM addons WHERE id IN (SELECT value FROM json_each(?1)) ORDER BY app",
        )?;
        let rows =
            stmt.query_map([serde_json::to_string(addon_ids)?], |row| row.get(0)).map_err(sql_error(&self.path))?;
        rows.collect::<Result<_, _>>().map_err(sql_error(&self.path))
    }
}

fn read_vars(conn: &rusqlite::Connection, app: &str) -> rusqlite::Result<Vec<ConfigVar>> {
    let mut stmt = conn.prepare_cached(
        "SELECT v.key, v.value, a.name FROM config_vars v LEFT JOIN addons a ON a.id = v.addon_id \
         WHERE v.app = ?1 AND v.value IS NOT NULL ORDER BY v.key",
    )?;
    let rows =
        stmt.query_map([app], |row| Ok(ConfigVar { key: row.get(0)?, value: row.get(1)?, addon: row.get(2)? }))?;
    rows.collect()
}

fn refuse_owned(tx: &Transaction<'_>, app: &str, key: &str, verb: &str) -> anyhow::Result<()> {
    let owner: Option<String> = tx
        .query_row(
            "SELECT a.name FROM config_vars v JOIN addons a ON a.id = v.addon_id WHERE v.app = ?1 AND v.key = ?2",
            [app, key],
            |row| row.get(0),
        )
        .optional()?;
    match owner {
        Some(addon) => Err(failed(format!(
            "{key} on app {app} is set by addon {addon} and can't be {verb} by hand; deprovision the addon, or use another key"
        ))),
        None => Ok(()),
    }
}
