//! The command line, as clap types only: one `Args` struct per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use clap_complete::ArgValueCompleter;

use crate::{complete, help};

/// The heading the flags that every command takes are shown under.
const GLOBAL: &str = "Global options";

/// Provision backing resources for apps and hand them over as config vars.
#[derive(Debug, Parser)]
#[command(
    name = "addons",
    version,
    about,
    propagate_version = true,
    max_term_width = 100,
    after_help = help::tail(&help::TOP)
)]
pub struct Cli {
    /// The state: a file, or a postgres:// URL that many hosts share [default:
    /// $XDG_DATA_HOME/addons/state.db]
    #[arg(long, global = true, env = "ADDONS_STATE", value_name = "PATH|URL", value_hint = ValueHint::FilePath, help_heading = GLOBAL)]
    pub state: Option<PathBuf>,
    /// The config file [default: $XDG_CONFIG_HOME/addons/config.toml]
    #[arg(long, global = true, env = "ADDONS_CONFIG", value_name = "PATH", value_hint = ValueHint::FilePath, help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// Print one JSON document on stdout instead of tables
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Print only what was asked for (no progress, no notes)
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub quiet: bool,
    /// Print more about what is going on, on stderr
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an addon for an app and start provisioning it
    #[command(after_help = help::tail(&help::PROVISION))]
    Provision(ProvisionArgs),
    /// Remove addons: their config vars go at once, their resources on the next tick
    #[command(after_help = help::tail(&help::DEPROVISION))]
    Deprovision(DeprovisionArgs),
    /// Give another app an addon's vars, with a login of its own where there can be one
    #[command(after_help = help::tail(&help::ATTACH))]
    Attach(AttachArgs),
    /// Take an attached app's vars away; its login is revoked on the next tick
    #[command(after_help = help::tail(&help::DETACH))]
    Detach(DetachArgs),
    /// Make the live addons match an apply file (a desired state)
    #[command(after_help = help::tail(&help::APPLY))]
    Apply(ApplyArgs),
    /// Give ready addons new credentials; the old ones are revoked after a grace
    #[command(after_help = help::tail(&help::ROTATE))]
    Rotate(RotateArgs),
    /// Compare ready addons' resources with what was made, and repair what differs
    #[command(after_help = help::tail(&help::CHECK))]
    Check(CheckArgs),
    /// List addons (live ones unless --all)
    #[command(after_help = help::tail(&help::LIST))]
    List(ListArgs),
    /// Show one addon
    #[command(after_help = help::tail(&help::INFO))]
    Info(InfoArgs),
    /// Set or remove labels of an addon: KEY=VALUE sets, KEY- removes
    #[command(after_help = help::tail(&help::LABEL))]
    Label(LabelArgs),
    /// Set when an addon expires (tick and watch then deprovision it), or never
    #[command(after_help = help::tail(&help::EXPIRE))]
    Expire(ExpireArgs),
    /// Show every transition of an addon, with its time and message
    #[command(after_help = help::tail(&help::LOG))]
    Log(LogArgs),
    /// Advance every due addon one step (safe to run from cron)
    #[command(after_help = help::tail(&help::TICK))]
    Tick(TickArgs),
    /// Tick as work comes due until no addon has work left
    #[command(after_help = help::tail(&help::WATCH))]
    Watch(WatchArgs),
    /// Tick the named addons until each has settled
    #[command(after_help = help::tail(&help::WAIT))]
    Wait(WaitArgs),
    /// Print an app's config vars for a shell, a dotenv file or a script
    #[command(after_help = help::tail(&help::ENV))]
    Env(EnvArgs),
    /// Run a command with an app's config vars in its environment
    #[command(after_help = help::tail(&help::RUN))]
    Run(RunArgs),
    /// Show, set or unset an app's config vars
    #[command(after_help = help::tail(&help::CONFIG))]
    Config(ConfigArgs),
    /// Show an app's on_change hook: whether a run is due, and its recent runs
    #[command(after_help = help::tail(&help::HOOKS))]
    Hooks(HooksArgs),
    /// Work on the state as a whole: copy it to another file or server
    #[command(after_help = help::tail(&help::STATE))]
    State(StateArgs),
    /// List the providers, whether each is configured, and whether its server answers
    #[command(after_help = help::tail(&help::PROVIDERS))]
    Providers(ProvidersArgs),
    /// Print the lifecycle state machine
    #[command(after_help = help::tail(&help::GRAPH))]
    Graph(GraphArgs),
    /// Print a shell completion script
    #[command(after_help = help::tail(&help::COMPLETIONS))]
    Completions(CompletionsArgs),
    /// Show the manual page of addons or of one of its commands (roff when piped)
    #[command(after_help = help::tail(&help::MAN))]
    Man(ManArgs),
    /// Back an addon's data up into a file, in the background
    #[command(after_help = help::tail(&help::BACKUP))]
    Backup(BackupArgs),
    /// List the backups of an addon, or of every addon
    #[command(after_help = help::tail(&help::BACKUPS))]
    Backups(BackupsArgs),
    /// Replace an addon's data with a backup's, keeping its credentials and vars
    #[command(after_help = help::tail(&help::RESTORE))]
    Restore(RestoreArgs),
    /// The background worker of a backup or restore (not for people)
    #[command(name = "__backup", hide = true)]
    BackupWorker(BackupWorkerArgs),
    /// The background copier a tick starts for `provision --from` (not for people)
    #[command(name = "__copy", hide = true)]
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The provider ('addons providers' shows what each makes)
    #[arg(value_parser = help::provider_names())]
    pub provider: String,
    /// The app that gets the addon's config vars (a new name creates the app)
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: String,
    /// Prefix the addon's config vars: --as primary gives PRIMARY_DATABASE_URL
    #[arg(long = "as", value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// The addon's name [default: generated, e.g. brave-river-4f2a1c]
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long = "param", value_name = "KEY=VALUE", help = help::param_help())]
    pub params: Vec<String>,
    /// Label the addon (repeatable), e.g. --label branch=feature-x
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Deprovision the addon this long from now (on a tick or watch), e.g. 7d, 12h
    #[arg(long, value_name = "DUR", conflicts_with = "expires_at")]
    pub expires_in: Option<String>,
    /// Deprovision the addon at this time (RFC 3339), e.g. 2026-12-01T18:00:00Z
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Make it a copy of this ready addon's data (same provider), e.g. --from main-db
    #[arg(long, value_name = "ADDON", add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub from: Option<String>,
    /// Make it from this backup's data (same provider; 'addons backups' lists them)
    #[arg(long, value_name = "BACKUP", conflicts_with = "from")]
    pub from_backup: Option<String>,
    /// Make it on this server of the provider's (default: the one its url names)
    #[arg(long, value_name = "SERVER")]
    pub server: Option<String>,
    /// Create it only if no live addon has --name; the same one there is success (exit 0)
    #[arg(long, requires = "name")]
    pub ensure: bool,
    /// Tick until the addon is ready
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit, but an
    /// addon not ready within engine.provision_timeout (30m) ends in error]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

