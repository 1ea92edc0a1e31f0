//! The command line as a person at a terminal meets it: shell completion (the committed
//! bash script run by bash), the help (whole text, examples that work), the manual
//! pages, and the "did you mean" in bad-usage lines.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestEnv, BIN};

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// PATH with the binary under test first, as the completion scripts and the help's
/// examples call `addons` by name.
fn path_with_binary() -> String {
    let dir = Path::new(BIN).parent().expect("the binary has a directory");
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default())
}

// ---------------------------------------------------------------------------
// completion

/// What the committed bash script offers for each line (the last word being the one
/// completed), run by bash with `ADDONS_STATE` = `state`; one line of candidates each.
fn bash_completions(env: &TestEnv, state: impl AsRef<std::ffi::OsStr>, lines: &[&[&str]]) -> Vec<String> {
    let mut script = format!("source {}\n", repo_file("completions/addons.bash").display());
    script += "declare -F _clap_complete_addons >/dev/null || { echo 'no completion function' >&2; exit 1; }\n";
    script += r#"complete_line() {
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
    _clap_complete_addons addons "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    echo "${COMPREPLY[*]}"
}
"#;
    for words in lines {
        let quoted: Vec<String> = words.iter().map(|word| format!("'{word}'")).collect();
        script += &format!("complete_line {}\n", quoted.join(" "));
    }
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env_clear()
        .env("PATH", path_with_binary())
        .env("HOME", env.root())
        .env("ADDONS_STATE", state)
        .current_dir(env.root())
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "bash failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: Vec<String> = stdout.lines().map(str::to_string).collect();
    assert_eq!(got.len(), lines.len(), "{stdout}");
    got
}

/// The candidates that are not flags.
fn names(line: &str) -> Vec<&str> {
    line.split_whitespace().filter(|word| !word.starts_with('-')).collect()
}

#[test]
fn bash_completes_providers_and_the_addon_and_app_names_of_the_state() {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "myapp-key"]);
    env.provision_ready("sqlite", "other", &["--name", "cool-db"]);
    env.provision_ready("secret", "other", &["--name", "old-key"]);
    env.ok(["deprovision", "old-key", "--wait"]);
    let elsewhere = TestEnv::new();
    elsewhere.provision_ready("secret", "far-app", &["--name", "far-key"]);
    let missing = env.root().join("none").join("state.db");
    let elsewhere_state = elsewhere.state_location().to_string_lossy().into_owned();
    let missing_state = missing.display().to_string();

    let got = bash_completions(
        &env,
        env.state_location(),
        &[
            &["addons", "provision", ""],
            &["addons", "provision", "p"],
            &["addons", "provision", "secret", "m"],
            &["addons", "deprovision", ""],
            &["addons", "wait", "myapp-key", "c"],
            &["addons", "info", "c"],
            &["addons", "log", "o"],
            &["addons", "env", ""],
            &["addons", "run", "o"],
            &["addons", "config", "set", "m"],
            &["addons", "list", ""],
            &["addons", "--state", &elsewhere_state, "info", ""],
            &["addons", &format!("--state={elsewhere_state}"), "env", ""],
            &["addons", "--state", &missing_state, "info", ""],
            &["addons", "i"],
            &["addons", "attach", ""],
            &["addons", "attach", "myapp-key", "o"],
            &["addons", "detach", "cool-db", ""],
        ],
    );
    assert_eq!(names(&got[0]), common::providers::names());
    assert_eq!(got[1], "postgres");
    assert_eq!(got[2], "myapp");
    // deprovision and wait offer the live addons; info and log every addon.
    assert_eq!(names(&got[3]), ["cool-db", "myapp-key"]);
    assert_eq!(got[4], "cool-db");
    assert_eq!(got[5], "cool-db");
    assert_eq!(got[6], "old-key");
    assert_eq!(names(&got[7]), ["myapp", "other"]);
    assert_eq!(got[8], "other");
    assert_eq!(got[9], "myapp");
    assert_eq!(names(&got[10]), ["myapp", "other"]);
    // --state on the line wins over ADDONS_STATE.
    assert_eq!(names(&got[11]), ["far-key"]);
    assert_eq!(names(&got[12]), ["far-app"]);
    assert_eq!(names(&got[13]), Vec::<&str>::new());
    assert_eq!(got[14], "info");
    // attach and detach offer the live addons, then the apps.
    assert_eq!(names(&got[15]), ["cool-db", "myapp-key"]);
    assert_eq!(got[16], "other");
    assert_eq!(names(&got[17]), ["myapp", "other"]);
    assert!(!missing.exists() && !missing.parent().unwrap().exists(), "completing created a state file");
}

