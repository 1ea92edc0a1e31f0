//! One handler per subcommand, and the context they share.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cli::Command;
use crate::config::Settings;
use crate::engine::Engine;
use crate::envfile::{self, Apps};
use crate::error::{failed, usage};
use crate::providers::Environment;
use crate::store::{StateLocation, Store};

mod apply;
mod attach;
mod backup;
mod backup_worker;
mod backups;
mod check;
mod completions;
mod config;
mod copy;
mod deprovision;
mod detach;
mod env;
mod graph;
mod hooks;
mod info;
mod label;
mod list;
mod log;
mod man;
mod progress;
mod providers;
mod provision;
mod restore;
mod rotate;
mod run;
mod state;
mod tick;
mod wait;
mod watch;
mod words;

/// What every command handler gets: resolved settings and the global flags.
#[derive(Clone)]
pub struct Ctx {
    pub settings: Settings,
    /// The providers' own settings, read from their `[providers.NAME]` tables.
    pub providers: crate::providers::Configs,
    /// Where the state is: `--state`, `ADDONS_STATE`, `[state] url`, or the default file.
    pub state: StateLocation,
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// Set by SIGINT/SIGTERM: finish the step in hand, then stop.
    pub stop: Arc<AtomicBool>,
    /// Set while the command waits for input that may never come (see [`reading_input`]).
    pub input: Arc<AtomicBool>,
    /// With `-v`, where the command's settings came from ([`Ctx::setting`]), held until
    /// it has something to say of its work: an idle cron tick prints nothing.
    pub settings_said: Arc<std::sync::Mutex<Vec<String>>>,
}

/// Runs `read`, which reads input that may block for good (an apply file that is a FIFO,
/// a value on stdin), with `input` set: SIGINT or SIGTERM then ends the process at once
/// (exit 128 + the signal), as nothing is in hand. A signal that came just before is an
/// error instead, so the read is not started.
pub fn reading_input<T>(stop: &AtomicBool, input: &AtomicBool, read: impl FnOnce() -> T) -> anyhow::Result<T> {
    input.store(true, Ordering::SeqCst);
    if stop.load(Ordering::SeqCst) {
        input.store(false, Ordering::SeqCst);
        return Err(crate::error::failed("interrupted before reading its input; nothing was changed"));
    }
    let value = read();
    input.store(false, Ordering::SeqCst);
    Ok(value)
}

impl Ctx {
    /// Opens (creating when missing) the state.
    pub fn store(&self) -> anyhow::Result<Store> {
        self.setting(format!("state {}", self.state.describe()));
        Store::open(self.state.clone())
    }

    /// Opens the state only if it exists (the file, or the schema on its server); a
    /// read-only command on a fresh machine must not make one.
    pub fn existing_store(&self) -> anyhow::Result<Option<Store>> {
        self.setting(format!("state {}", self.state.describe()));
        let store = Store::open_existing(self.state.clone())?;
        if store.is_none() {
            self.setting(format!("no state at {} yet", self.state.describe()));
        }
        Ok(store)
    }

    /// Opens the state for a command about an existing addon: with no state yet, no
    /// addon can exist, and `addon` is named in the refusal with where the state was
    /// looked for (a script that lost track of its state hears so).
    pub fn store_with_addons(&self, addon: &str) -> anyhow::Result<Store> {
        self.existing_store()?
            .ok_or_else(|| usage(format!("no addon named {}; {}", crate::names::shown(addon), self.no_state(None))))
    }

    /// Opens the state for a command that acts on the addons it picks (by selector, by
    /// app, or every due one): `None`, with nothing made, when there is no state yet.
    /// `nothing` says what there is then nothing to do (`nothing to deprovision`).
    pub fn store_to_act_on(&self, nothing: &str) -> anyhow::Result<Option<Store>> {
        let store = self.existing_store()?;
        if store.is_none() && !self.quiet {
            eprintln!("warning: {}", self.no_state(Some(nothing)));
        }
        Ok(store)
    }

    /// Opens (creating when missing) the state for a command that makes addons, saying
    /// so on stderr when it makes the state too: a script pointed at the wrong path sees
    /// a new state being made.
    pub fn store_to_make_addons(&self) -> anyhow::Result<Store> {
        match self.existing_store()? {
            Some(store) => Ok(store),
            None => self.new_store(),
        }
    }

    /// Makes the state that [`Ctx::existing_store`] found missing, saying so.
    pub fn new_store(&self) -> anyhow::Result<Store> {
        self.note(format!("note: no state at {} yet: making a new one", self.state.describe()));
        self.store()
    }

