//! The help text that clap can't derive from the types: each command's examples and
//! exit statuses (shown after its options, and as sections of its manual page), the
//! provider names and the `--param` list, read from the provider registry.

use clap::builder::{PossibleValuesParser, StyledStr};

use crate::providers;

/// A block shown after a command's options: a heading, then rows of a command (or an
/// exit status) and what it does.
pub struct Section {
    pub heading: &'static str,
    pub rows: &'static [(&'static str, &'static str)],
    /// Put before each row's description: "# " for examples, so they paste into a shell.
    pub marker: &'static str,
}

const fn examples(rows: &'static [(&'static str, &'static str)]) -> Section {
    Section { heading: "Examples", rows, marker: "# " }
}

/// The width `--help` is wrapped at (cli.rs's `max_term_width`): a longer row would wrap.
#[cfg(test)]
const WIDTH: usize = 100;

const fn exit_status(rows: &'static [(&'static str, &'static str)]) -> Section {
    Section { heading: "Exit status", rows, marker: "" }
}

/// The exit statuses of a command that ticks addons until they settle.
const SETTLING: &[(&str, &str)] = &[
    ("0", "every addon settled: ready, or deprovisioned with its cleanup done"),
    ("1", "an addon ended in error, or a signal stopped the wait"),
    ("2", "bad usage or invalid input (nothing was changed)"),
    ("3", "--timeout passed first; 'addons wait' picks up where this left off"),
];

pub const TOP: [Section; 2] = [
    examples(&[
        ("addons provision sqlite myapp --wait", "a SQLite database for app myapp, ready on return"),
        ("eval \"$(addons env myapp)\"", "its DATABASE_URL in this shell"),
        ("addons tick", "from cron: every due addon advances one step"),
    ]),
    exit_status(&[
        ("0", "success"),
        ("1", "an operation failed: an addon ended in error, a provider refused, a conflict"),
        ("2", "bad usage or invalid input (nothing was changed)"),
        ("3", "timed out (wait, --wait --timeout)"),
        ("4", "the state file can't be used: locked, damaged, newer schema, unwritable"),
    ]),
];

pub const PROVISION: [Section; 2] = [
    examples(&[
        ("addons provision secret myapp --name myapp-key", "prints its name; tick finishes it"),
        ("addons provision sqlite myapp --name myapp-db --wait", "returns once it is ready"),
        ("addons provision sqlite myapp --as cache --wait --timeout 1m", "CACHE_DATABASE_URL"),
        ("addons provision secret myapp --as signing --param length=64", "SIGNING_SECRET_KEY, 64 chars"),
        ("addons provision sqlite pr-1 --label branch=x --expires-in 7d", "labelled, gone in a week"),
        ("addons provision sqlite ci --name ci-db --ensure", "create it, or reuse it"),
        ("addons provision sqlite pr-2 --from myapp-db --wait", "a copy of myapp-db's data"),
    ]),
    exit_status(&[
        ("0", "provisioning began; with --wait, the addon is ready"),
        ("1", "a provider refused, a conflict, or the addon ended in error"),
        ("2", "bad usage or invalid input (nothing was changed)"),
        ("3", "--timeout passed first; 'addons wait NAME' picks up where this left off"),
    ]),
];

pub const DEPROVISION: [Section; 2] = [
    examples(&[
        ("addons deprovision myapp-db", "its vars go now, its database on the next tick"),
        ("addons deprovision myapp-key --wait --timeout 5m", "returns once the cleanup is done"),
        ("addons deprovision --selector branch=feature-x", "every live addon with that label"),
        ("addons deprovision --app myapp", "every live addon of app myapp"),
    ]),
    exit_status(SETTLING),
];

pub const ATTACH: [Section; 2] = [
    examples(&[
        ("addons attach myapp-key worker --wait", "app worker gets SECRET_KEY, the same value"),
        ("addons attach myapp-db reports --as shared", "SHARED_DATABASE_URL on app reports"),
        ("addons attach myapp-db analytics --read-only", "app analytics may read it and change nothing"),
    ]),
    exit_status(&[
        ("0", "attaching began; with --wait, the app's vars are set"),
        ("1", "a var is taken (nothing was changed), the server does not answer, or the addon is gone"),
        ("2", "bad usage: an unknown addon, its own app, an app attached already, or no read-only logins"),
        ("3", "--timeout passed first; 'addons wait NAME' picks up where this left off"),
    ]),
];