#[test]
fn completing_without_a_state_file_offers_no_names_and_creates_none() {
    let env = TestEnv::on_sqlite_file();
    let got = bash_completions(
        &env,
        &env.state,
        &[&["addons", "info", ""], &["addons", "env", ""], &["addons", "provision", "s"]],
    );
    assert_eq!(names(&got[0]), Vec::<&str>::new());
    assert_eq!(names(&got[1]), Vec::<&str>::new());
    assert_eq!(got[2], "secret sqlite");
    assert!(!env.state.exists() && !env.data_dir().exists(), "completing created a state file");
}

// ---------------------------------------------------------------------------
// help

/// `addons ARGS --help` with no ADDONS_* in the environment (they show in the help).
fn help(env: &TestEnv, args: &[&str]) -> String {
    let output = env.bare_command(args.iter().chain(&["--help"])).output().expect("run addons");
    assert!(output.status.success(), "addons {args:?} --help failed");
    String::from_utf8(output.stdout).unwrap()
}

const PROVISION_HELP: &str = "\
Create an addon for an app and start provisioning it

Usage: addons provision [OPTIONS] <PROVIDER> <APP>

Arguments:
  <PROVIDER>  The provider ('addons providers' shows what each makes) [possible values: secret,
              sqlite, postgres, mysql, redis, rabbitmq, mqtt]
  <APP>       The app that gets the addon's config vars (a new name creates the app)

Options:
      --as <PREFIX>           Prefix the addon's config vars: --as primary gives
                              PRIMARY_DATABASE_URL
      --name <NAME>           The addon's name [default: generated, e.g. brave-river-4f2a1c]
      --param <KEY=VALUE>     A provider parameter (repeatable)
                              secret:
                                length: number of characters, 16 to 4096 (default 100)
                                alphabet: alnum (default), hex or base64url
                              postgres:
                                scheme: the DATABASE_URL's scheme, for a client that reads its
                                driver there (default postgresql); one of postgresql, postgres,
                                postgresql+psycopg, postgresql+psycopg2, postgresql+asyncpg,
                                postgresql+pg8000
                              mysql:
                                scheme: the DATABASE_URL's scheme, for a client that reads its
                                driver there (default mysql); one of mysql, mysql+pymysql,
                                mysql+mysqldb, mysql+mysqlconnector, mysql+asyncmy, mysql+aiomysql,
                                mariadb, mariadb+pymysql, mariadb+mariadbconnector
                              rabbitmq:
                                max_connections: the most AMQP connections open to the vhost at once
                                max_queues: the most queues the vhost may hold
                              sqlite, redis, mqtt: none
      --label <KEY=VALUE>     Label the addon (repeatable), e.g. --label branch=feature-x
      --expires-in <DUR>      Deprovision the addon this long from now (on a tick or watch), e.g.
                              7d, 12h
      --expires-at <TIME>     Deprovision the addon at this time (RFC 3339), e.g.
                              2026-12-01T18:00:00Z
      --from <ADDON>          Make it a copy of this ready addon's data (same provider), e.g. --from
                              main-db
      --from-backup <BACKUP>  Make it from this backup's data (same provider; 'addons backups' lists
                              them)
      --server <SERVER>       Make it on this server of the provider's (default: the one its url
                              names)
      --ensure                Create it only if no live addon has --name; the same one there is
                              success (exit 0)
      --wait                  Tick until the addon is ready
      --timeout <DUR>         How long --wait waits, e.g. 30s, 5m (exit 3 when it runs out)
                              [default: no limit, but an addon not ready within
                              engine.provision_timeout (30m) ends in error]
  -h, --help                  Print help
  -V, --version               Print version

Global options:
      --state <PATH|URL>  The state: a file, or a postgres:// URL that many hosts share [default:
                          $XDG_DATA_HOME/addons/state.db] [env: ADDONS_STATE=]
      --config <PATH>     The config file [default: $XDG_CONFIG_HOME/addons/config.toml] [env:
                          ADDONS_CONFIG=]
      --json              Print one JSON document on stdout instead of tables
  -q, --quiet             Print only what was asked for (no progress, no notes)
  -v, --verbose           Print more about what is going on, on stderr

