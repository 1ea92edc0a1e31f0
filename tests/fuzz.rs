//! The fuzz target: property tests over everything that reads untrusted input, the
//! command line, the config file and the name, prefix and key validators. Nothing may
//! panic, every config error is one line, and whatever a validator accepts matches the
//! rule in docs/contract.md's vocabulary. `cargo test --test suite fuzz::` runs a few
//! hundred cases per property in seconds; `PROPTEST_CASES=100000 cargo test --release
//! --test suite fuzz::` runs many more.

use crate::common;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use proptest::prelude::*;

use addons::cli::Cli;
use addons::{config, names};

use common::{subcommands, TestEnv};

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
        6 => prop::sample::select([subcommands(), WORDS.iter().map(|word| word.to_string()).collect()].concat())
            .prop_map(OsString::from),
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
        match addons::expiry::parse_duration(&text) {
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
        section in prop::sample::select(common::providers::on_servers()),
    ) {
        let text = format!("[providers.{section}]\nurl = \"{scheme}://admin:s3cretpw@{host}{port}/{path}\"\n");
        let read = config::parse(Path::new("c.toml"), &text)
            .and_then(|settings| addons::providers::configure(&settings).map(|configs| (settings, configs)));
        match read {
            Ok((settings, configs)) => {
                prop_assert!(format!("{configs:?}").contains(&format!("\"{section}\"")), "the section parsed");
                let shown = format!("{settings:?} {configs:?}");
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

// Labels, selectors, expiry arguments and apply files (issue 10): nothing panics, every
// refusal is one short line, what is accepted follows Kubernetes' label rules, and what
// is printed parses back to the same thing.

/// Kubernetes' label key rule (`IsQualifiedName`), written out independently of src/labels.rs.
fn is_kubernetes_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|prefix| {
        (1..=253).contains(&prefix.len())
            && prefix.split('.').all(|part| {
                let b = part.as_bytes();
                (1..=63).contains(&b.len())
                    && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                    && b[0] != b'-'
                    && b[b.len() - 1] != b'-'
            })
    });
    prefix_ok && (1..=63).contains(&name.len()) && is_kubernetes_value(name)
}

/// Kubernetes' label value rule (`IsValidLabelValue`).
fn is_kubernetes_value(value: &str) -> bool {
    let b = value.as_bytes();
    b.is_empty()
        || (b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')))
}

fn label_like() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "([a-z0-9.-]{0,12}/)?[a-zA-Z0-9._-]{0,66}(=[a-zA-Z0-9._ =/-]{0,66})?-?",
        "[a-z0-9-]{60,64}(\\.[a-z0-9-]{60,64}){3}/[a-z]{1,3}",
    ]
}

fn kubernetes_key() -> impl Strategy<Value = String> {
    "(([a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?\\.){0,3}[a-z0-9]{1,5}/)?[a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?"
}

fn kubernetes_value() -> impl Strategy<Value = String> {
    "([a-zA-Z0-9]([a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?)?"
}

const VALID_APPLY_FILE: &str = "scope = \"ci-pr-1\"\n[[addon]]\nname = \"pr-1-db\"\nprovider = \"secret\"\napp = \"pr-1\"\nas = \"key\"\nparams = { length = 64 }\nlabels = { branch = \"feature-x\" }\nexpires_in = \"7d\"\n";

/// 2026-11-29T04:00:00Z, a fixed `now` for the expiry rules.
const NOW_MS: i64 = 1_795_924_800_000;