pub const DETACH: [Section; 2] = [
    examples(&[
        ("addons detach myapp-key worker", "its vars go now, its login on the next tick"),
        ("addons detach myapp-db reports --wait", "returns once its login is revoked"),
    ]),
    exit_status(&[
        ("0", "the vars are gone (with --wait: and the login is revoked)"),
        ("2", "bad usage: an unknown addon, its own app, or an app not attached (nothing changed)"),
        ("3", "--timeout passed first; 'addons wait NAME' picks up where this left off"),
    ]),
];

pub const ROTATE: [Section; 2] = [
    examples(&[
        ("addons rotate myapp-key --wait", "a new key in the vars; a secret has no grace"),
        ("addons rotate myapp-key --grace 10m", "old logins of a server addon go in 10 minutes"),
        ("addons rotate -l team=payments", "every live addon so labelled that has a login"),
    ]),
    exit_status(&[
        ("0", "rotation asked (with --wait: the vars hold the new credentials)"),
        ("1", "an addon is not ready or has nothing to rotate (nothing was changed);"),
        ("", "with --wait: a rotation the provider refused for good (ticks retry it)"),
        ("2", "bad usage or invalid input (nothing was changed)"),
        ("3", "--timeout passed first; 'addons wait' picks up where this left off"),
    ]),
];

pub const CHECK: [Section; 2] = [
    examples(&[
        ("addons check --all", "a table of every ready addon: ok, repaired or drift"),
        ("addons check myapp-db --repair-data", "also recreates a lost database file, empty"),
    ]),
    exit_status(&[
        ("0", "nothing differs, or all that did was repaired"),
        ("1", "drift remains (data lost), a server could not be asked, or an addon was busy"),
        ("2", "bad usage or invalid input (nothing was changed)"),
    ]),
];

pub const BACKUP: [Section; 2] = [
    examples(&[
        ("addons backup myapp-db --wait", "returns once the backup file is whole and recorded"),
        ("addons backup myapp-db", "prints the backup's id; a worker makes it in the background"),
    ]),
    exit_status(&[
        ("0", "the backup began; with --wait, it is made"),
        ("1", "the addon is not ready, a backup of it is under way, or (--wait) the backup failed"),
        ("2", "bad usage: an unknown addon, or one whose provider has no backups (a secret)"),
        ("3", "--timeout passed first; the backup goes on in the background"),
    ]),
];

pub const BACKUPS: [Section; 1] = [examples(&[
    ("addons backups", "every addon's backups: id, time, size, checksum"),
    ("addons backups myapp-db --json", "myapp-db's, as JSON"),
])];

pub const RESTORE: [Section; 2] = [
    examples(&[(
        "addons restore myapp-db \"$(addons backup myapp-db --wait)\" --confirm myapp-db --wait",
        "as it was",
    )]),
    exit_status(&[
        ("0", "the restore began; with --wait, the data is the backup's"),
        ("1", "the backup's file was changed or damaged (its checksum differs), a restore or backup is"),
        ("", "under way, or (--wait) the restore failed and the old data is in place"),
        ("2", "bad usage: an unknown addon or backup, or --confirm does not name the addon"),
        ("3", "--timeout passed first; the restore goes on in the background"),
    ]),
];

pub const LIST: [Section; 1] = [examples(&[
    ("addons list", "the live addons of every app"),
    ("addons list myapp --all", "myapp's addons, deprovisioned ones too"),
    ("addons list --json", "an array of addons, for scripts"),
    ("addons list -o wide --selector 'branch!=main'", "with labels and expiry, selected by label"),
    ("addons list --expired", "live addons past their expiry"),
])];

pub const INFO: [Section; 1] = [examples(&[
    ("addons info myapp-key", "its state, vars (masked) and last message"),
    ("addons info myapp-key --reveal --json", "with the values, as JSON"),
])];

