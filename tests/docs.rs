//! Keeps the docs true: the state diagram in ARCHITECTURE.md is the one the binary
//! prints; the README names every subcommand; docs/contract.md's tables (states,
//! transitions, events, exit codes, addon JSON fields, config keys) are the code's;
//! docs/providers.md names every operation of the `Provider` trait and of each capability
//! trait, and every field of the registry entry; every link between the docs leads
//! somewhere; and no comment points outside the repo.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use addons::error::Exit;
use addons::machine::{Event, State, START, TRANSITIONS};
use serde_json::Value;

fn addons(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_addons")).args(args).env_clear().output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The part of `doc` under the heading line `heading`, up to the next heading of the same
/// level or above.
fn section<'a>(doc: &'a str, heading: &str) -> &'a str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = doc.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("no heading {heading:?}")) + 1;
    let body = &doc[start + heading.len()..];
    let end = body
        .match_indices('\n')
        .map(|(at, _)| at + 1)
        .find(|&at| {
            let hashes = body[at..].chars().take_while(|c| *c == '#').count();
            (1..=level).contains(&hashes) && body[at + hashes..].starts_with(' ')
        })
        .unwrap_or(body.len());
    &body[..end]
}

/// The body rows of the first table in `text`, each as its cells (an escaped `\|` stays
/// in its cell).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> =
        text.lines().skip_while(|line| !line.starts_with('|')).take_while(|line| line.starts_with('|')).collect();
    assert!(lines.len() > 2, "no table in:\n{text}");
    lines[2..]
        .iter()
        .map(|line| {
            let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
            let mut cells = vec![String::new()];
            let mut escaped = false;
            for c in inner.chars() {
                match (c, escaped) {
                    ('|', false) => cells.push(String::new()),
                    _ => cells.last_mut().unwrap().push(c),
                }
                escaped = c == '\\';
            }
            cells.iter().map(|cell| cell.trim().to_string()).collect()
        })
        .collect()
}

/// The `quoted` words of a cell, in order.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The one `quoted` word of a cell.
fn one_ticked(cell: &str) -> String {
    let words = ticked(cell);
    assert_eq!(words.len(), 1, "expected one `word` in {cell:?}");
    words[0].clone()
}

#[test]
fn architecture_shows_the_state_diagram_the_binary_prints() {
    let mermaid = addons(&["graph", "--format", "mermaid"]);
    assert!(
        read("ARCHITECTURE.md").contains(&mermaid),
        "ARCHITECTURE.md's diagram differs from `addons graph --format mermaid`:\n{mermaid}"
    );
}

#[test]
fn readme_names_every_subcommand() {
    let readme = read("README.md");
    let help = addons(&["--help"]);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert!(commands.len() >= 14, "{commands:?}");
    for command in commands {
        assert!(readme.contains(&format!("  {command}")), "README.md does not list `{command}`");
    }
}

