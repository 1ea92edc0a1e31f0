//! Drift: a ready addon's resource compared with what was made (`verify`), and put
//! back as it was where that loses no data (`repair`). `addons check` runs it now;
//! a tick runs it for each ready addon every `engine.verify_interval`. A check holds
//! the addon's claim, as a tick's step does, and repairs only the credentials the
//! state still wants, so it never brings back what a rotation, detach or
//! deprovision took away.

use std::time::Duration;

use super::base::Engine;
use super::claim::is_dead_holder;
use super::server::Unbound;
use crate::addon::Addon;
use crate::attachment::{Attachment, AttachmentState};
use crate::providers::Credential;
use crate::store::{Findings, Store, Taken};

/// Why an addon another process holds was not checked.
const BUSY: &str = "another addons process is working on it (a tick's step or another check); check it again later";

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
    /// Another process held the addon (a tick's step, another check): not checked.
    pub busy: bool,
}

impl Check {
    /// Whether drift remains, or the check could not tell.
    pub fn failed(&self) -> bool {
        !self.left.is_empty() || self.error.is_some()
    }

    /// A check of `addon` that did not run, and why.
    fn not_run(addon: &Addon, why: String) -> Check {
        Check { name: addon.name.clone(), provider: addon.provider.clone(), error: Some(why), ..Check::default() }
    }
}

impl Engine {
    /// `addons check`: checks each of `targets` now and repairs what it can (a lost
    /// database or file only with `repair_data`). One that is not ready, or that another
    /// process holds, is reported unchecked; after SIGINT/SIGTERM the rest are.
    pub fn check_now(&self, store: &mut Store, targets: &[Addon], repair_data: bool) -> anyhow::Result<Vec<Check>> {
        // A check that died holding an addon of this host does not hold it up.
        store.expire_dead_claims(is_dead_holder)?;
        let mut checks = Vec::new();
        for target in targets {
            if self.stopping() {
                checks.push(Check::not_run(target, "not checked: addons was asked to stop".into()));
                continue;
            }
            checks.push(match store.take_check(&target.id, &self.token, self.lease(), None)? {
                Taken::Claimed(addon) => self.check(store, &addon, repair_data)?,
                Taken::NotReady(state) => {
                    Check::not_run(target, format!("{} is {state}; only a ready addon is checked", target.name))
                }
                Taken::Busy => Check { busy: true, ..Check::not_run(target, BUSY.into()) },
                Taken::Elsewhere => Check::not_run(target, format!("{} is gone from the state", target.name)),
            });
        }
        Ok(checks)
    }

    /// The tick's checks: each ready addon (of `only`) not checked for `interval` is
    /// checked once, by whichever process takes it first; one another process holds is
    /// left for a later tick.
    pub(super) fn check_due(
        &self,
        store: &mut Store,
        only: Option<&[String]>,
        interval: Duration,
    ) -> anyhow::Result<Vec<Check>> {
        let now = store.now()?;
        let due = store.due_checks(now, interval)?;
        let due = due.into_iter().filter(|(id, _)| only.is_none_or(|only| only.contains(id)));
        let mut checks = Vec::new();
        for (id, verified_at) in due {
            if self.stopping() {
                break;
            }
            if let Taken::Claimed(addon) = store.take_check(&id, &self.token, self.lease(), Some(verified_at))? {
                checks.push(self.check(store, &addon, false)?);
            }
        }
        Ok(checks)
    }

    /// Checks one addon whose check this process took (`taken`, its claim held),
    /// records `drift` and `repaired` events and the mark of what is left, and gives
    /// the claim up, whatever happened.
    fn check(&self, store: &mut Store, taken: &Addon, repair_data: bool) -> anyhow::Result<Check> {
        let mut check = Check { name: taken.name.clone(), provider: taken.provider.clone(), ..Check::default() };
        let done = self.verify_and_repair(store, taken, repair_data, &mut check);
        crate::failpoint!("before-check-commit");
        let left = check.left.join("; ");
        let findings = Findings {
            found: &check.found,
            repaired: &check.repaired,
            left: (!check.left.is_empty()).then_some(left.as_str()),
        };
        match done {
            Ok(record) => store.finish_check(taken, &self.token, record.then_some(findings))?,
            Err(err) => {
                // The state's own failure: the claim is given up if the state still answers.
                let _ = store.finish_check(taken, &self.token, None);
                return Err(err);
            }
        }
        Ok(check)
    }

    /// Verifies the credentials the state wants and repairs what drifted, into `check`;
    /// whether what it found is to be recorded (not when the check could not tell).
    fn verify_and_repair(
        &self,
        store: &mut Store,
        taken: &Addon,
        repair_data: bool,
        check: &mut Check,
    ) -> anyhow::Result<bool> {
        let provider = match self.provider_of(store, taken) {
            Ok(provider) => provider,
            Err(Unbound::NotBuilt(message) | Unbound::Elsewhere(message)) => {
                check.error = Some(message);
                return Ok(false);
            }
            Err(Unbound::Unknown(err)) => {
                check.error = Some(err.to_string());
                return Ok(false);
            }
        };
        let resource = taken.resource();
        crate::provider_call!("verify", &taken.id);
        let mut drift = match provider.verify(resource, &wanted(taken)) {
            Ok(drift) => drift,
            Err(err) => {
                check.error = Some(err.to_string());
                return Ok(false);
            }
        };
        if drift.is_empty() {
            return Ok(true);
        }
        crate::failpoint!("before-check-repair");
        // The server was asked with the claim held, but the state may have moved on
        // meanwhile (a detach, a rotation or a deprovision asked): only what it still
        // wants is repaired, and the claim is renewed for the repair.
        let Some(now) = store.renew_check(&taken.id, &self.token, self.lease())? else {
            check.error = Some(format!("{} changed while it was checked; nothing was repaired", taken.name));
            return Ok(false);
        };
        let credentials = wanted(&now);
        drift.retain(|d| d.credential.is_none_or(|credential| credentials.contains(&credential)));
        check.found = drift.iter().map(|d| d.message.clone()).collect();
        if drift.is_empty() {
            return Ok(true);
        }
        crate::provider_call!("repair", &taken.id);
        match provider.repair(resource, &drift, repair_data) {
            Ok(repair) => {
                check.repaired = repair.done;
                check.left = repair.left.iter().map(|d| d.message.clone()).collect();
            }
            Err(err) => check.error = Some(format!("repair failed: {err}")),
        }
        Ok(true)
    }
}

/// The credentials the state wants working: the addon's own live generations and, for
/// a provider that gives each app a login of its own, each attached app's (not one
/// being made or revoked: that is a tick's step).
fn wanted(addon: &Addon) -> Vec<Credential> {
    let mut credentials = addon.live_credentials();
    if crate::providers::info(&addon.provider).is_some_and(|info| info.own_logins()) {
        let attached = addon.attachments.iter().filter(|t| t.state == AttachmentState::Attached);
        credentials.extend(attached.map(Attachment::credential));
    }
    credentials
}