pub const APPLY: [Section; 2] = [
    examples(&[
        ("addons apply -f addons.toml --dry-run", "print the plan only"),
        ("addons apply -f addons.toml --prune --wait", "create, update, remove; wait for them"),
        ("addons apply -f addons.toml --adopt", "also take over addons of its names made by hand"),
    ]),
    exit_status(&[
        ("0", "the live addons match the file (with --wait: and have settled)"),
        ("1", "a conflict (nothing changed), or an addon ended in error"),
        ("2", "bad usage, or a bad file (its line and key named; nothing changed)"),
        ("3", "--timeout passed first"),
    ]),
];

pub const LABEL: [Section; 1] = [examples(&[
    ("addons label myapp-db branch=feature-x team=web", "set two labels"),
    ("addons label myapp-db team-", "remove one"),
])];

pub const EXPIRE: [Section; 1] = [examples(&[
    ("addons expire myapp-db 7d", "a tick or watch deprovisions it in a week"),
    ("addons expire myapp-db 12h", "half a day from now; a time works too (RFC 3339)"),
    ("addons expire myapp-db never", "keep it"),
])];

pub const HOOKS: [Section; 2] = [
    examples(&[
        ("addons hooks myapp", "its runs, newest first, and the output of the latest"),
        ("addons hooks myapp --json", "every recorded run with its output lines"),
    ]),
    exit_status(&[("0", "shown (a failed hook is not an error here)"), ("2", "bad usage or invalid input")]),
];

pub const LOG: [Section; 1] = [examples(&[("addons log myapp-db", "every transition, with its time and message")])];

pub const TICK: [Section; 1] = [examples(&[
    ("addons tick", "one pass; run it from cron at any rate"),
    ("addons tick --jobs 8", "up to 8 provider calls at once"),
])];

pub const WATCH: [Section; 1] = [examples(&[
    ("addons watch", "until no addon has work left"),
    ("addons watch --forever --jobs 8", "a service: until SIGINT or SIGTERM"),
])];

pub const WAIT: [Section; 2] = [
    examples(&[
        ("addons wait myapp-key", "until it is ready"),
        ("addons wait myapp-key myapp-db --timeout 5m", "exit 3 if they have not settled by then"),
        ("addons wait --selector branch!=x", "every live addon whose labels match"),
    ]),
    exit_status(SETTLING),
];

pub const ENV: [Section; 1] = [examples(&[
    ("eval \"$(addons env myapp)\"", "export myapp's vars into this shell"),
    ("addons env myapp --format dotenv > .env", "a dotenv file"),
    ("addons env myapp --format json", "one JSON object"),
])];

pub const RUN: [Section; 2] = [
    examples(&[
        ("addons run myapp -- sh -c 'echo \"$DATABASE_URL\"'", "everything after -- is the command"),
        ("addons run myapp -- env", "the command's exit status is addons' own"),
    ]),
    exit_status(&[
        ("N", "the command's own: addons replaces itself with it"),
        ("1", "the command can't be started"),
        ("2", "bad usage, or an app nothing refers to"),
    ]),
];

pub const CONFIG: [Section; 1] = [examples(&[
    ("addons config myapp", "its vars, masked, each with its source"),
    ("addons config set myapp API_TOKEN=abc123 LOG_LEVEL=debug", "set by hand"),
    ("addons config unset myapp LOG_LEVEL", "only vars set by hand"),
    ("addons config myapp --reveal", "with the values"),
])];

pub const CONFIG_SET: [Section; 1] = [examples(&[
    ("addons config set myapp API_TOKEN=abc123", "one var"),
    ("addons config set myapp LOG_LEVEL=debug 'GREETING=hello world'", "several; quote spaces"),
])];

pub const CONFIG_UNSET: [Section; 1] =
    [examples(&[("addons config unset myapp API_TOKEN", "only vars set by hand, not an addon's")])];

pub const STATE: [Section; 1] =
    [examples(&[("addons state copy --to moved.db", "the whole state into a new file (or a postgres:// URL)")])];

pub const STATE_COPY: [Section; 2] = [
    examples(&[
        ("addons state copy --to moved.db", "into a new file (or a postgres:// URL)"),
        ("addons --state moved.db state copy --to back.db", "from another state than the current one"),
    ]),
    exit_status(&[
        ("0", "copied, and the target's counts match the state's"),
        ("2", "bad usage: --to names the state itself, or is not a valid URL"),
        ("4", "a state can't be used: missing, unreachable, newer, or the target is not empty"),
    ]),
];