    /// The line for a state that is not there: `no state at PATH yet: WHAT (is this the
    /// state you meant?)`, `what` being what there is then nothing of.
    pub fn no_state(&self, what: Option<&str>) -> String {
        let what = what.map(|what| format!(": {what}")).unwrap_or_default();
        format!("no state at {} yet{what} (is this the state you meant?)", self.state.describe())
    }

    /// Runs `read`, which reads the command's input, as [`reading_input`] says.
    pub fn reading<T>(&self, read: impl FnOnce() -> T) -> anyhow::Result<T> {
        reading_input(&self.stop, &self.input, read)
    }

    /// The engine, with providers built from the settings.
    pub fn engine(&self) -> Engine {
        // Beside the state file; for a state on a server, where the default file would be.
        let default = crate::config::default_state_path();
        let file = self.state.file().unwrap_or(&default);
        let data_dir = file.parent().map_or_else(|| PathBuf::from("."), PathBuf::from);
        Engine::new(self.settings.clone(), self.providers.clone(), Environment { data_dir }, self.stop.clone())
            .on_state(self.state.as_setting())
    }

    /// Prints a JSON document on stdout.
    pub fn print_json(&self, value: &serde_json::Value) {
        println!("{}", serde_json::to_string_pretty(value).expect("JSON values serialise"));
    }

    /// A note for people on stderr, unless `-q` or `--json`.
    pub fn note(&self, message: impl AsRef<str>) {
        if !self.quiet && !self.json {
            eprintln!("{}", message.as_ref());
        }
    }

    /// A detail of the command's work on stderr, only with `-v`, after the settings
    /// lines held so far.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.verbose_line(format!("addons: {}", message.as_ref()));
    }

    /// A line of `-v` output as it is, after the settings lines held so far.
    pub fn verbose_line(&self, line: impl AsRef<str>) {
        if self.verbose {
            self.say_settings();
            eprintln!("{}", line.as_ref());
        }
    }

    /// With `-v`, the settings lines held so far: the command is about to say what it did.
    pub fn say_settings(&self) {
        let held = std::mem::take(&mut *self.settings_said.lock().unwrap_or_else(|poison| poison.into_inner()));
        for setting in held {
            eprintln!("addons: {setting}");
        }
    }

    /// Where a setting came from (the config file, the state), with `-v`: said before
    /// the first detail of work, and not at all by a command with none to say.
    pub fn setting(&self, line: impl Into<String>) {
        if self.verbose {
            self.settings_said.lock().unwrap_or_else(|poison| poison.into_inner()).push(line.into());
        }
    }
}

/// Runs the chosen command. What the store or the engine refused comes back worded for
/// the command line ([`words::for_people`]); `main` picks the exit code.
pub fn dispatch(command: Command, ctx: &Ctx) -> anyhow::Result<()> {
    let done = match command {
        Command::Provision(args) => provision::run(args, ctx),
        Command::Deprovision(args) => deprovision::run(args, ctx),
        Command::Attach(args) => attach::run(args, ctx),
        Command::Detach(args) => detach::run(args, ctx),
        Command::Apply(args) => apply::run(args, ctx),
        Command::Rotate(args) => rotate::run(args, ctx),
        Command::Check(args) => check::run(args, ctx),
        Command::List(args) => list::run(args, ctx),
        Command::Info(args) => info::run(args, ctx),
        Command::Label(args) => label::label(args, ctx),
        Command::Expire(args) => label::expire(args, ctx),
        Command::Log(args) => log::run(args, ctx),
        Command::Tick(args) => tick::run(args, ctx),
        Command::Watch(args) => watch::run(args, ctx),
        Command::Wait(args) => wait::run(args, ctx),
        Command::Env(args) => env::run(args, ctx),
        Command::Run(args) => run::run(args, ctx),
        Command::Config(args) => config::run(args, ctx),
        Command::Hooks(args) => hooks::run(args, ctx),
        Command::State(args) => state::run(args, ctx),
        Command::Providers(args) => providers::run(args, ctx),
        Command::Graph(args) => graph::run(args, ctx),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
        Command::Copy(args) => copy::run(args, ctx),
        Command::Backup(args) => backup::run(args, ctx),
        Command::Backups(args) => backups::run(args, ctx),
        Command::Restore(args) => restore::run(args, ctx),
        Command::BackupWorker(args) => backup_worker::run(args, ctx),
    };
    done.map_err(words::for_people)
}

/// Parses a `--timeout` value.
fn parse_timeout(text: Option<&str>) -> anyhow::Result<Option<std::time::Duration>> {
    text.map(|text| crate::expiry::parse_duration(text).map_err(|err| usage(format!("--timeout: {err}")))).transpose()
}

