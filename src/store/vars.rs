//! An app's config vars (set by hand or owned by addons) and the version counter
//! that tells when its env file must be rewritten.

use super::backend::{Txn, VarOwner};
use super::base::Store;
use super::refused::{HandChange, Refused};
use crate::addon::ConfigVar;

impl Store {
    /// Who holds a config var key of an app: `None` when it is free, `Some(None)` when it
    /// was set by hand, `Some(Some(id))` when an addon owns it.
    pub fn var_holder(&self, app: &str, key: &str) -> anyhow::Result<Option<Option<String>>> {
        self.read(|tx| {
            Ok(tx.var_owner(app, key)?.map(|owner| match owner {
                VarOwner::Hand => None,
                VarOwner::Addon { id, .. } => Some(id),
            }))
        })
    }

    /// An app's config vars that have values, by key. Vars reserved by an addon that
    /// is not ready yet are left out.
    pub fn config_vars(&self, app: &str) -> anyhow::Result<Vec<ConfigVar>> {
        self.read(|tx| tx.vars(app))
    }

    /// An app's vars together with the version they are at, from one snapshot.
    pub fn config_vars_at_version(&mut self, app: &str) -> anyhow::Result<(Vec<ConfigVar>, i64)> {
        self.read(|tx| {
            let version = tx.app_versions(app)?.map_or(0, |versions| versions.vars);
            Ok((tx.vars(app)?, version))
        })
    }

    /// Whether anything has ever referred to the app.
    pub fn app_exists(&self, app: &str) -> anyhow::Result<bool> {
        self.read(|tx| tx.app_exists(app))
    }

    /// Every app anything has referred to, for completion and did-you-mean.
    pub fn app_names(&self) -> anyhow::Result<Vec<String>> {
        self.read(|tx| tx.app_names())
    }

    /// Sets vars by hand. Refused, with nothing written, when any key is owned by an addon.
    pub fn set_config_vars(&mut self, app: &str, pairs: &[(String, String)]) -> anyhow::Result<()> {
        self.write(|tx| {
            for (key, _) in pairs {
                refuse_owned(tx, app, key, HandChange::Set)?;
            }
            tx.ensure_app(app)?;
            for (key, value) in pairs {
                tx.set_var(app, key, value)?;
            }
            Ok(tx.bump_version(app)?)
        })
    }

    /// Unsets vars set by hand. Refused, with nothing written, when any key is owned by
    /// an addon or not set at all.
    pub fn unset_config_vars(&mut self, app: &str, keys: &[String]) -> anyhow::Result<()> {
        self.write(|tx| {
            for key in keys {
                if refuse_owned(tx, app, key, HandChange::Unset)?.is_none() {
                    return Err(Refused::NoVar { app: app.to_string(), key: key.clone() }.into());
                }
            }
            for key in keys {
                tx.delete_var(app, key)?;
            }
            Ok(tx.bump_version(app)?)
        })
    }

    /// Whether an app's env file is behind its vars: `Some(version)` to write.
    pub fn env_file_behind(&self, app: &str) -> anyhow::Result<Option<i64>> {
        let versions = self.read(|tx| tx.app_versions(app))?;
        Ok(versions.and_then(|v| (v.vars != v.env).then_some(v.vars)))
    }

    /// Records that the env file now holds the vars of `version`.
    pub fn mark_env_file_written(&mut self, app: &str, version: i64) -> anyhow::Result<()> {
        self.write(|tx| Ok(tx.mark_env_written(app, version)?))
    }

    /// Records why an app's env file could not be written; the next write that
    /// succeeds clears it.
    pub fn record_env_file_failure(&mut self, app: &str, why: &str) -> anyhow::Result<()> {
        self.write(|tx| {
            let now = tx.now()?;
            Ok(tx.record_env_error(app, why, now)?)
        })
    }

    /// Every app whose env file failed the last time it was written, with why.
    pub fn env_file_failures(&self) -> anyhow::Result<Vec<(String, String)>> {
        self.read(|tx| tx.env_errors())
    }

    /// The apps of these addons (by id), and the apps ever attached to them, each once.
    pub fn apps_of(&self, addon_ids: &[String]) -> anyhow::Result<Vec<String>> {
        self.read(|tx| {
            let mut apps = tx.apps_of(addon_ids)?;
            for id in addon_ids {
                apps.extend(tx.attachments(id)?.into_iter().map(|attachment| attachment.app));
            }
            apps.sort();
            apps.dedup();
            Ok(apps)
        })
    }
}

/// Refuses a key an addon owns; otherwise who holds it (hand-set, or nobody).
fn refuse_owned(tx: &mut dyn Txn, app: &str, key: &str, change: HandChange) -> anyhow::Result<Option<VarOwner>> {
    match tx.var_owner(app, key)? {
        Some(VarOwner::Addon { name, .. }) => {
            Err(Refused::VarOwned { app: app.to_string(), key: key.to_string(), addon: name, change }.into())
        }
        owner => Ok(owner),
    }
}