pub const PROVIDERS: [Section; 1] = [examples(&[
    ("addons providers", "configured? does the server answer?"),
    ("addons providers --json", "with each provider's vars and params"),
    ("addons providers add postgres", "write the server found here into the config"),
    ("addons providers add redis redis://127.0.0.1:6379", "check that server, then write it"),
])];

pub const PROVIDERS_ADD: [Section; 2] = [
    examples(&[
        ("addons providers add postgres", "the server found on this machine"),
        ("addons providers add redis redis://127.0.0.1:6379", "check that server, then write it"),
    ]),
    exit_status(&[
        ("0", "the server answered with the rights needed; its section was written"),
        ("1", "the server did not answer, or refused the login or lacks rights: nothing written"),
        ("2", "bad usage: no such server provider, a bad URL, none found, or the section is there"),
    ]),
];

pub const GRAPH: [Section; 1] = [examples(&[
    ("addons graph", "Graphviz DOT: addons graph | dot -Tsvg > lifecycle.svg"),
    ("addons graph --format mermaid", "a Mermaid state diagram"),
])];

pub const COMPLETIONS: [Section; 1] = [examples(&[
    ("source <(addons completions bash)", "in ~/.bashrc"),
    ("addons completions zsh > _addons", "into a directory on $fpath"),
    ("addons completions fish > addons.fish", "into ~/.config/fish/completions/"),
])];

pub const MAN: [Section; 1] = [examples(&[
    ("addons man provision", "on a terminal: the page, through man and its pager"),
    ("addons man > addons.1", "the page of addons itself, as roff"),
    ("addons man config set > addons-config-set.1", "the page of one command"),
])];

/// The text after a command's options: its sections, headings styled as clap's own.
pub fn tail(sections: &[Section]) -> StyledStr {
    let header = clap::builder::Styles::styled().get_header().to_owned();
    let mut text = String::new();
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text += &format!("{header}{}:{header:#}\n", section.heading);
        let width = section.rows.iter().map(|(left, _)| left.len()).max().unwrap_or(0);
        for (left, right) in section.rows {
            text += &format!("  {left:<width$}  {}{right}\n", section.marker);
        }
    }
    StyledStr::from(text.trim_end().to_string())
}

/// The provider names, as clap's possible values: completed by the shell, listed in
/// the help, and suggested when mistyped.
pub fn provider_names() -> PossibleValuesParser {
    PossibleValuesParser::new(providers::ALL.iter().map(|info| info.name))
}

/// The help of `provision --param`: every provider's params, from the registry.
pub fn param_help() -> String {
    let mut text = String::from("A provider parameter (repeatable)");
    let mut without = Vec::new();
    for info in providers::ALL {
        if info.params.is_empty() {
            without.push(info.name);
            continue;
        }
        text += &format!("\n{}:", info.name);
        for spec in info.params {
            text += &format!("\n  {}: {}", spec.key, spec.help);
            if !spec.values.is_empty() {
                text += &format!("; one of {}", spec.values.join(", "));
            }
        }
    }
    if !without.is_empty() {
        text += &format!("\n{}: none", without.join(", "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_fits_the_help_width_unwrapped() {
        let all: &[&[Section]] = &[
            &TOP,
            &ATTACH,
            &DETACH,
            &APPLY,
            &LABEL,
            &EXPIRE,
            &PROVISION,
            &DEPROVISION,
            &ROTATE,
            &CHECK,
            &LIST,
            &INFO,
            &LOG,
            &HOOKS,
            &TICK,
            &WATCH,
            &WAIT,
            &ENV,
            &RUN,
            &CONFIG,
            &CONFIG_SET,
            &CONFIG_UNSET,
            &STATE,
            &STATE_COPY,
            &PROVIDERS,
            &GRAPH,
            &COMPLETIONS,
            &MAN,
        ];
        for section in all.iter().copied().flatten() {
            let text = tail(std::slice::from_ref(section)).to_string();
            for line in text.lines() {
                assert!(line.chars().count() <= WIDTH, "{} is wider than {WIDTH} columns", line.trim());
            }
        }
    }
}
