//! One step of one claimed addon: the task of its state, run through its provider,
//! and the result sorted into what the store commits.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;

use super::base::Engine;
use super::server::Unbound;
use crate::addon::Addon;
use crate::attachment::{Attachment, AttachmentState};
use crate::credential::{Access, LoginStep};
use crate::machine::{Event, Task};
use crate::names::plural;
use crate::providers::{self, Credential, DriftKind, Provider, ProviderError, Readiness};
use crate::store::{Apply, AttemptError, ClaimAsk, Outcome, StepResults, Store, FAILED_ATTEMPT};

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
            None => match self.login_task(store, addon)? {
                Some(apply) => apply,
                None => {
                    store.release_idle(&addon.id, &self.token)?;
                    return Ok(None);
                }
            },
            Some(Task::CheckProvision) => self.check_provision(store, addon)?,
            Some(Task::SetConfigVars) => Apply::Transition {
                event: Event::ConfigVarsSet,
                message: format!("config vars set on app {}: {}", addon.app, addon.vars.join(", ")),
                config: None,
            },
            Some(Task::Cleanup) => self.cleanup(store, addon),
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
        let results = store.finish_steps(&self.token, results)?;
        self.record_results(store, results, record)
    }

    /// As [`Engine::commit`], and claims the next batch as `ask` says in the same
    /// transaction ([`Store::finish_and_claim`]), for a state that takes one writer at
    /// a time: the addons claimed.
    pub(super) fn commit_and_claim(
        &self,
        store: &mut Store,
        results: Vec<(Addon, Apply)>,
        ask: &ClaimAsk<'_>,
        record: &dyn Fn(Outcome),
    ) -> anyhow::Result<Vec<Addon>> {
        if results.is_empty() {
            return store.claim(&self.token, ask);
        }
        crate::failpoint!("before-step-commit");
        let (results, claimed) = store.finish_and_claim(&self.token, results, ask)?;
        self.record_results(store, results, record)?;
        Ok(claimed)
    }

    /// Records the outcomes of committed steps; a step the store refused ends its addon
    /// in error.
    fn record_results(&self, store: &mut Store, results: StepResults, record: &dyn Fn(Outcome)) -> anyhow::Result<()> {
        for (addon, result) in results {
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
        let provider = match self.provider_of(store, addon) {
            Ok(provider) => provider,
            Err(Unbound::NotBuilt(message)) => return store.finish_step(addon, &self.token, fail(message)),
            Err(unbound) => return store.finish_step(addon, &self.token, self.unbound(addon, unbound, true)),
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
        let provider = match self.provider_of(store, addon) {
            Ok(provider) => provider,
            // The config may be back by the next tick; the deadline still applies.
            Err(unbound) => return Ok(self.unbound(addon, unbound, true)),
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
        if let Some(source_id) = addon.copy_source() {
            match self.copying(store, &*provider, addon, source_id)? {
                Ok(said) => copied = said,
                Err(apply) => return Ok(apply),
            }
        }
        if let Some(backup_id) = addon.backup_source() {
            match self.restoring(store, addon, backup_id)? {
                Ok(said) => copied = Some(said),
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
    fn cleanup(&self, store: &mut Store, addon: &Addon) -> Apply {
        let provider = match self.provider_of(store, addon) {
            Ok(provider) => provider,
            Err(unbound) => return self.unbound(addon, unbound, false),
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

    /// A ready addon's upkeep: the step due of its own app's login (slot 0), else of an
    /// attached app's (a login to make or to revoke, or the detach of the app). Every
    /// step is idempotent by addon, slot and generation, so a tick killed anywhere is
    /// redone by the next. `None` when nothing is due.
    fn login_task(&self, store: &mut Store, addon: &Addon) -> anyhow::Result<Option<Apply>> {
        let now = store.now()?;
        if let Some(step) = addon.login.due(now) {
            let holder =
                Holder { slot: 0, app: &addon.app, prefix: addon.prefix.as_deref(), access: Access::ReadWrite };
            return self.login_step(store, addon, holder, step).map(Some);
        }
        let Some(attachment) = store.attachment_task(&addon.id)? else { return Ok(None) };
        if attachment.state == AttachmentState::Detaching {
            return self.detach(store, addon, &attachment).map(Some);
        }
        // `attachment_task` hands out only attachments with a step due.
        let Some(step) = attachment.login.due(now) else { return Ok(None) };
        let holder = Holder {
            slot: attachment.slot,
            app: &attachment.app,
            prefix: attachment.prefix.as_deref(),
            access: attachment.access,
        };
        self.login_step(store, addon, holder, step).map(Some)
    }

    /// Runs one step of the login of `holder`: make and check the login of a generation
    /// (the app's vars switch to it when the result is committed), or revoke the old ones
    /// once the app's env file holds the new.
    fn login_step(
        &self,
        store: &mut Store,
        addon: &Addon,
        holder: Holder<'_>,
        step: LoginStep,
    ) -> anyhow::Result<Apply> {
        let provider = match self.provider_of(store, addon) {
            Ok(provider) => provider,
            Err(unbound) => return Ok(self.unbound(addon, unbound, false)),
        };
        let own_logins = providers::info(&addon.provider).is_some_and(|info| info.own_logins());
        let (resource, slot, app) = (addon.resource(), holder.slot, holder.app);
        Ok(match step {
            LoginStep::Make { generation } => {
                // Without logins of its own, an attached app is handed what the addon's app has.
                let own = slot == 0 || own_logins;
                let credential = match own {
                    true => Credential::new(slot, generation),
                    false => Credential::new(0, addon.login.vars_generation.unwrap_or_default()),
                }
                .with_access(holder.access);
                crate::provider_call!("ensure_credential", &addon.id);
                let made = match own {
                    true => {
                        let what =
                            if slot == 0 { "the new login".to_string() } else { format!("the login of app {app}") };
                        provider.ensure_working(resource, credential, &what, || {
                            crate::failpoint!(if slot == 0 {
                                "after-ensure-credential"
                            } else {
                                "after-attach-credential"
                            });
                            crate::provider_call!("verify", &addon.id);
                        })
                    }
                    false => provider.ensure_credential(resource, credential).inspect(|_| {
                        crate::failpoint!(if slot == 0 {
                            "after-ensure-credential"
                        } else {
                            "after-attach-credential"
                        });
                    }),
                };
                let config = match made {
                    Ok(config) => config,
                    Err(err) => return Ok(self.on_error(addon, err, false)),
                };
                let message = match (slot, own, credential.generation) {
                    (1.., false, _) if credential.is_read_only() => {
                        format!("app {app} attached read-only: handed app {}'s value, asking to only read", addon.app)
                    }
                    (1.., false, _) => format!("app {app} attached: handed the same value as app {}", addon.app),
                    (1.., true, 0) if credential.is_read_only() => {
                        format!("app {app} attached with a read-only login of its own (credential slot {slot})")
                    }
                    (1.., true, 0) => format!("app {app} attached with a login of its own (credential slot {slot})"),
                    (_, _, generation) => format!("vars of app {app} switched to login generation {generation}"),
                };
                match check_config(addon, holder.prefix, config) {
                    Ok(config) => {
                        Apply::Made { slot, generation: credential.generation, shared: !own_logins, config, message }
                    }
                    Err(message) => self.on_error(addon, ProviderError::Permanent(message), false),
                }
            }
            LoginStep::Revoke { from, to } => {
                if let Some(why) = self.app_behind(store, app)? {
                    return Ok(self.on_error(addon, why, false));
                }
                let credentials =
                    (from..to).map(|generation| Credential::new(slot, generation).with_access(holder.access));
                let done = match revoke(&*provider, addon, credentials, Some("after-revoke-credential")) {
                    Ok(done) => done,
                    Err(err) => return Ok(self.on_error(addon, err, false)),
                };
                let message = match slot {
                    0 => done.join("; "),
                    _ => format!("app {app}: {}", done.join("; ")),
                };
                Apply::Revoked { slot, to, message }
            }
        })
    }

    /// Why `app` may still run with the vars of a login about to be revoked, if it may:
    /// its env file is behind its vars, or its `on_change` hook has not yet succeeded
    /// for them (the app has not restarted with them). A hook that failed and waits for
    /// its next try is an error waiting will not end by itself (`--wait` says so); one
    /// not yet run, or about to run again, is waited for.
    fn app_behind(&self, store: &mut Store, app: &str) -> anyhow::Result<Option<ProviderError>> {
        let Some(settings) = self.settings.apps.get(app) else { return Ok(None) };
        if let Some(version) = settings.env_file.is_some().then(|| store.env_file_behind(app)).transpose()?.flatten() {
            let why = format!("the env file of app {app} is behind (vars version {version})");
            return Ok(Some(ProviderError::Transient(why)));
        }
        if settings.on_change.is_none() {
            return Ok(None);
        }
        let Some(hook) = store.hook_status(app)?.filter(|hook| hook.hook_version < hook.vars_version) else {
            return Ok(None);
        };
        let holds = "the old login stays until it succeeds";
        // A failed hook whose next try has come runs in this tick, after the steps.
        let now = store.now()?;
        Ok(Some(match hook.due_at.filter(|&at| hook.attempts > 0 && at > now) {
            None => ProviderError::Transient(format!(
                "the on_change hook of app {app} has not yet succeeded for vars version {}; {holds}",
                hook.vars_version
            )),
            Some(_) => ProviderError::Permanent(format!(
                "the on_change hook of app {app} failed for vars version {} ({}); {holds}",
                hook.vars_version,
                plural(u64::from(hook.attempts), "attempt")
            )),
        }))
    }

    /// The step of a detaching app: revoke every login of its slot (ending their
    /// sessions first) once the app no longer runs with them; an app handed the addon's
    /// own value has none of its own.
    fn detach(&self, store: &mut Store, addon: &Addon, attachment: &Attachment) -> anyhow::Result<Apply> {
        let provider = match self.provider_of(store, addon) {
            Ok(provider) => provider,
            Err(unbound) => return Ok(self.unbound(addon, unbound, false)),
        };
        let own_logins = providers::info(&addon.provider).is_some_and(|info| info.own_logins());
        if let Some(why) = own_logins.then(|| self.app_behind(store, &attachment.app)).transpose()?.flatten() {
            return Ok(self.on_error(addon, why, false));
        }
        crate::failpoint!("before-detach-revoke");
        let credentials = attachment.every_credential().into_iter().filter(|_| own_logins);
        let done = match revoke(&*provider, addon, credentials, None) {
            Ok(done) => done,
            Err(err) => return Ok(self.on_error(addon, err, false)),
        };
        crate::failpoint!("after-detach-revoke");
        let message = match done.is_empty() {
            true => "nothing of its own to revoke".to_string(),
            false => done.join("; "),
        };
        Ok(Apply::Detached { slot: attachment.slot, message: format!("app {} detached: {message}", attachment.app) })
    }

    /// What a step does when the addon's provider was not handed out: a provider not
    /// configured (yet) is retried as a transient failure, one whose server could not
    /// say who it is as that failure; a config that leads elsewhere is retried with
    /// backoff and never ends the addon, so nothing is done until it leads back.
    fn unbound(&self, addon: &Addon, unbound: Unbound, provisioning: bool) -> Apply {
        match unbound {
            Unbound::NotBuilt(message) => self.on_error(addon, ProviderError::Transient(message), provisioning),
            Unbound::Unknown(err) => self.on_error(addon, err, provisioning),
            Unbound::Elsewhere(message) => self.on_error(addon, ProviderError::Permanent(message), false),
        }
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

/// One app's hold on the addon's resource: the addon's own app (slot 0) or an attached one.
struct Holder<'a> {
    slot: u32,
    app: &'a str,
    /// The prefix of the vars the app is handed.
    prefix: Option<&'a str>,
    /// What the app's login may do.
    access: Access,
}

/// Revokes `credentials` one by one, passing the crash point `after_each` (if any)
/// after each: what the provider said of each, or the first error.
fn revoke(
    provider: &dyn Provider,
    addon: &Addon,
    credentials: impl IntoIterator<Item = Credential>,
    after_each: Option<&str>,
) -> Result<Vec<String>, ProviderError> {
    let mut done = Vec::new();
    for credential in credentials {
        crate::provider_call!("revoke_credential", &addon.id);
        done.push(provider.revoke_credential(addon.resource(), credential)?);
        if let Some(_point) = after_each {
            crate::failpoint!(_point);
        }
    }
    Ok(done)
}

/// The first retry after a transient failure waits about this long; each failure doubles it.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// No retry waits longer than this.
const BACKOFF_CAP: Duration = Duration::from_secs(300);

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
        out.insert(crate::names::prefixed(prefix, &key), value);
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
