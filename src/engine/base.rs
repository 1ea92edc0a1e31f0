//! The engine itself: the settings, the providers built from them (once per process),
//! this process's claim token and the state's clock. Every service of the engine (a
//! tick's steps, checks, copies, hooks, provisioning) works through it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::claim::claim_token;
use crate::clock::Clock;
use crate::config::Settings;
use crate::providers::{self, CopyProgress, Environment, Provider};
use crate::store::Store;

/// Runs steps. One per process: it holds the claim token and the built providers.
pub struct Engine {
    pub(super) settings: Settings,
    pub(super) configs: providers::Configs,
    pub(super) env: Environment,
    pub(super) token: String,
    pub(super) providers: Mutex<HashMap<String, Arc<dyn Provider>>>,
    /// Set by SIGINT/SIGTERM: no new step starts once it is.
    pub(super) stop: Arc<AtomicBool>,
    /// The workers' connections, kept from one tick of a `watch`/`wait` to the next:
    /// a new one costs a login on PostgreSQL, which would delay every wake-up.
    pub(super) spare: Mutex<Vec<Store>>,
    /// The state's clock, read as a tick (or `provision`'s first step) begins: every
    /// time a step works out to be written (a retry's due time) comes from it, so a
    /// host whose clock is off writes no time of its own into a shared state.
    pub(super) clock: Mutex<Clock>,
    /// How far the copies this process looked at have come since the last tick report:
    /// the addon's id and what its provider counted.
    pub(super) copies: Mutex<Vec<(String, CopyProgress)>>,
    /// Each provider's server ("default IDENTITY"), asked once per process.
    pub(super) identities: Mutex<HashMap<String, Option<String>>>,
    /// The state's location, handed to the background workers it starts.
    pub(super) state: Option<String>,
}

impl Engine {
    /// Starts a detached worker of this binary (`addons ARGS --data-dir DIR`, with this
    /// process's config and state), its stderr into `log` (made 0600 in a 0700 folder;
    /// emptied first when `fresh`, else added to), in a process group of its own so a
    /// signal to this process does not reach it. It is reaped when it ends, so a long
    /// `watch` leaves no zombie behind.
    pub(super) fn start_worker(&self, args: &[&str], log: &Path, fresh: bool) -> std::io::Result<()> {
        if let Some(dir) = log.parent() {
            std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(dir)?;
        }
        let mut open = std::fs::OpenOptions::new();
        match fresh {
            true => open.create(true).write(true).truncate(true),
            false => open.create(true).append(true),
        };
        let log = std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600).open(log)?;
        // A binary replaced since this process started is no longer at its path: the
        // one on PATH is then the new one.
        let exe = std::env::current_exe().ok().filter(|exe| exe.exists());
        let mut command = Command::new(exe.unwrap_or_else(|| PathBuf::from("addons")));
        if self.settings.path.exists() {
            command.arg("--config").arg(&self.settings.path);
        }
        command
            .args(args)
            .arg("--data-dir")
            .arg(&self.env.data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // The worker reads the addon from this state: its seed and params are nowhere else.
        if let Some(state) = &self.state {
            command.env("ADDONS_STATE", state);
        }
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn()?;
        std::thread::spawn(move || child.wait());
        Ok(())
    }
}

impl Engine {
    pub fn new(settings: Settings, configs: providers::Configs, env: Environment, stop: Arc<AtomicBool>) -> Engine {
        Engine {
            settings,
            configs,
            env,
            token: claim_token(),
            providers: Mutex::new(HashMap::new()),
            stop,
            spare: Mutex::new(Vec::new()),
            clock: Mutex::new(Clock::host()),
            copies: Mutex::new(Vec::new()),
            identities: Mutex::new(HashMap::new()),
            state: None,
        }
    }

    /// The engine of the state at `location` (as `ADDONS_STATE` takes it): the
    /// background workers it starts (backups) open that state.
    pub fn on_state(mut self, location: String) -> Engine {
        self.state = Some(location);
        self
    }

    pub(super) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Reads the state's clock, for what follows to work out times from.
    pub(super) fn read_clock(&self, store: &Store) -> anyhow::Result<Clock> {
        let clock = store.clock()?;
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) = clock;
        Ok(clock)
    }

    /// Now on the state's clock, as last read (ms since the epoch).
    pub(super) fn now(&self) -> i64 {
        self.clock.lock().unwrap_or_else(|e| e.into_inner()).now_ms()
    }

    /// This process's claim token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The providers' settings, as the config file (or this machine) gave them.
    pub fn configs(&self) -> &providers::Configs {
        &self.configs
    }

    /// The settings the engine runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A built provider, made once per process.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>, String> {
        let mut built = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(provider) = built.get(name) {
            return Ok(provider.clone());
        }
        let provider: Arc<dyn Provider> = providers::build(name, &self.configs, &self.env)?.into();
        built.insert(name.to_string(), provider.clone());
        Ok(provider)
    }

    /// A built provider on its server named `server` (`default`: [`provider`](Self::provider)),
    /// made once per process.
    pub fn provider_on(&self, name: &str, server: &str) -> Result<Arc<dyn Provider>, String> {
        if server == providers::DEFAULT_SERVER {
            return self.provider(name);
        }
        let key = format!("{name} {server}");
        let mut built = self.providers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(provider) = built.get(&key) {
            return Ok(provider.clone());
        }
        let provider: Arc<dyn Provider> = providers::build_on(name, server, &self.configs, &self.env)?.into();
        built.insert(key, provider.clone());
        Ok(provider)
    }

    /// Puts a provider in place of the one the settings would build: for embedding
    /// `addons`, and for tests that wrap a real provider to inject a failure.
    pub fn use_provider(&self, name: &str, provider: Arc<dyn Provider>) {
        self.providers.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), provider);
    }

    /// How long a claim lasts (on the state's clock) before another tick may take the step over.
    pub fn lease(&self) -> Duration {
        self.settings.engine.claim_timeout
    }
}