#[test]
fn the_contracts_states_and_transitions_are_the_ones_the_binary_runs() {
    let doc = read("docs/contract.md");
    let states: Vec<String> = table_rows(section(&doc, "### States")).iter().map(|row| one_ticked(&row[0])).collect();
    let known: Vec<&str> = State::ALL.iter().map(|state| state.as_str()).collect();
    assert_eq!(states, known, "docs/contract.md's states are not the code's");

    let transitions = section(&doc, "### Transitions");
    let (event, first) = START;
    let creation = format!("The creation is the event `{event}`, into `{first}`.");
    assert!(transitions.contains(&creation), "docs/contract.md does not say: {creation}");
    let documented: Vec<(String, String, String)> = table_rows(transitions)
        .iter()
        .map(|row| (one_ticked(&row[0]), one_ticked(&row[1]), one_ticked(&row[2])))
        .collect();
    let graph: Value = serde_json::from_str(&addons(&["graph", "--json"])).unwrap();
    let drawn: Vec<(String, String, String)> = graph["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["from"].as_str().unwrap().into(), t["event"].as_str().unwrap().into(), t["to"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(documented, drawn, "docs/contract.md's transitions are not what `addons graph --json` prints");
    assert_eq!(drawn.len(), TRANSITIONS.len());
}

/// The events recorded in an addon's log that are not transitions: the machine's events
/// that no row of the table (nor the creation) takes, and the store's upkeep events.
fn recorded_events_that_are_not_transitions() -> BTreeSet<String> {
    let mut events: BTreeSet<String> = Event::ALL
        .into_iter()
        .filter(|event| *event != START.0 && TRANSITIONS.iter().all(|(_, taken, _)| taken != event))
        .map(|event| event.as_str().to_string())
        .collect();
    use addons::store::{ATTACH, ATTACHED, DETACH, DETACHED, DRIFT, FAILED_ATTEMPT, HOOK, REPAIRED, REVOKED, ROTATED};
    for event in [FAILED_ATTEMPT, ROTATED, REVOKED, ATTACH, ATTACHED, DETACH, DETACHED, DRIFT, REPAIRED, HOOK] {
        events.insert(event.to_string());
    }
    // `rotate` is the store's own constant, not exported: read it where it is declared.
    let rotation = read("src/store/rotation.rs");
    let declared = "pub const ROTATE: &str = \"";
    let at = rotation.find(declared).expect("src/store/rotation.rs declares ROTATE") + declared.len();
    events.insert(rotation[at..].split('"').next().unwrap().to_string());
    events
}

#[test]
fn the_contracts_events_are_the_ones_the_log_records() {
    let doc = read("docs/contract.md");
    let documented: BTreeSet<String> = table_rows(section(&doc, "### Events that are not transitions"))
        .iter()
        .map(|row| one_ticked(&row[0]))
        .collect();
    assert_eq!(documented, recorded_events_that_are_not_transitions(), "docs/contract.md's events");
}

#[test]
fn the_contracts_exit_codes_are_the_ones_addons_exits_with() {
    let doc = read("docs/contract.md");
    let documented: BTreeSet<i32> = table_rows(section(&doc, "## Exit codes"))
        .iter()
        .flat_map(|row| row[0].split(", ").map(|code| code.parse::<i32>().unwrap()).collect::<Vec<_>>())
        .collect();
    // Every code addons exits with is an `Exit`: a new one fails here until it is documented.
    let known: BTreeSet<i32> = Exit::ALL.iter().map(|exit| i32::from(exit.code())).collect();
    assert_eq!(documented, known, "docs/contract.md's exit codes are not the ones addons exits with");

    let main = read("src/main.rs");
    assert!(
        main.contains(
            "[(signal_hook::consts::SIGINT, Exit::Interrupted), (signal_hook::consts::SIGTERM, Exit::Terminated)]"
        ),
        "main.rs ends on SIGINT and SIGTERM with their exit codes"
    );
    assert!(
        main.contains("std::process::exit(Exit::ReaderGone.code().into())"),
        "main.rs ends on a closed stdout with 141"
    );
    assert_eq!(i32::from(Exit::Interrupted.code()), 128 + libc::SIGINT);
    assert_eq!(i32::from(Exit::Terminated.code()), 128 + libc::SIGTERM);
    assert_eq!(i32::from(Exit::ReaderGone.code()), 128 + libc::SIGPIPE);
}

/// The fields docs/contract.md's addon table lists, by where they are printed
/// ("every addon object", "`provision`", ...).
fn documented_addon_fields() -> BTreeMap<String, BTreeSet<String>> {
    let doc = read("docs/contract.md");
    let mut fields: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in table_rows(section(&doc, "### An addon")) {
        fields.entry(row[1].clone()).or_default().insert(one_ticked(&row[0]));
    }
    fields
}

/// Runs the binary on a state in `dir`, with a clean environment.
fn addons_in(dir: &Path, args: &[&str]) -> Value {
    let state = dir.join("state.db");
    let out = Command::new(env!("CARGO_BIN_EXE_addons"))
        .arg("--state")
        .arg(&state)
        .args(args)
        .env_clear()
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn keys(doc: &Value) -> BTreeSet<String> {
    doc.as_object().unwrap_or_else(|| panic!("not an object: {doc}")).keys().cloned().collect()
}

#[test]
fn the_contracts_addon_fields_are_the_ones_printed() {
    let fields = documented_addon_fields();
    let places: Vec<&str> = fields.keys().map(String::as_str).collect();
    assert_eq!(places, ["`info`", "`list APP`", "`provision`", "every addon object"], "where the fields are printed");
    let every = &fields["every addon object"];
    let with = |place: &str| every.union(&fields[place]).cloned().collect::<BTreeSet<String>>();

    let dir = tempfile::tempdir().unwrap();
    let made = addons_in(dir.path(), &["provision", "secret", "doc-app", "--name", "doc-key", "--json"]);
    assert_eq!(keys(&made), with("`provision`"), "`provision --json` against docs/contract.md");
    let info = addons_in(dir.path(), &["info", "doc-key", "--json"]);
    assert_eq!(keys(&info), with("`info`"), "`info --json` against docs/contract.md");
    let listed = addons_in(dir.path(), &["list", "doc-app", "--json"]);
    assert_eq!(keys(&listed[0]), with("`list APP`"), "`list APP --json` against docs/contract.md");
    let labelled = addons_in(dir.path(), &["label", "doc-key", "team=docs", "--json"]);
    assert_eq!(&keys(&labelled), every, "`label --json` prints every addon object's fields");
}

/// The keys the config file takes in `table` (a dotted path), as its refusal of an
/// unknown key lists them.
fn config_keys(table: &str) -> BTreeSet<String> {
    let text = match table {
        "" => "no_such_key_for_the_docs = 1\n".to_string(),
        _ => format!("[{table}]\nno_such_key_for_the_docs = 1\n"),
    };
    // Each provider reads its own table, as the binary does after the rest of the file.
    let read = addons::config::parse(Path::new("docs.toml"), &text)
        .and_then(|settings| addons::providers::configure(&settings));
    let err = read.expect_err(&text);
    let message = format!("{err:#}");
    assert!(message.contains("unknown field `no_such_key_for_the_docs`"), "{message}");
    match message.split_once("expected") {
        Some((_, expected)) => ticked(expected).into_iter().collect(),
        None if message.contains("there are no fields") => BTreeSet::new(),
        None => panic!("no list of keys in: {message}"),
    }
}

#[test]
fn the_contracts_config_keys_are_the_ones_the_config_file_takes() {
    let doc = read("docs/contract.md");
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in table_rows(section(&doc, "## Config file")) {
        let key = one_ticked(&row[0]);
        let (table, name) = key.rsplit_once('.').unwrap_or_else(|| panic!("{key} names no table"));
        documented.entry(table.replace(".NAME", ".x")).or_default().insert(name.to_string());
    }
    let tops: BTreeSet<String> = documented.keys().map(|table| table.split('.').next().unwrap().to_string()).collect();
    assert_eq!(tops, config_keys(""), "the config file's tables");

    let mut tables = vec!["engine".to_string(), "state".to_string(), "backups".to_string(), "apps.x".to_string()];
    // The contract describes a release build: its providers, not those compiled in for tests.
    tables.extend(crate::common::providers::released().iter().map(|info| format!("providers.{}", info.name)));
    for table in &tables {
        let taken = config_keys(table);
        let listed = documented.remove(table).unwrap_or_default();
        assert_eq!(listed, taken, "docs/contract.md's keys of [{table}]");
    }
    assert!(documented.is_empty(), "docs/contract.md lists tables the config file does not take: {documented:?}");
}

/// The names of the items a Rust block of `source` declares with `marker` (`fn `, `pub `):
/// the block opened by the line starting `head` and closed by a `}` line of its own.
fn declared(source: &str, head: &str, marker: &str) -> Vec<String> {
    let start = source.find(head).unwrap_or_else(|| panic!("no {head}"));
    let block = &source[start..start + source[start..].find("\n}\n").unwrap()];
    block
        .lines()
        .skip(1)
        .filter_map(|line| line.trim_start().strip_prefix(marker))
        .map(|rest| rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap().to_string())
        .collect()
}

/// The one `quoted` word of each heading of `text` that starts with `marker` (`### `).
fn ticked_headings(text: &str, marker: &str) -> Vec<String> {
    text.lines().filter_map(|line| line.strip_prefix(marker)).map(one_ticked).collect()
}

#[test]
fn the_provider_doc_names_every_operation_and_every_field_of_the_entry() {
    let source = read("src/providers/mod.rs");
    let doc = read("docs/providers.md");
    let operations = declared(&source, "pub trait Provider: ", "fn ");
    let headings = ticked_headings(section(&doc, "## The operations"), "### ");
    assert_eq!(headings, operations, "docs/providers.md's operations, in the trait's order");

    // Each capability a provider may opt into: a trait of its own, its operations under
    // a heading of its own.
    let traits: Vec<String> = source
        .lines()
        .filter_map(|line| line.strip_prefix("pub trait ")?.strip_suffix(": Send + Sync {"))
        .filter(|name| *name != "Provider")
        .map(str::to_string)
        .collect();
    let documented = ticked_headings(section(&doc, "## The capabilities"), "### ");
    assert_eq!(documented, traits, "docs/providers.md's capabilities, in the source's order");
    for capability in &traits {
        let operations = declared(&source, &format!("pub trait {capability}: "), "fn ");
        let headings = ticked_headings(section(&doc, &format!("### The `{capability}` capability")), "#### ");
        assert_eq!(headings, operations, "docs/providers.md's operations of {capability}, in the trait's order");
    }

    let fields = declared(&source, "pub struct ProviderInfo {", "pub ");
    let rows: Vec<String> =
        table_rows(section(&doc, "## The registry entry")).iter().map(|row| one_ticked(&row[0])).collect();
    assert_eq!(rows, fields, "docs/providers.md's registry entry, in the struct's order");
}

/// The anchors GitHub gives the headings of a markdown file (code blocks left out).
fn anchors(doc: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut fenced = false;
    let mut anchors = BTreeSet::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else { continue };
        let title = heading.trim_start_matches('#').trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let count = seen.entry(slug.clone()).or_default();
        anchors.insert(if *count == 0 { slug.clone() } else { format!("{slug}-{count}") });
        *count += 1;
    }
    anchors
}

/// Every markdown file of the docs: the README, ARCHITECTURE.md and docs/.
fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![repo().join("README.md"), repo().join("ARCHITECTURE.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "md") {
            files.push(path);
        }
    }
    files
}

