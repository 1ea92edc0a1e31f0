//! Drift: a ready addon's resource compared with what was made (`verify`), and put
//! back as it was where that loses no data (`repair`). `addons check` runs it now;
//! a tick runs it for each ready addon every `engine.verify_interval`.

use std::time::Duration;

use super::Engine;
use crate::addon::Addon;
use crate::machine::State;
use crate::store::Store;

/// What checking one addon gave.
#[derive(Debug, Clone, Default)]
pub struct Check {
    pub name: String,
    pub provider: String,
    /// What differed from what was made.
    pub found: Vec<String>,
    /// What was put back.
    pub repaired: Vec<String>,
    /// What is still wrong: data lost, left for a person (or `--repair-data`).
    pub left: Vec<String>,
    /// Why the check could not run (a server down is not drift).
    pub error: Option<String>,
}

impl Check {
    /// Whether drift remains, or the check could not tell.
    pub fn failed(&self) -> bool {
        !self.left.is_empty() || self.error.is_some()
    }
}

impl Engine {
    /// Checks one ready addon and repairs what it can (a lost database or file only
    /// with `repair_data`), recording `drift` and `repaired` events and the mark of
    /// what is left.
    pub fn check(&self, store: &mut Store, addon: &Addon, repair_data: bool) -> anyhow::Result<Check> {
        let mut check = Check { name: addon.name.clone(), provider: addon.provider.clone(), ..Check::default() };
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => {
                check.error = Some(message);
                return Ok(check);
            }
        };
        let (resource, mut credentials) = (addon.resource(), addon.live_credentials());
        // The logins of attached apps drift and are repaired as the addon's own.
        if crate::providers::info(&addon.provider).is_some_and(|info| info.own_logins()) {
            credentials.extend(store.attached_credentials(&addon.id)?);
        }
        crate::provider_call!("verify", &addon.id);
        let drift = match provider.verify(resource, &credentials) {
            Ok(drift) => drift,
            Err(err) => {
                check.error = Some(err.to_string());
                return Ok(check);
            }
        };
        check.found = drift.iter().map(|d| d.message.clone()).collect();
        if !drift.is_empty() {
            crate::failpoint!("before-check-repair");
            crate::provider_call!("repair", &addon.id);
            match provider.repair(resource, &credentials, &drift, repair_data) {
                Ok(repair) => {
                    check.repaired = repair.done;
                    check.left = repair.left.iter().map(|d| d.message.clone()).collect();
                }
                Err(err) => check.error = Some(format!("repair failed: {err}")),
            }
        }
        crate::failpoint!("before-check-commit");
        let left = (!check.left.is_empty()).then(|| check.left.join("; "));
        store.record_check(&addon.id, &check.found, &check.repaired, left)?;
        Ok(check)
    }

    /// The tick's checks: each ready addon (of `only`) not checked for `interval` is
    /// checked once, by whichever process takes it first.
    pub(super) fn check_due(
        &self,
        store: &mut Store,
        only: Option<&[String]>,
        interval: Duration,
    ) -> anyhow::Result<Vec<Check>> {
        let now = store.now()?;
        let due: Vec<Addon> = store
            .list_addons(None, false)?
            .into_iter()
            .filter(|addon| addon.state == State::Ready)
            .filter(|addon| only.is_none_or(|only| only.contains(&addon.id)))
            .filter(|addon| addon.verified_at.unwrap_or(addon.updated_at) + interval.as_millis() as i64 <= now)
            .collect();
        let mut checks = Vec::new();
        for seen in due {
            if self.stopping() {
                break;
            }
            if let Some(addon) = store.take_check(&seen.id, Some(seen.verified_at))? {
                checks.push(self.check(store, &addon, false)?);
            }
        }
        Ok(checks)
    }
}
