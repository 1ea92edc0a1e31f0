//! The copy step of an addon made with `provision --from`: a tick never copies data
//! itself. It asks the provider where the copy stands (on the server, so any host sees
//! it), starts a background copier (`addons __copy`, its own process group) when none
//! is at work, and lets `provision_complete` run once the copy is marked done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::base::Engine;
use super::step::fail;
use crate::addon::Addon;
use crate::providers::{CopyStatus, Provider, ProviderError};
use crate::store::{Apply, Store};

/// The start of the message of an addon whose copier was started: the next tick that
/// finds no copier at work and no copy done knows the copier died.
pub const COPYING: &str = "copying the data of ";
/// How a copier's last line starts when retrying will not help (the copy ends in error).
pub const PERMANENT: &str = "failed for good: ";
/// How soon a tick looks again at a copy in progress, at most: a copier started on this
/// host is looked at sooner while young (half its age, from 100 ms), so a quick copy
/// is not kept waiting for a whole second.
const COPY_POLL: Duration = Duration::from_secs(1);
const FIRST_POLL: Duration = Duration::from_millis(100);
/// How long a copier just started may take to show itself on the server.
const STARTUP_GRACE: Duration = Duration::from_secs(5);

impl Engine {
    /// The copy step of a provisioning addon with a source: `Ok(what the copier said)` once
    /// the copy is done (provisioning goes on), else `Err(what to commit)`: wait, start a
    /// copier, or fail.
    pub(super) fn copying(
        &self,
        store: &mut Store,
        provider: &dyn Provider,
        addon: &Addon,
        source_id: &str,
    ) -> anyhow::Result<Result<Option<String>, Apply>> {
        let source = store.find_addon(source_id)?;
        let source_name = source.as_ref().map_or(source_id, |source| source.name.as_str()).to_string();
        let (params, seed) = (Default::default(), Vec::new());
        let source_resource = match &source {
            Some(source) => source.resource(),
            None => crate::addon::Resource::new(source_id, &params, &seed),
        };
        crate::provider_call!("copy_status", &addon.id);
        let status = match provider.copier().and_then(|copier| copier.copy_status(addon.resource(), source_resource)) {
            Ok(status) => status,
            Err(err) => return Ok(Err(self.on_error(addon, err, true))),
        };
        let started = addon.message.starts_with(COPYING);
        match status {
            // The provider marks the copy done just before the copier writes what it
            // did: a log of this host's copier still empty and just made gets a moment
            // more, so the transition says what was copied.
            CopyStatus::Done if self.just_started(&addon.id) => {}
            CopyStatus::Done => {
                // What the copier said is kept in the transition's message; its log goes.
                let said = last_line(&self.copy_log(&addon.id));
                let _ = std::fs::remove_file(self.copy_log(&addon.id));
                return Ok(Ok(said));
            }
            CopyStatus::Running => self.count_copy(provider, addon, source_resource),
            CopyStatus::Stopped if started && self.just_started(&addon.id) => {}
            CopyStatus::Stopped => {
                if !source.as_ref().is_some_and(|source| source.state == crate::machine::State::Ready) {
                    return Ok(Err(fail(format!(
                        "the source addon {source_name} is no longer ready (deprovisioned?), so its data can't be copied"
                    ))));
                }
                if started {
                    // The copier ended with no copy done: a failure, retried with backoff.
                    let why = match last_line(&self.copy_log(&addon.id)) {
                        Some(line) if line.starts_with(PERMANENT) => {
                            let line = &line[PERMANENT.len()..];
                            return Ok(Err(fail(format!("the copy of the data of {source_name} failed: {line}"))));
                        }
                        Some(line) => format!("the copy of the data of {source_name} failed: {line}"),
                        None => format!("the copier of the data of {source_name} stopped before the copy was done"),
                    };
                    return Ok(Err(self.on_error(addon, ProviderError::Transient(why), true)));
                }
                if let Err(err) = self.start_copier(addon, source_id) {
                    let why = format!("can't start the copier: {err}");
                    return Ok(Err(self.on_error(addon, ProviderError::Transient(why), true)));
                }
                crate::failpoint!("after-copier-start");
            }
        }
        let due_at = self.now() + self.copy_poll(&addon.id).as_millis() as i64;
        if due_at > addon.deadline_at {
            return Ok(Err(fail(format!(
                "the copy of the data of {source_name} did not finish within the provision timeout ({}); \
                 raise engine.provision_timeout for large sources",
                humantime::format_duration(self.settings.engine.provision_timeout)
            ))));
        }
        let message = format!("{COPYING}{source_name}");
        Ok(Err(Apply::Retry { due_at, message, error: None }))
    }

    /// Notes how far the addon's running copy has come, for the tick's report. Only a
    /// display reads it, so a provider that can't tell is no failure.
    fn count_copy(&self, provider: &dyn Provider, addon: &Addon, source: crate::addon::Resource<'_>) {
        let counted = provider.copier().and_then(|copier| copier.copy_progress(addon.resource(), source));
        if let Ok(Some(progress)) = counted {
            self.copies.lock().unwrap_or_else(|e| e.into_inner()).push((addon.id.clone(), progress));
        }
    }

    /// Starts `addons __copy` for the addon in its own process group, detached from this
    /// one: it outlives a tick that exits, and a signal to the tick's group spares it.
    fn start_copier(&self, addon: &Addon, source_id: &str) -> std::io::Result<()> {
        let mut args = vec!["__copy", addon.provider.as_str(), addon.id.as_str(), source_id];
        args.extend(addon.server.iter().flat_map(|server| ["--server", server.as_str()]));
        self.start_worker(&args, &self.copy_log(&addon.id), true)
    }

    /// Whether this host started the addon's copier so recently that it may not show yet:
    /// its log was made (at the start) less than `STARTUP_GRACE` ago and is still empty.
    fn just_started(&self, addon_id: &str) -> bool {
        let Ok(meta) = std::fs::metadata(self.copy_log(addon_id)) else { return false };
        let age = meta.modified().ok().and_then(|at| at.elapsed().ok()).unwrap_or(STARTUP_GRACE);
        meta.len() == 0 && age < STARTUP_GRACE
    }

    /// How long to wait before looking at the copy again.
    fn copy_poll(&self, addon_id: &str) -> Duration {
        let age = std::fs::metadata(self.copy_log(addon_id)).ok().and_then(|meta| meta.modified().ok());
        let age = age.and_then(|at| at.elapsed().ok()).unwrap_or(COPY_POLL * 2);
        (age / 2).clamp(FIRST_POLL, COPY_POLL)
    }

    /// Removes the log of a copier into a removed addon's resource (a failed copy's log
    /// stays until then, for `addons info` readers to find).
    pub(super) fn forget_copy(&self, addon: &Addon) {
        if addon.source_id.is_some() {
            let _ = std::fs::remove_file(self.copy_log(&addon.id));
        }
    }

    /// Where the copier of `addon_id` writes its errors: read by the tick that finds it died.
    fn copy_log(&self, addon_id: &str) -> PathBuf {
        self.env.data_dir.join("copies").join(format!("{addon_id}.log"))
    }
}

/// The last line of a copier's log, when it wrote one.
fn last_line(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().rev().find(|line| !line.trim().is_empty())?;
    Some(line.strip_prefix("error: ").unwrap_or(line).to_string())
}
