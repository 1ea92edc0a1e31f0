//! One step of one claimed addon: the task of its state, run through its provider,
//! and the result sorted into what the store commits.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

use super::{Engine, BACKOFF_BASE, BACKOFF_CAP};
use crate::addon::{Addon, Upkeep};
use crate::attachment::{Attachment, AttachmentState};
use crate::machine::{Event, Task};
use crate::names::plural;
use crate::providers::{self, Credential, DriftKind, Provider, ProviderError, Readiness};
use crate::store::{Apply, AttemptError, Outcome, Store, FAILED_ATTEMPT};

impl Engine {
    /// Runs the task of one claimed addon, holding no transaction; `None` when its
    /// state has no task (the claim is then released).
    pub(super) fn task(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<Option<Apply>> {
        if let Some(at) = addon.expires_at.filter(|_| addon.state.is_live()) {
            if at <= store.now()? {
                return Ok(Some(Apply::Transition {
                    event: Event::Expire,
                    message: format!("expired at {}; deprovisioning", crate::clock::rfc3339(at)),
                    config: None,
                }));
            }
        }
        Ok(Some(match addon.state.task() {
            None => match addon.rotation.due(store.now()?) {
                Some(upkeep) => self.upkeep(store, addon, upkeep)?,
                None => match store.attachment_task(&addon.id)? {
                    Some(attachment) => self.attachment(store, addon, &attachment)?,
                    None => {
                        store.release_idle(&addon.id, &self.token)?;
                        return Ok(None);
                    }
                },
            },
            Some(Task::CheckProvision) => self.check_provision(store, addon)?,
            Some(Task::SetConfigVars) => Apply::Transition {
                event: Event::ConfigVarsSet,
                message: format!("config vars set on app {}: {}", addon.app, addon.vars.join(", ")),
                config: None,
            },
            Some(Task::Cleanup) => self.cleanup(addon),
        }))
    }

    /// Commits what a run of tasks found, in one transaction. A result the store
    /// refuses for its own reason (a var no longer reserved) ends that addon in error.
    pub(super) fn commit(
        &self,
        store: &mut Store,
        results: Vec<(Addon, Apply)>,
        record: &dyn Fn(Outcome),
    ) -> anyhow::Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        crate::failpoint!("before-step-commit");
        for (addon, result) in store.finish_steps(&self.token, results)? {
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(refusal) => store.finish_step(&addon, &self.token, fail(refusal.0))?,
            };
            if let Some(outcome) = outcome {
                record(outcome);
            }
        }
        Ok(())
    }

    /// Called by `provision` right after creating the addon under this engine's claim:
    /// starts provisioning, then hands the addon over to ticks. A transient failure
    /// is left for a tick to retry; a permanent one ends the addon in error (the
    /// transition returned).
    pub fn begin(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<Option<Outcome>> {
        crate::failpoint!("after-addon-insert");
        self.read_clock(store)?;
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => return store.finish_step(addon, &self.token, fail(message)),
        };
        crate::provider_call!("begin_provision", &addon.id);
        match provider.begin_provision(addon.resource()) {
            Ok(message) => {
                crate::failpoint!("after-begin-provision");
                store.mark_begun(&addon.id, &self.token, &message)?;
                store.release_claim(&addon.id, &self.token)?;
                Ok(None)
            }
            // A failed attempt to be retried is not the addon's end.
            Err(err) => Ok(store
                .finish_step(addon, &self.token, self.on_error(addon, err, true))?
                .filter(|outcome| outcome.event != FAILED_ATTEMPT)),
        }
    }

    /// The `waiting_for_provision` task: begin (again, after a crash), ask whether
    /// provisioning is complete, and fetch the config when it is.
    fn check_provision(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<Apply> {
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            // The config may be back by the next tick; the deadline still applies.
            Err(message) => return Ok(self.on_error(addon, ProviderError::Transient(message), true)),
        };
        let resource = addon.resource();
        if !addon.begun {
            crate::provider_call!("begin_provision", &addon.id);
            match provider.begin_provision(resource) {
                Ok(message) => {
                    crate::failpoint!("after-begin-provision");
                    store.mark_begun(&addon.id, &self.token, &message)?;
                }
                Err(err) => return Ok(self.on_error(addon, err, true)),
            }
        }
        let mut copied = None;
        if let Some(source_id) = &addon.source_id {
            match self.copying(store, &*provider, addon, source_id)? {
                Ok(said) => copied = said,
                Err(apply) => return Ok(apply),
            }
        }
        crate::provider_call!("provision_complete", &addon.id);
        let apply = match provider.provision_complete(resource) {
            Ok(Readiness::Ready) => match self.fetch_config(&*provider, addon) {
                Apply::Transition { event, config, .. } if copied.is_some() => {
                    let message = format!("provisioned: {}", copied.unwrap_or_default());
                    Apply::Transition { event, message, config }
                }
                apply => apply,
            },
            Ok(Readiness::NotReady { .. }) if addon.begun && self.lost_before_ready(&*provider, addon) => {
                // Removed by hand after `begin_provision` (it is idempotent): begin again now.
                crate::provider_call!("begin_provision", &addon.id);
                match provider.begin_provision(resource) {
                    Ok(message) => Apply::Retry {
                        due_at: self.now(),
                        message: format!("the resource was removed before it was ready; began again: {message}"),
                        error: None,
                    },
                    Err(err) => self.on_error(addon, err, true),
                }
            }
            Ok(Readiness::NotReady { retry_after }) => {
                let due_at = self.now() + retry_after.as_millis() as i64;
                if due_at > addon.deadline_at {
                    fail(format!(
                        "not ready within the provision timeout ({}); raise engine.provision_timeout if the server is slow",
                        humantime::format_duration(self.settings.engine.provision_timeout)
                    ))
                } else {
                    Apply::Retry { due_at, message: "waiting for the provider".into(), error: None }
                }
            }
            Err(err) => self.on_error(addon, err, true),
        };
        Ok(apply)
    }

    /// Whether `verify` finds the resource or the first login of a provisioning addon
    /// gone (a server that does not answer says nothing).
    fn lost_before_ready(&self, provider: &dyn Provider, addon: &Addon) -> bool {
        crate::provider_call!("verify", &addon.id);
        provider.verify(addon.resource(), &[Credential::ORIGINAL]).is_ok_and(|drift| {
            drift.iter().any(|d| matches!(d.kind, DriftKind::ResourceMissing | DriftKind::LoginMissing))
        })
    }

    /// Fetches and checks the config of a resource that is ready.
    fn fetch_config(&self, provider: &dyn Provider, addon: &Addon) -> Apply {
        crate::provider_call!("get_config", &addon.id);
        match provider.get_config(addon.resource()) {
            Ok(config) => match check_config(addon, addon.prefix.as_deref(), config) {
                Ok(config) => Apply::Transition {
                    event: Event::ProvisionComplete,
                    message: "provisioned".into(),
                    config: Some(config),
                },
                Err(message) => fail(message),
            },
            Err(err) => self.on_error(addon, err, true),
        }
    }

    /// The terminal states' task: tell the provider to remove the resource.
    fn cleanup(&self, addon: &Addon) -> Apply {
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => return self.on_error(addon, ProviderError::Transient(message), false),
        };
        crate::provider_call!("deprovision", &addon.id);
        match provider.deprovision(addon.resource()) {
            Ok(message) => {
                crate::failpoint!("after-deprovision");
                self.forget_copy(addon);
                let message = match addon.state {
                    crate::machine::State::Error => format!("orphan cleanup: {message}"),
                    _ => message,
                };
                Apply::CleanupDone { message }
            }
            Err(err) => self.on_error(addon, err, false),
        }
    }

    /// A ready addon's upkeep: make and check the login of a new generation (its vars
    /// switch when the result is committed), or revoke the old ones.
    fn upkeep(&self, store: &mut Store, addon: &Addon, upkeep: Upkeep) -> anyhow::Result<Apply> {
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => return Ok(self.on_error(addon, ProviderError::Transient(message), false)),
        };
        let resource = addon.resource();
        Ok(match upkeep {
            Upkeep::Switch { generation } => {
                let credential = Credential::new(0, generation);
                crate::provider_call!("ensure_credential", &addon.id);
                let config = match provider.ensure_credential(resource, credential) {
                    Ok(config) => config,
                    Err(err) => return Ok(self.on_error(addon, err, false)),
                };
                crate::failpoint!("after-ensure-credential");
                crate::provider_call!("verify", &addon.id);
                match provider.verify(resource, &[credential]) {
                    Ok(drift) if drift.is_empty() => {}
                    Ok(drift) => {
                        let found = drift.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; ");
                        let why = format!("the new login does not work yet: {found}");
                        return Ok(self.on_error(addon, ProviderError::Transient(why), false));
                    }
                    Err(err) => return Ok(self.on_error(addon, err, false)),
                }
                match check_config(addon, addon.prefix.as_deref(), config) {
                    Ok(config) => Apply::Switched {
                        generation,
                        shared: !providers::info(&addon.provider).is_some_and(|info| info.own_logins()),
                        config,
                        message: format!("vars of app {} switched to login generation {generation}", addon.app),
                    },
                    Err(message) => self.on_error(addon, ProviderError::Permanent(message), false),
                }
            }
            Upkeep::Revoke { from, to } => {
                // The app's env file must hold the new vars before the old login goes.
                let env_file = self.settings.apps.get(&addon.app).is_some_and(|app| app.env_file.is_some());
                if let Some(version) = env_file.then(|| store.env_file_behind(&addon.app)).transpose()?.flatten() {
                    let why = format!("the env file of app {} is behind (vars version {version})", addon.app);
                    return Ok(self.on_error(addon, ProviderError::Transient(why), false));
                }
                let mut done = Vec::new();
                for generation in from..to {
                    crate::provider_call!("revoke_credential", &addon.id);
                    match provider.revoke_credential(resource, Credential::new(0, generation)) {
                        Ok(message) => done.push(message),
                        Err(err) => return Ok(self.on_error(addon, err, false)),
                    }
                    crate::failpoint!("after-revoke-credential");
                }
                Apply::Revoked { to, message: done.join("; ") }
            }
        })
    }

    /// A ready addon's step for one attachment: make its credential and hand back the
    /// vars that use it, or revoke its credential (ending its sessions first). Both
    /// are idempotent by addon and slot, so a tick killed anywhere is redone by the next.
    fn attachment(&self, store: &mut Store, addon: &Addon, attachment: &Attachment) -> anyhow::Result<Apply> {
        let provider = match self.provider(&addon.provider) {
            Ok(provider) => provider,
            Err(message) => return Ok(self.on_error(addon, ProviderError::Transient(message), false)),
        };
        let own_logins = providers::info(&addon.provider).is_some_and(|info| info.own_logins());
        let (resource, slot, app) = (addon.resource(), attachment.slot, &attachment.app);
        Ok(match attachment.state {
            AttachmentState::Attaching => {
                // Without logins of its own, the app is handed what the addon's app has.
                let credential = match own_logins {
                    true => attachment.credential(),
                    false => Credential::new(0, addon.rotation.vars_generation),
                };
                crate::provider_call!("ensure_credential", &addon.id);
                let config = match provider.ensure_credential(resource, credential) {
                    Ok(config) => config,
                    Err(err) => return Ok(self.on_error(addon, err, false)),
                };
                crate::failpoint!("after-attach-credential");
                if own_logins {
                    crate::provider_call!("verify", &addon.id);
                    match provider.verify(resource, &[credential]) {
                        Ok(drift) if drift.is_empty() => {}
                        Ok(drift) => {
                            let found = drift.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join("; ");
                            let why = format!("the login of app {app} does not work yet: {found}");
                            return Ok(self.on_error(addon, ProviderError::Transient(why), false));
                        }
                        Err(err) => return Ok(self.on_error(addon, err, false)),
                    }
                }
                let message = match (own_logins, credential.generation) {
                    (false, _) => format!("app {app} attached: handed the same value as app {}", addon.app),
                    (true, 0) => format!("app {app} attached with a login of its own (credential slot {slot})"),
                    (true, generation) => format!("vars of app {app} switched to login generation {generation}"),
                };
                match check_config(addon, attachment.prefix.as_deref(), config) {
                    Ok(config) => Apply::Attached {
                        slot,
                        generation: credential.generation,
                        shared: !own_logins,
                        config,
                        message,
                    },
                    Err(message) => self.on_error(addon, ProviderError::Permanent(message), false),
                }
            }
            AttachmentState::Detaching => {
                crate::failpoint!("before-detach-revoke");
                let mut done = Vec::new();
                for credential in attachment.live_credentials().into_iter().filter(|_| own_logins) {
                    crate::provider_call!("revoke_credential", &addon.id);
                    match provider.revoke_credential(resource, credential) {
                        Ok(message) => done.push(message),
                        Err(err) => return Ok(self.on_error(addon, err, false)),
                    }
                }
                crate::failpoint!("after-detach-revoke");
                let message = match done.is_empty() {
                    true => "nothing of its own to revoke".to_string(),
                    false => done.join("; "),
                };
                Apply::Detached { slot, message: format!("app {app} detached: {message}") }
            }
            // A rotation's old generations, due now (`attachment_task` said so).
            AttachmentState::Attached => {
                // The app's env file must hold the new vars before the old login goes.
                let env_file = self.settings.apps.get(app).is_some_and(|settings| settings.env_file.is_some());
                if let Some(version) = env_file.then(|| store.env_file_behind(app)).transpose()?.flatten() {
                    let why = format!("the env file of app {app} is behind (vars version {version})");
                    return Ok(self.on_error(addon, ProviderError::Transient(why), false));
                }
                let (from, to) = (attachment.revoke_from.unwrap_or(attachment.generation), attachment.generation);
                let mut done = Vec::new();
                for generation in from..to {
                    crate::provider_call!("revoke_credential", &addon.id);
                    match provider.revoke_credential(resource, Credential::new(slot, generation)) {
                        Ok(message) => done.push(message),
                        Err(err) => return Ok(self.on_error(addon, err, false)),
                    }
                    crate::failpoint!("after-revoke-credential");
                }
                Apply::AttachmentRevoked { slot, to, message: format!("app {app}: {}", done.join("; ")) }
            }
            // Not a step: `attachment_task` hands out only those due.
            AttachmentState::Detached => {
                self.on_error(addon, ProviderError::Transient(format!("app {app} has no step to run")), false)
            }
        })
    }

    /// Sorts a provider error: a transient one is retried with backoff (until the
    /// provision deadline while provisioning); a permanent one ends provisioning in
    /// error. Cleanup is retried with backoff whatever the error.
    pub(super) fn on_error(&self, addon: &Addon, err: ProviderError, provisioning: bool) -> Apply {
        let due_at = self.now() + backoff(addon.attempts).as_millis() as i64;
        let permanent = matches!(err, ProviderError::Permanent(_));
        match err {
            ProviderError::Permanent(message) if provisioning => fail(message),
            ProviderError::Transient(message) if provisioning && due_at > addon.deadline_at => fail(format!(
                "gave up after {} within the provision timeout: {message}",
                plural(u64::from(addon.attempts) + 1, "attempt")
            )),
            ProviderError::Transient(message) | ProviderError::Permanent(message) => Apply::Retry {
                due_at,
                message: format!("retrying (attempt {}): {message}", addon.attempts + 1),
                error: Some(AttemptError { message, permanent }),
            },
        }
    }
}

