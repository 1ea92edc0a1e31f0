//! The fuzz target: property tests over everything that reads untrusted input, the
//! command line, the config file and the name, prefix and key validators. Nothing may
//! panic, every config error is one line, and whatever a validator accepts matches
//! DESIGN.md's rule. `cargo test --test fuzz` runs a few hundred cases per property in
//! seconds; `PROPTEST_CASES=100000 cargo test --release --test fuzz` runs many more.

mod common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use proptest::prelude::*;

use addons::cli::Cli;
use addons::{config, names};

use common::{TestEnv, SUBCOMMANDS};

/// Words the parser knows besides the subcommands, mixed into random arguments so the
/// fuzzer gets past the first subcommand and into flags and values.
const WORDS: &[&str] = &[
    "set",
    "unset",
    "help",
    "secret",
    "sqlite",
    "postgres",
    "mysql",
    "redis",
    "web",
    "--as",
    "--name",
    "--param",
    "--wait",
    "--timeout",
    "--all",
    "--reveal",
    "--jobs",
    "--forever",
    "--format",
    "--json",
    "-q",
    "-v",
    "-qv",
    "--state",
    "--config",
    "--",
    "-",
    "--help",
    "-h",
    "--version",
    "-V",
    "shell",
    "dotenv",
    "json",
    "dot",
    "mermaid",
    "bash",
    "zsh",
    "fish",
    "elvish",
    "powershell",
    "length=64",
    "alphabet=hex",
    "KEY=VALUE",
    "A=",
    "=",
    "30s",
    "0s",
    "5m",
    "0",
    "1",
    "64",
    "65",
    "-1",
    "",
];

/// One argument: a known word, any string, any bytes (not UTF-8), or a flag-shaped string.
fn argument() -> impl Strategy<Value = OsString> {
    prop_oneof![
        6 => prop::sample::select([&SUBCOMMANDS[..], WORDS].concat()).prop_map(OsString::from),
        2 => any::<String>().prop_map(OsString::from),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(OsString::from_vec),
        1 => "-{0,2}[a-zA-Z0-9=_.]{0,12}".prop_map(OsString::from),
    ]
}

fn arguments() -> impl Strategy<Value = Vec<OsString>> {
    prop::collection::vec(argument(), 0..8).prop_map(|mut args| {
        args.insert(0, OsString::from("addons"));
        args
    })
}

/// A config file that uses every section and key.
const VALID_CONFIG: &str = r#"# a comment
[providers.postgres]
url = "postgres://postgres:s3cretpw@127.0.0.1:5432/postgres"
public_host = "db.example.internal"
[providers.mysql]
url = "mysql://root@127.0.0.1:3306"
[providers.redis]
url = "redis://default:s3cretpw@127.0.0.1:6379"
[providers.sqlite]
dir = "/srv/addons/sqlite"
[engine]
jobs = 4
provision_timeout = "30m"
claim_timeout = "5m"
[apps.myapp]
env_file = "/srv/myapp/.env"
[apps."other-app"]
"#;

/// One edit of a text, at a char position: delete a run, insert a string, or repeat a run.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    Repeat(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let fragment = prop_oneof![
        any::<String>(),
        prop::sample::select(
            &["[", "]", "\"", "'", "=", "\n", ".", "#", "\\", "[[", "{", "}", ",", "\"\"\"", "1e999"][..]
        )
        .prop_map(String::from),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), fragment).prop_map(|(at, text)| Edit::Insert(at, text)),
        (any::<usize>(), 1usize..80).prop_map(|(at, len)| Edit::Repeat(at, len)),
    ]
}

/// Applies edits to `text`, keeping it a valid `String`.
fn mutate(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let n = chars.len();
        match edit {
            Edit::Delete(at, len) if n > 0 => {
                let start = at % n;
                chars.drain(start..(start + len).min(n));
            }
            Edit::Insert(at, text) => {
                let start = at % (n + 1);
                chars.splice(start..start, text.chars());
            }
            Edit::Repeat(at, len) if n > 0 => {
                let start = at % n;
                let piece: Vec<char> = chars[start..(start + len).min(n)].to_vec();
                chars.splice(start..start, piece);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

/// Parses a config text; an error must be one line that names the file.
fn check_config(text: &str) -> Result<(), TestCaseError> {
    if let Err(err) = config::parse(Path::new("/etc/addons/config.toml"), text) {
        let message = format!("{err:#}");
        prop_assert!(!message.contains('\n') && !message.contains('\r'), "not one line: {message:?}");
        prop_assert!(message.starts_with("config file /etc/addons/config.toml"), "{message}");
    }
    Ok(())
}

/// `cases` per property, or `PROPTEST_CASES` when set; no regression files are written.
fn config_with_cases(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn is_app_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=63).contains(&bytes.len())
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn is_var_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_uppercase()
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}

/// A validator's refusal: one line, short even for an absurd input.
fn check_refusal(err: anyhow::Error) -> Result<(), TestCaseError> {
    let message = format!("{err:#}");
    prop_assert!(!message.contains('\n') && !message.contains('\r'), "not one line: {message:?}");
    prop_assert!(message.len() < 400, "{} bytes: {message}", message.len());
    Ok(())
}

/// Strings a user might pass as a name, prefix or key: anything, ASCII-ish, or near-valid.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[a-zA-Z0-9_-]{0,70}",
        "[a-z0-9][a-z0-9-]{60,66}",
        "[A-Z][A-Z0-9_]{0,10}[^A-Z0-9_]?",
    ]
}