/// `addons __copy`: what a tick passes to the background copier it starts.
#[derive(Debug, Args)]
pub struct CopyArgs {
    pub provider: String,
    /// The id of the addon being made.
    pub addon: String,
    /// The id of the addon whose data is copied.
    pub source: String,
    /// Where providers keep files (the engine's data directory).
    #[arg(long)]
    pub data_dir: std::path::PathBuf,
    /// The server the addon was made on ("NAME IDENTITY"): the copy is made there alone.
    #[arg(long)]
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Addon name or id
    #[arg(add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addon: String,
    /// Return once the backup is made (else it is made in the background)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// Addon name or id [default: every addon's backups]
    #[arg(add = ArgValueCompleter::new(complete::any_addons::<Cli>))]
    pub addon: Option<String>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Addon name or id: its data is replaced
    #[arg(add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addon: String,
    /// The backup's id ('addons backups' lists them)
    pub backup: String,
    /// The addon's name again: its data is replaced, and this says so was meant
    #[arg(long, value_name = "ADDON", required = true)]
    pub confirm: String,
    /// Return once the data is restored (else it is restored in the background)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

/// `addons __backup`: what starts a backup's or restore's background worker.
#[derive(Debug, Args)]
pub struct BackupWorkerArgs {
    /// The id of the backup or restore.
    pub id: String,
    /// Where providers keep files (the engine's data directory).
    #[arg(long)]
    pub data_dir: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct DeprovisionArgs {
    /// Addon names or ids
    #[arg(required_unless_present_any = ["selector", "app"], add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addons: Vec<String>,
    /// Every live addon whose labels match, e.g. branch=feature-x,ci (also k!=v, k, !k)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Every live addon of this app; the app is also detached from other apps' addons
    #[arg(long, value_name = "APP", add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: Option<String>,
    /// Treat an addon that does not exist as already removed (exit 0), for scripts
    #[arg(long)]
    pub missing_ok: bool,
    /// Tick until each resource is removed
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The addon's name or id
    #[arg(add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addon: String,
    /// The app that gets the addon's config vars too (a new name creates the app)
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: String,
    /// Prefix the vars on that app: --as shared gives SHARED_DATABASE_URL
    #[arg(long = "as", value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// Give the app a login that reads everything and changes nothing (postgres, mysql,
    /// redis; sqlite: a URL that asks the client to only read)
    #[arg(long)]
    pub read_only: bool,
    /// Tick until the app's vars are set
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct DetachArgs {
    /// The addon's name or id
    #[arg(add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addon: String,
    /// The attached app that loses the addon's vars
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: String,
    /// Tick until the app's login is revoked
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Addon names or ids
    #[arg(required_unless_present = "selector", add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addons: Vec<String>,
    /// Every live addon whose labels match, e.g. team=payments (skips those with nothing to rotate)
    #[arg(short = 'l', long, value_name = "SELECTOR", conflicts_with = "addons")]
    pub selector: Option<String>,
    /// How long the old credentials keep working, e.g. 10m, 1h; 0 revokes them at once
    #[arg(long, value_name = "DUR", default_value = "1h")]
    pub grace: String,
    /// Rotate only the login of this attached app ('addons attach'), not the addon's own
    #[arg(long, value_name = "APP", add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: Option<String>,
    /// Tick until the app's vars hold the new credentials (and, with --grace 0, the old are revoked)
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out) [default: no limit]
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Addon names or ids
    #[arg(required_unless_present = "all", conflicts_with = "all", add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addons: Vec<String>,
    /// Every ready addon
    #[arg(long)]
    pub all: bool,
    /// Recreate a lost database or file, empty (its data is gone either way)
    #[arg(long)]
    pub repair_data: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this app's addons
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: Option<String>,
    /// Include deprovisioned addons and addons in error
    #[arg(long)]
    pub all: bool,
    /// Only addons whose labels match, e.g. branch=feature-x,ci (also k!=v, k, !k)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Only live addons whose expiry has passed (a tick or watch will deprovision them)
    #[arg(long, conflicts_with = "all")]
    pub expired: bool,
    /// wide: add the LABELS and EXPIRES columns, and never cut MESSAGE to the terminal's width
    #[arg(short = 'o', long, value_enum, value_name = "FORMAT")]
    pub output: Option<ListFormat>,
}

/// What `list -o` adds to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// the LABELS and EXPIRES columns too, and MESSAGE in full on a terminal
    Wide,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The apply file (TOML: a scope, then [[addon]] tables)
    #[arg(short = 'f', long = "file", value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub file: PathBuf,
    /// Print the plan and stop
    #[arg(long)]
    pub dry_run: bool,
    /// Remove live addons of the file's scope that it no longer lists
    #[arg(long)]
    pub prune: bool,
    /// Deprovision and make anew an addon that can't change in place (other provider, app, prefix, params)
    #[arg(long)]
    pub replace: bool,
    /// Take addons of the file's names that were made outside any apply file into its scope
    /// (a later --prune may then remove them); without it they are conflicts
    #[arg(long)]
    pub adopt: bool,
    /// Tick the file's addons until each has settled
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out)
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// Addon name or id
    #[arg(add = ArgValueCompleter::new(complete::any_addons::<Cli>))]
    pub addon: String,
    /// KEY=VALUE to set a label, KEY- to remove one
    #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
    pub edits: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExpireArgs {
    /// Addon name or id
    #[arg(add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addon: String,
    /// A duration from now (7d, 12h), a time (RFC 3339), or never
    #[arg(value_name = "DUR|TIME|never")]
    pub when: String,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Addon name or id
    #[arg(add = ArgValueCompleter::new(complete::any_addons::<Cli>))]
    pub addon: String,
    /// Show config var values unmasked
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Addon name or id
    #[arg(add = ArgValueCompleter::new(complete::any_addons::<Cli>))]
    pub addon: String,
}

#[derive(Debug, Args)]
pub struct HooksArgs {
    /// The app whose hook runs to show
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: String,
}

#[derive(Debug, Args)]
pub struct TickArgs {
    /// Run up to N provider calls at once [default: engine.jobs, 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Run up to N provider calls at once [default: engine.jobs, 4]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,
    /// Keep going when no work is left, until SIGINT or SIGTERM
    #[arg(long)]
    pub forever: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Addon names or ids
    #[arg(required_unless_present = "selector", add = ArgValueCompleter::new(complete::live_addons::<Cli>))]
    pub addons: Vec<String>,
    /// Every live addon whose labels match, e.g. branch=feature-x
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Give up after this long (exit 3), e.g. 30s, 5m [default: no limit]
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    /// The app whose config vars to print
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: String,
    /// How to print them [default: shell; json with --json]
    #[arg(long, value_enum)]
    pub format: Option<EnvFormat>,
    #[command(flatten)]
    pub ready: ReadyArgs,
}

/// `--wait` and `--timeout` of `env` and `run`: an app's vars are whole only once its
/// addons are ready.
#[derive(Debug, Args)]
pub struct ReadyArgs {
    /// Tick the app's addons that are not ready yet until they are
    #[arg(long)]
    pub wait: bool,
    /// How long --wait waits, e.g. 30s, 5m
    #[arg(long, value_name = "DUR", requires = "wait")]
    pub timeout: Option<String>,
}

/// How `env` prints the vars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvFormat {
    /// export KEY='value' lines, for eval
    Shell,
    /// KEY=value lines
    Dotenv,
    /// one JSON object
    Json,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The app whose config vars the command gets in its environment
    #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: String,
    #[command(flatten)]
    pub ready: ReadyArgs,
    /// The command and its arguments, after --
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: Option<ConfigAction>,
    /// The app whose vars to show
    #[arg(required = true, add = ArgValueCompleter::new(complete::apps::<Cli>))]
    pub app: Option<String>,
    /// Show values unmasked
    #[arg(long)]
    pub reveal: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Set config vars by hand: KEY=VALUE...
    #[command(after_help = help::tail(&help::CONFIG_SET))]
    Set {
        /// The app to set the vars on
        #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
        app: String,
        /// KEY=VALUE, or KEY or KEY=- for the one value read from stdin (kept out of `ps`)
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Unset config vars set by hand: KEY...
    #[command(after_help = help::tail(&help::CONFIG_UNSET))]
    Unset {
        /// The app to unset the vars on
        #[arg(add = ArgValueCompleter::new(complete::apps::<Cli>))]
        app: String,
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub action: StateAction,
}

#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Copy every addon, event, app and config var of the state into an empty one
    #[command(after_help = help::tail(&help::STATE_COPY))]
    Copy(StateCopyArgs),
}

#[derive(Debug, Args)]
pub struct StateCopyArgs {
    /// The target: a file, or a postgres:// URL (with ?schema=NAME); made when missing,
    /// and it must be empty
    #[arg(long, value_name = "PATH|URL", value_hint = ValueHint::FilePath)]
    pub to: PathBuf,
    /// A backup: this state goes on acting and the copy is a read-only snapshot of it
    /// (without it, a move: the copy acts and this state refuses every change)
    #[arg(long)]
    pub keep_source: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProvidersArgs {
    /// Exit 1 when a configured provider's server does not answer (a health check)
    #[arg(long)]
    pub check: bool,
    #[command(subcommand)]
    pub action: Option<ProvidersAction>,
}

#[derive(Debug, Subcommand)]
pub enum ProvidersAction {
    /// Check a server, then write its section into the config file
    #[command(after_help = help::tail(&help::PROVIDERS_ADD))]
    Add(ProvidersAddArgs),
}

#[derive(Debug, Args)]
pub struct ProvidersAddArgs {
    /// The server provider (postgres, mysql, redis)
    pub provider: String,
    /// The admin URL; without one, the server found on this machine (as `addons providers` shows it)
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// How to draw it
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// How `graph` draws the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print, e.g. provision, or config set [default: addons itself]
    pub command: Vec<String>,
}