/// A failure that ends provisioning in `error`.
pub(super) fn fail(message: String) -> Apply {
    Apply::Transition { event: Event::Fail, message, config: None }
}

/// Checks that a provider handed back exactly the vars it declared, and applies the
/// prefix (the addon's, or an attachment's).
fn check_config(
    addon: &Addon,
    prefix: Option<&str>,
    config: Vec<(String, String)>,
) -> Result<BTreeMap<String, String>, String> {
    let declared = providers::info(&addon.provider).map_or(&[][..], |info| info.vars);
    let mut out = BTreeMap::new();
    for (key, value) in config {
        if !declared.contains(&key.as_str()) {
            return Err(format!("the {} provider handed back an undeclared var {key}", addon.provider));
        }
        out.insert(Addon::prefixed(prefix, &key), value);
    }
    if out.len() != declared.len() {
        return Err(format!("the {} provider did not hand back every var it declares", addon.provider));
    }
    Ok(out)
}

/// Exponential backoff with jitter: about 1s, 2s, 4s ... capped at 5 minutes, each
/// drawn from the upper half of its range so retries of many addons spread out.
pub fn backoff(attempts: u32) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1u32 << attempts.min(16)).min(BACKOFF_CAP);
    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempts in 0..30 {
            let ceiling = BACKOFF_BASE.saturating_mul(1u32 << attempts.min(16)).min(BACKOFF_CAP);
            let wait = backoff(attempts);
            assert!(wait <= ceiling && wait >= ceiling / 2, "{attempts}: {wait:?}");
        }
        assert!(backoff(40) <= BACKOFF_CAP);
    }
}