proptest! {
    #![proptest_config(config_with_cases(800))]

    #[test]
    fn argument_parsing_never_panics(args in arguments()) {
        let _ = Cli::try_parse_from(args);
    }

    #[test]
    fn validators_accept_only_what_design_allows(text in name_like()) {
        match names::check_app(&text) {
            Ok(()) => prop_assert!(is_app_name(&text), "app name {text:?} accepted"),
            Err(err) => { prop_assert!(!is_app_name(&text), "app name {text:?} refused"); check_refusal(err)?; }
        }
        match names::check_addon_name(&text) {
            Ok(()) => prop_assert!(is_app_name(&text), "addon name {text:?} accepted"),
            Err(err) => { prop_assert!(!is_app_name(&text), "addon name {text:?} refused"); check_refusal(err)?; }
        }
        match names::check_var_key(&text) {
            Ok(()) => prop_assert!(is_var_key(&text), "key {text:?} accepted"),
            Err(err) => check_refusal(err)?,
        }
        match names::normalize_prefix(&text) {
            Ok(prefix) => {
                prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "prefix {text:?} accepted");
                prop_assert_eq!(&prefix, &text.to_ascii_uppercase());
                prop_assert!(is_var_key(&format!("{prefix}_DATABASE_URL")), "prefix {text:?} makes a bad key");
            }
            Err(err) => check_refusal(err)?,
        }
        let shown = names::shown(&text);
        prop_assert!(!shown.contains('\n') && shown.len() < 400, "{shown:?}");
    }

    #[test]
    fn every_name_design_allows_is_accepted(name in "[a-z0-9][a-z0-9-]{0,62}", key in "[A-Z][A-Z0-9_]{0,60}") {
        prop_assert!(names::check_app(&name).is_ok(), "{name:?}");
        prop_assert!(names::check_addon_name(&name).is_ok(), "{name:?}");
        prop_assert!(names::check_var_key(&key).is_ok(), "{key:?}");
        prop_assert!(names::normalize_prefix(&key).is_ok(), "{key:?}");
    }

    #[test]
    fn durations_never_panic(text in prop_oneof![any::<String>(), "[0-9]{1,30}(ns|us|ms|s|m|h|d|w|y|M)?( [0-9]{1,5}[smh])?"]) {
        match config::parse_duration(&text) {
            Ok(duration) => prop_assert!(!duration.is_zero() && duration <= Duration::from_secs(366 * 24 * 3600)),
            Err(message) => prop_assert!(!message.contains('\n') && message.len() < 400, "{message:?}"),
        }
    }
}

proptest! {
    #![proptest_config(config_with_cases(500))]

    #[test]
    fn arbitrary_config_text_never_panics(text in prop_oneof![any::<String>(), "([\\[\\]a-z_.=\" \n0-9:/@#{},'-]|providers|engine|apps|url|jobs){0,60}"]) {
        check_config(&text)?;
    }

    #[test]
    fn mutated_config_files_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        check_config(&mutate(VALID_CONFIG, &edits))?;
    }

    #[test]
    fn admin_urls_are_never_echoed_with_their_password(
        scheme in prop_oneof![Just("postgres".to_string()), Just("mysql".to_string()), "[a-z+.-]{0,8}"],
        host in "[^\"\\\\\n\r]{0,20}",
        port in prop_oneof![Just(String::new()), ":[0-9]{0,7}".prop_map(String::from), "[^\"\\\\\n\r]{0,6}"],
        path in "[^\"\\\\\n\r]{0,12}",
        section in prop::sample::select(&["postgres", "mysql", "redis"][..]),
    ) {
        let text = format!("[providers.{section}]\nurl = \"{scheme}://admin:s3cretpw@{host}{port}/{path}\"\n");
        match config::parse(Path::new("c.toml"), &text) {
            Ok(settings) => {
                prop_assert!(settings.providers.contains_key(section), "the section parsed");
                let shown = format!("{settings:?}");
                prop_assert!(!shown.contains("s3cretpw"), "{shown}");
            }
            Err(err) => {
                let message = format!("{err:#}");
                prop_assert!(!message.contains("s3cretpw") && !message.contains('\n'), "{message}");
            }
        }
    }
}

/// The binary itself on random arguments, in a fresh [`TestEnv`], with the arguments
/// that name files left out (they could point anywhere). Exit 101 is a panic.
fn run_binary(args: &[OsString]) -> Result<(), TestCaseError> {
    let env = TestEnv::new();
    let mut child = env.command(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestCaseError::fail(format!("addons {args:?} did not finish in 20s")));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    prop_assert!(matches!(status.code(), Some(0..=4)), "addons {args:?}: {status}\n{stderr}");
    prop_assert!(!stderr.contains("panicked"), "addons {args:?}:\n{stderr}");
    Ok(())
}

proptest! {
    #![proptest_config(config_with_cases(48))]

    #[test]
    fn the_binary_never_panics_on_arbitrary_arguments(args in arguments()) {
        let unsafe_arg = |arg: &OsString| {
            let text = arg.to_string_lossy();
            text.starts_with("--state") || text.starts_with("--config") || text == "--forever" || text == "run"
        };
        prop_assume!(!args.iter().any(unsafe_arg));
        // An argument can't hold a NUL byte.
        let args: Vec<OsString> =
            args[1..].iter().map(|arg| OsString::from_vec(arg.as_encoded_bytes().iter().map(|&b| if b == 0 { b'0' } else { b }).collect())).collect();
        run_binary(&args)?;
    }
}