#[test]
fn every_link_between_the_docs_leads_somewhere() {
    let mut broken = Vec::new();
    let mut links = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let target = &rest[..rest.find(')').unwrap()];
            if target.contains("://") || target.contains(' ') {
                continue;
            }
            links += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
            let linked = match path {
                "" => file.clone(),
                _ => file.parent().unwrap().join(path),
            };
            let shown = format!("{}: ({target})", file.strip_prefix(repo()).unwrap().display());
            if !linked.exists() {
                broken.push(format!("{shown}: no such file"));
            } else if !anchor.is_empty() && !anchors(&std::fs::read_to_string(&linked).unwrap()).contains(anchor) {
                broken.push(format!("{shown}: no such heading"));
            }
        }
    }
    assert!(links >= 20, "only {links} links found");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_comment_in_the_code_points_outside_the_repo() {
    // Spelt in two pieces, so that this file does not name them itself.
    let outside = [concat!("DESIGN", ".md"), concat!("../", "shared")];
    let mut found = Vec::new();
    for file in rust_files(&repo().join("src")).into_iter().chain(rust_files(&repo().join("tests"))) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if outside.iter().any(|name| line.contains(name)) {
                found.push(format!("{}:{}: {}", file.strip_prefix(repo()).unwrap().display(), number + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "comments that point outside the repo (use docs/ instead):\n{}", found.join("\n"));
}