Examples:
  addons provision secret myapp --name myapp-key                 # prints its name; tick finishes it
  addons provision sqlite myapp --name myapp-db --wait           # returns once it is ready
  addons provision sqlite myapp --as cache --wait --timeout 1m   # CACHE_DATABASE_URL
  addons provision secret myapp --as signing --param length=64   # SIGNING_SECRET_KEY, 64 chars
  addons provision sqlite pr-1 --label branch=x --expires-in 7d  # labelled, gone in a week
  addons provision sqlite ci --name ci-db --ensure               # create it, or reuse it
  addons provision sqlite pr-2 --from myapp-db --wait            # a copy of myapp-db's data

Exit status:
  0  provisioning began; with --wait, the addon is ready
  1  a provider refused, a conflict, or the addon ended in error
  2  bad usage or invalid input (nothing was changed)
  3  --timeout passed first; 'addons wait NAME' picks up where this left off
";

#[test]
fn provision_help_is_this_whole_text() {
    let help = help(&TestEnv::new(), &["provision"]);
    // The test-only providers' pieces, in the help's layout.
    let pieces = |name: &str, params: Vec<(&str, &str)>| {
        let lines: String = params.iter().map(|(key, help)| format!("{:32}{key}: {help}\n", "")).collect();
        [(format!(", {name}]"), "]".to_string()), (format!("{:30}{name}:\n{lines}", ""), String::new())]
    };
    assert_eq!(as_released(&help, pieces), PROVISION_HELP);
}

/// `text` (help or a manual page of the binary under test) as a release build writes
/// it: each piece that a provider compiled in only for tests adds (`pieces` gives them,
/// with what stands there instead, from its name and params) is taken out, after
/// asserting that it is there.
fn as_released(text: &str, pieces: impl Fn(&str, Vec<(&str, &str)>) -> [(String, String); 2]) -> String {
    let mut text = text.to_string();
    for info in common::providers::all() {
        if !common::providers::TEST_BUILD_ONLY.contains(&info.name) {
            continue;
        }
        for (piece, instead) in pieces(info.name, info.params.iter().map(|spec| (spec.key, spec.help)).collect()) {
            assert!(text.contains(&piece), "{} is not in:\n{text}", piece.trim());
            text = text.replacen(&piece, &instead, 1);
        }
    }
    text
}

/// Every command path: `[]` for addons itself, `["provision"]`, ..., `["config", "set"]`.
fn command_paths(env: &TestEnv) -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    let mut i = 0;
    while i < paths.len() {
        let path: Vec<String> = paths[i].clone();
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(env, &words);
        let commands: Vec<String> = text
            .lines()
            .skip_while(|line| *line != "Commands:")
            .skip(1)
            .take_while(|line| line.starts_with("  "))
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_string)
            .collect();
        paths.extend(commands.into_iter().map(|name| [path.clone(), vec![name]].concat()));
        i += 1;
    }
    paths
}

#[test]
fn every_help_has_examples_and_the_global_options_under_their_own_heading() {
    let env = TestEnv::new();
    let paths = command_paths(&env);
    assert!(paths.len() >= 18, "{paths:?}");
    for path in paths {
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&env, &words);
        let sections: Vec<&str> = text.lines().filter(|line| !line.starts_with(' ') && line.ends_with(':')).collect();
        assert!(sections.contains(&"Examples:"), "addons {words:?} --help has no examples:\n{text}");
        assert!(sections.contains(&"Global options:"), "addons {words:?} --help has no global options:\n{text}");
        // The flag lines of the command's own options (not their help text, which may name a global flag).
        let options: String = text
            .lines()
            .skip_while(|line| *line != "Options:")
            .take_while(|line| *line != "Global options:" && *line != "Examples:")
            .filter(|line| line.trim_start().starts_with('-'))
            .collect();
        for global in ["--state", "--config", "--json", "--quiet", "--verbose"] {
            assert!(!options.contains(global), "addons {words:?} --help lists {global} among its own options");
        }
        // Every positional says what it is, beside it or (long help) on the next line.
        let arguments: Vec<&str> =
            text.lines().skip_while(|line| *line != "Arguments:").skip(1).take_while(|line| !line.is_empty()).collect();
        for (i, argument) in arguments.iter().enumerate() {
            if let Some(name) = argument.strip_prefix("  <") {
                let next = arguments.get(i + 1).map_or("", |line| line.trim());
                assert!(
                    name.contains("  ") || !(next.is_empty() || next.starts_with('<')),
                    "addons {words:?}: <{name} is not described"
                );
            }
        }
    }
    let wait = help(&env, &["wait"]);
    assert!(wait.contains("Exit status:\n  0  every addon settled") && wait.contains("\n  3  --timeout passed first"));
}