proptest! {
    #![proptest_config(config_with_cases(800))]

    #[test]
    fn labels_are_accepted_exactly_by_kubernetes_rules(text in label_like()) {
        match addons::labels::check_key(&text) {
            Ok(()) => prop_assert!(is_kubernetes_key(&text), "key {text:?} accepted"),
            Err(err) => { prop_assert!(!is_kubernetes_key(&text), "key {text:?} refused"); check_refusal(err)?; }
        }
        match addons::labels::check_value("k", &text) {
            Ok(()) => prop_assert!(is_kubernetes_value(&text), "value {text:?} accepted"),
            Err(err) => { prop_assert!(!is_kubernetes_value(&text), "value {text:?} refused"); check_refusal(err)?; }
        }
        match addons::labels::parse_edits(&[&text]) {
            Ok(edits) => {
                let printed: Vec<String> = edits.iter().map(ToString::to_string).collect();
                prop_assert_eq!(&printed, std::slice::from_ref(&text));
                prop_assert_eq!(addons::labels::parse_edits(&printed).unwrap(), edits);
            }
            Err(err) => check_refusal(err)?,
        }
    }

    #[test]
    fn every_kubernetes_label_is_accepted_and_round_trips(key in kubernetes_key(), value in kubernetes_value()) {
        prop_assume!(!key.starts_with("addons/"));
        let parsed = addons::labels::parse_label(&format!("{key}={value}"));
        prop_assert_eq!(parsed.unwrap(), (key.clone(), value.clone()));
        let labels = addons::labels::Labels::from_pairs([(key.clone(), value.clone())]).unwrap();
        let json = serde_json::to_string(&labels).unwrap();
        prop_assert_eq!(serde_json::from_str::<addons::labels::Labels>(&json).unwrap(), labels.clone());
        let selector: addons::selector::Selector = labels.to_string().parse().unwrap();
        prop_assert!(selector.matches(&labels));
    }

    #[test]
    fn selectors_never_panic_and_round_trip(text in prop_oneof![
        any::<String>(),
        "[ -~]{0,60}",
        "( ?!?[a-z][a-z./]{0,6} ?(=|==|!=)? ?[a-z0-9= ]{0,5} ?,?){0,5}",
    ]) {
        match addons::selector::Selector::parse(&text) {
            Ok(selector) => {
                let printed = selector.to_string();
                prop_assert_eq!(addons::selector::Selector::parse(&printed).unwrap(), selector.clone(), "{}", printed);
                let labels = addons::labels::Labels::from_pairs([("a", "1"), ("b", "")]).unwrap();
                let _ = selector.matches(&labels);
            }
            Err(err) => check_refusal(err)?,
        }
    }

    #[test]
    fn expiry_arguments_never_panic(text in prop_oneof![
        any::<String>(),
        "[0-9]{1,30}(ns|us|ms|s|m|h|d|w|y|M)?",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?([Zz]|[+-][0-9]{2}:[0-9]{2})?",
        Just("never".to_string()),
    ]) {
        match addons::expiry::parse_expire(&text, NOW_MS) {
            Ok(addons::expiry::Expiry::At(at)) => {
                prop_assert!(at > NOW_MS && at <= NOW_MS + 366 * 86_400_000, "{text:?} gave {at}")
            }
            Ok(addons::expiry::Expiry::Never) => prop_assert_eq!(text.trim(), "never"),
            Err(err) => check_refusal(err)?,
        }
        match addons::expiry::parse_expires_at(&text, NOW_MS) {
            Ok(at) => prop_assert!(at > NOW_MS && at <= NOW_MS + 366 * 86_400_000, "{text:?} gave {at}"),
            Err(err) => check_refusal(err)?,
        }
    }
}

proptest! {
    #![proptest_config(config_with_cases(500))]

    #[test]
    fn apply_files_never_panic_and_fail_in_one_line(text in prop_oneof![
        any::<String>(),
        "([\\[\\]a-z_.=\" \n0-9{},-]|scope|addon|name|provider|secret|app|labels|params|expires_in){0,60}",
        prop::collection::vec(edit(), 1..6).prop_map(|edits| mutate(VALID_APPLY_FILE, &edits)),
    ]) {
        if let Err(err) = addons::apply::parse(Path::new("addons.toml"), &text) {
            let message = format!("{err:#}");
            prop_assert!(message.starts_with("apply file addons.toml"), "{message}");
            check_refusal(err)?;
        }
    }
}