/// The number of parallel provider calls: `--jobs`, else the config file's.
fn jobs(flag: Option<u16>, ctx: &Ctx) -> usize {
    flag.map_or(ctx.settings.engine.jobs, usize::from)
}

/// Brings the env files of the apps a command changed up to date (the one door,
/// [`envfile::sync`], for these apps alone: other apps' files are the next tick's),
/// then runs their due `on_change` hooks. `done` says what the command committed; a
/// failure says that it stands and that the file or the hook did not follow (exit 1).
fn sync_env_files(ctx: &Ctx, engine: &Engine, store: &mut Store, apps: &[String], done: &str) -> anyhow::Result<()> {
    let mut problems = env_file_problems(ctx, store, apps)?;
    let hooks = engine.run_hooks(store, Apps::These(apps))?;
    report_hooks(ctx, &hooks, None);
    problems.extend(hooks.iter().filter(|hook| !hook.succeeded()).map(|hook| {
        format!(
            "the on_change hook of app {} failed ({}); 'addons hooks {}' shows its output",
            hook.app,
            hook.ending.describe(ctx.settings.engine.hook_timeout),
            hook.app
        )
    }));
    unfollowed(done, problems)
}

/// After a `--wait`: the env files of `apps` up to date, as [`sync_env_files`] has them.
/// Their hooks are not run again: the wait's ticks ran each one due and said how it went.
fn env_files_after_wait(ctx: &Ctx, store: &mut Store, apps: &[String], done: &str) -> anyhow::Result<()> {
    let problems = env_file_problems(ctx, store, apps)?;
    unfollowed(done, problems)
}

/// Writes the env files of `apps` that are behind: what failed, one line each.
fn env_file_problems(ctx: &Ctx, store: &mut Store, apps: &[String]) -> anyhow::Result<Vec<String>> {
    let failures = envfile::sync(store, &ctx.settings, Apps::These(apps), &ctx.stop)?;
    Ok(failures
        .iter()
        .map(|failure| match apps {
            [_] => format!("its env file {} could not be written: {}", failure.path.display(), failure.why),
            _ => format!(
                "the env file {} of app {} could not be written: {}",
                failure.path.display(),
                failure.app,
                failure.why
            ),
        })
        .collect())
}

/// `done` stands, and `problems` did not follow it: exit 1 saying so.
fn unfollowed(done: &str, problems: Vec<String>) -> anyhow::Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(failed(format!("{done}, but {}; the next tick retries", problems.join("; "))))
}

/// Says on stderr what hooks did: with `failures`, a hook's first failure for a change
/// (each one with `-v`) as an `error:` line, or a `warning:` one for a command whose exit
/// status says something else; a success only with `-v`. Whether it said a failure.
fn report_hooks(ctx: &Ctx, hooks: &[crate::engine::HookReport], failures: Option<&str>) -> bool {
    let mut said = false;
    for hook in hooks {
        if hook.succeeded() {
            ctx.debug(format!("app {}: {}", hook.app, hook.summary));
        } else if let Some(level) = failures.filter(|_| hook.attempts_before == 0 || ctx.verbose) {
            eprintln!(
                "{level}: app {}: {}; retried with backoff ('addons hooks {}' shows its output)",
                hook.app, hook.summary, hook.app
            );
            said = true;
        }
    }
    said
}

/// Checks an app name and says it has nothing when the state doesn't know it.
fn known_app(store: Option<&Store>, app: &str) -> anyhow::Result<bool> {
    if let Err(err) = crate::names::check_app(app) {
        return Err(usage(format!("{err}{}", app_suggestion(store, app)?)));
    }
    match store {
        Some(store) => store.app_exists(app),
        None => Ok(false),
    }
}

/// Says `note: new app APP (did you mean KNOWN?)` when `app` is new to the state and
/// within two edits of an app it knows: the work goes on, but a typo is seen at once.
fn note_new_app(ctx: &Ctx, store: &Store, app: &str) -> anyhow::Result<()> {
    if store.app_exists(app)? {
        return Ok(());
    }
    let known = store.app_names()?;
    if let Some(near) = crate::names::near_app(app, known.iter().map(String::as_str)) {
        ctx.note(format!("note: new app {app} (did you mean {near}?)"));
    }
    Ok(())
}

/// `" (did you mean APP?)"` when a known app's name is near `app`, else nothing.
fn app_suggestion(store: Option<&Store>, app: &str) -> anyhow::Result<String> {
    let apps = store.map(Store::app_names).transpose()?.unwrap_or_default();
    Ok(crate::names::did_you_mean(app, apps.iter().map(String::as_str)))
}