/// The examples of one help text: the command lines, without their comments.
fn examples(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| *line != "Examples:")
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .map(|line| line.split("  # ").next().unwrap_or_default().trim().to_string())
        .collect()
}

/// Runs one example with bash in the environment's dir, as a user would paste it.
fn run_example(env: &TestEnv, line: &str) {
    let forever = line.contains("--forever");
    // A service is exec'd, so that the signal below reaches it.
    let script = if forever { format!("exec {line}") } else { format!("set -eo pipefail; {line}") };
    let mut command = Command::new("bash");
    command
        .args(["--norc", "--noprofile", "-c", &script])
        .env_clear()
        .env("PATH", path_with_binary())
        .env("HOME", env.root())
        .env("ADDONS_STATE", env.state_location())
        .current_dir(env.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if forever {
        // It must still be running after a while, and stop cleanly on SIGTERM.
        let mut child = command.spawn().expect("start bash");
        std::thread::sleep(Duration::from_secs(1));
        assert!(child.try_wait().unwrap().is_none(), "{line} ended by itself");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{line} after SIGTERM: {output:?}");
        return;
    }
    let output = command.output().expect("run bash");
    assert!(
        output.status.success(),
        "the example `{line}` failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_examples_in_the_help_are_commands_that_work() {
    let lister = TestEnv::new();
    let mut run = 0;
    for path in command_paths(&lister) {
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        let lines = examples(&help(&lister, &words));
        // Each command's examples run in a fresh state; all but provision's (and the
        // top's, which provision) find there the addons and the var they name.
        let env = TestEnv::new();
        // Backups go under the temp dir (a state on PostgreSQL needs a folder named).
        let config = env.root().join(".config/addons");
        std::fs::create_dir_all(&config).unwrap();
        let backups = format!("[backups]\ndir = \"{}\"\n", env.root().join("backups").display());
        std::fs::write(config.join("config.toml"), backups).unwrap();
        if !matches!(words.as_slice(), [] | ["provision"]) {
            env.provision_ready("secret", "myapp", &["--name", "myapp-key"]);
            env.provision_ready("sqlite", "myapp", &["--name", "myapp-db"]);
            env.ok(["config", "set", "myapp", "API_TOKEN=abc123"]);
        }
        // The attachments detach's examples take away.
        if words == ["detach"] {
            env.ok(["attach", "myapp-key", "worker", "--wait"]);
            env.ok(["attach", "myapp-db", "reports", "--wait"]);
        }
        // The apply file apply's examples name.
        let file = "scope = \"ci\"\n[[addon]]\nname = \"ci-key\"\nprovider = \"secret\"\napp = \"ci\"\n";
        std::fs::write(env.root().join("addons.toml"), file).unwrap();
        for line in lines {
            assert!(line.starts_with("addons ") || line.contains("$(addons ") || line.contains("<(addons "), "{line}");
            run_example(&env, &line);
            run += 1;
        }
    }
    assert!(run >= 35, "only {run} examples ran");
}

// ---------------------------------------------------------------------------
// manual pages

#[test]
fn committed_man_pages_match_what_the_binary_generates() {
    let env = TestEnv::new();
    let dir = repo_file("man");
    let mut expected = BTreeSet::new();
    let mut stale = Vec::new();
    for path in command_paths(&env) {
        let file = format!("{}.1", [vec!["addons".to_string()], path.clone()].concat().join("-"));
        let mut generated = env.ok([&["man".to_string()][..], &path].concat()).stdout;
        if path == ["provision"] {
            // The test-only providers' pieces, in the page's layout.
            let pieces = |name: &str, params: Vec<(&str, &str)>| {
                let lines: String = params.iter().map(|(key, help)| format!("  {key}: {help}\n")).collect();
                [(format!(".IP \\(bu 2\n{name}\n"), String::new()), (format!("{name}:\n{lines}"), String::new())]
            };
            generated = as_released(&generated, pieces);
        }
        assert!(generated.contains(".SH EXAMPLES\n"), "{file} has no examples");
        match std::fs::read_to_string(dir.join(&file)) {
            Ok(committed) if committed == generated => {}
            Ok(_) => stale.push(format!("man/{file} differs from 'addons man {}'", path.join(" "))),
            Err(err) => stale.push(format!("man/{file} can't be read ({err})")),
        }
        expected.insert(file);
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".1") && !expected.contains(&name) {
            stale.push(format!("man/{name} is the page of no command"));
        }
    }
    assert!(stale.is_empty(), "{}\nregenerate them with: man/generate", stale.join("\n"));
}

// ---------------------------------------------------------------------------
// bad usage: did you mean, and the help it points to

/// A state with myapp (addons web-key and db), other (nothing live: old-key was
/// deprovisioned).
fn prepared() -> TestEnv {
    let env = TestEnv::new();
    env.provision_ready("secret", "myapp", &["--name", "web-key"]);
    env.provision_ready("sqlite", "myapp", &["--name", "db"]);
    env.provision_ready("secret", "other", &["--name", "old-key"]);
    env.ok(["deprovision", "old-key", "--wait"]);
    env
}

#[test]
fn mistakes_get_a_did_you_mean_on_one_line_with_exit_2_and_change_nothing() {
    let env = prepared();
    let possible = format!("[possible values: {}]", common::providers::listed());
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["provision", "postgress", "myapp"],
            &[&possible, "(tip: a similar value exists: 'postgres')", "; see 'addons provision --help'"],
        ),
        (&["info", "web-kye"], &["no addon named \"web-kye\" (did you mean web-key?)"]),
        (&["deprovision", "db", "web-ke"], &["no addon named \"web-ke\" (did you mean web-key?)"]),
        (&["wait", "dbb"], &["(did you mean db?)"]),
        (&["env", "MyApp"], &["invalid app name \"MyApp\"", "(did you mean myapp?)"]),
        (&["env", "myap"], &["no app named \"myap\" (did you mean myapp?)"]),
        (
            &["config", "myapp", "KEY=1"],
            &["(tip: to set config vars, use 'addons config set myapp KEY=1')", "; see 'addons config --help'"],
        ),
        (
            &["run", "myapp", "env"],
            &["(tip: put the command after '--': 'addons run myapp -- env')", "; see 'addons run --help'"],
        ),
        (&["lis"], &["(tip: a similar subcommand exists: 'list')", "; see 'addons --help'"]),
        (&["graph", "--format", "png"], &["[possible values: dot, mermaid]", "; see 'addons graph --help'"]),
        (&["config", "set", "myapp"], &["<KEY=VALUE>", "; see 'addons config set --help'"]),
        (&["man", "confg"], &["(did you mean config?)"]),
    ];
    let before = env.state_bytes();
    for (args, phrases) in cases {
        let line = env.fails(2, *args);
        assert!(line.starts_with("error: "), "{line}");
        for phrase in *phrases {
            assert!(line.contains(phrase), "addons {args:?}: expected {phrase:?} in:\n{line}");
        }
        assert!(
            !line.contains("see 'addons --help'") || args[0] == "lis",
            "addons {args:?} points to the top help: {line}"
        );
    }
    // A deprovisioned addon, and a name like nothing, get no suggestion.
    for args in [&["info", "old-kye"][..], &["log", "nosuch"], &["env", "zzz"]] {
        let line = env.fails(2, args);
        assert!(!line.contains("did you mean"), "addons {args:?}: {line}");
    }
    assert!(env.state_bytes() == before, "a refused command changed the state file");
}

#[test]
fn bare_addons_prints_the_help_on_stderr_and_exits_2() {
    let env = TestEnv::new();
    for command in [env.bare_command::<[&str; 0], &str>([]), env.command::<[&str; 0], &str>([])] {
        let mut command = command;
        let output = command.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(output.stdout, b"");
        assert!(stderr.starts_with("Provision backing resources"), "{stderr}");
        assert!(stderr.contains("\nCommands:\n") && stderr.contains("\nExamples:\n"), "{stderr}");
    }
    assert!(!env.state.exists(), "bare addons created a state file");
}
