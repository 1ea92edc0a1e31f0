//! Labels on addons: the key and value rules (Kubernetes' own), the label set, and the
//! `KEY=VALUE` / `KEY-` arguments of `provision --label` and `addons label`.
//!
//! The rules are those of Kubernetes labels, so that what a user knows from `kubectl label`
//! holds here (k8s.io/apimachinery `pkg/util/validation/validation.go`, `IsQualifiedName` and
//! `IsValidLabelValue`; documented at
//! <https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set>):
//! - a key is an optional prefix and `/`, then a name. The name is 1 to 63 characters of
//!   `[a-zA-Z0-9]`, `-`, `_` and `.`, beginning and ending with `[a-zA-Z0-9]`
//!   (`([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`). The prefix is a DNS subdomain (RFC 1123): at
//!   most 253 characters, dot-separated parts of `[a-z0-9]` and `-`, each beginning and ending
//!   with `[a-z0-9]` (`[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`).
//!   A key with more than one `/` is refused.
//! - a value is empty, or 1 to 63 characters with the same rules as a key's name.
//!
//! Kubernetes sets no limit on how many labels an object has beyond its total size;
//! `addons` keeps at most [`MAX_LABELS`] per addon, so a script gone wrong can't swell the state.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::usage;
use crate::names::shown;

/// The label `apply` puts on every addon it makes, set to the file's `scope`; `apply --prune`
/// removes only addons that carry it with that value.
pub const SCOPE_LABEL: &str = "addons/scope";

/// Keys under this prefix are set by `addons` itself, never by a user's `--label`,
/// `addons label` or an apply file's `labels`; selectors may read them.
const RESERVED_PREFIX: &str = "addons/";

/// How many labels one addon may carry (`addons`' own limit, not Kubernetes').
pub const MAX_LABELS: usize = 64;

/// Longest name part of a key, and longest value (Kubernetes' `qualifiedNameMaxLength`
/// and `LabelValueMaxLength`).
const NAME_MAX: usize = 63;
/// Longest key prefix (Kubernetes' `DNS1123SubdomainMaxLength`).
const PREFIX_MAX: usize = 253;
/// A DNS label within the prefix (RFC 1123).
const DNS_LABEL_MAX: usize = 63;

const KEY_EXAMPLE: &str = "e.g. branch or example.com/branch";
const VALUE_EXAMPLE: &str = "e.g. feature-x";

/// Why a key or value was refused: the rule it broke, written so the message says
/// what would be right.
fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some(format!("a label key can't be empty ({KEY_EXAMPLE})"));
    }
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, rest)) if rest.contains('/') => {
            return Some(format!("a label key has at most one '/', between its prefix and its name ({KEY_EXAMPLE})"))
        }
        Some((prefix, name)) => (Some(prefix), name),
    };
    if let Some(prefix) = prefix {
        if let Some(problem) = prefix_problem(prefix) {
            return Some(problem);
        }
    }
    if name.is_empty() {
        return Some(format!("the name after the '/' can't be empty ({KEY_EXAMPLE})"));
    }
    if name.len() > NAME_MAX {
        return Some(format!(
            "the name part of a label key is at most {NAME_MAX} characters, not {} ({KEY_EXAMPLE})",
            name.chars().count()
        ));
    }
    if !is_qualified_name(name) {
        return Some(format!(
            "a label key's name is letters, digits, '-', '_' and '.', beginning and ending with a letter or digit ({KEY_EXAMPLE})"
        ));
    }
    None
}

fn prefix_problem(prefix: &str) -> Option<String> {
    const RULE: &str = "a label key's prefix (before the '/') is a DNS subdomain: lowercase letters, digits, '-' and '.', each dot-separated part beginning and ending with a letter or digit";
    if prefix.is_empty() {
        return Some(format!("the prefix before the '/' can't be empty; leave out the '/' or write {KEY_EXAMPLE}"));
    }
    if prefix.len() > PREFIX_MAX {
        return Some(format!(
            "a label key's prefix is at most {PREFIX_MAX} characters, not {}",
            prefix.chars().count()
        ));
    }
    let valid = prefix.split('.').all(|part| {
        !part.is_empty()
            && part.len() <= DNS_LABEL_MAX
            && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !part.starts_with('-')
            && !part.ends_with('-')
    });
    (!valid).then(|| format!("{RULE} (e.g. example.com/branch)"))
}

fn value_problem(value: &str) -> Option<String> {
    if value.len() > NAME_MAX {
        return Some(format!(
            "a label value is at most {NAME_MAX} characters, not {} ({VALUE_EXAMPLE})",
            value.chars().count()
        ));
    }
    if !value.is_empty() && !is_qualified_name(value) {
        return Some(format!(
            "a label value is empty, or letters, digits, '-', '_' and '.', beginning and ending with a letter or digit ({VALUE_EXAMPLE})"
        ));
    }
    None
}

/// Kubernetes' `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, for a non-empty string.
fn is_qualified_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else { return false };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks a label key; the error names the key and says what a key looks like.
pub fn check_key(key: &str) -> anyhow::Result<()> {
    match key_problem(key) {
        None => Ok(()),
        Some(problem) => Err(usage(format!("invalid label key {}: {problem}", shown(key)))),
    }
}

/// Checks a label value; the error names the label and says what a value looks like.
pub fn check_value(key: &str, value: &str) -> anyhow::Result<()> {
    match value_problem(value) {
        None => Ok(()),
        Some(problem) => Err(usage(format!("invalid value {} for label {}: {problem}", shown(value), shown(key)))),
    }
}

/// The labels of one addon: valid keys and values only, at most [`MAX_LABELS`], kept in key
/// order so that output and comparisons are stable. In JSON, an object of strings (`{}` when
/// there are none); reading one checks every label, so a damaged or hand-edited state can't
/// smuggle in a label the commands would refuse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>", into = "BTreeMap<String, String>")]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels::default()
    }

    /// A label set from pairs, each checked; a key given twice is refused.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<Self> {
        let mut labels = Labels::new();
        for (key, value) in pairs {
            let (key, value) = (key.into(), value.into());
            if labels.0.contains_key(&key) {
                return Err(usage(format!("label {key} is given twice; give it once")));
            }
            labels.insert(key, value)?;
        }
        Ok(labels)
    }

    /// Sets one label after checking it.
    pub fn insert(&mut self, key: String, value: String) -> anyhow::Result<()> {
        check_key(&key)?;
        check_value(&key, &value)?;
        if !self.0.contains_key(&key) && self.0.len() >= MAX_LABELS {
            return Err(usage(format!(
                "can't add label {key}: an addon carries at most {MAX_LABELS} labels; remove one first (KEY-)"
            )));
        }
        self.0.insert(key, value);
        Ok(())
    }

    /// The value of a label, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether a label is set (to any value, the empty one included).
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// The labels in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether the addon has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many labels the addon has.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// These labels with `edits` made, all or nothing: the first bad edit is the error and
    /// `self` is left as it was. What `addons label` does.
    pub fn edited(&self, edits: &[LabelEdit]) -> anyhow::Result<Labels> {
        let mut labels = self.clone();
        for edit in edits {
            match edit {
                LabelEdit::Set { key, value } => labels.insert(key.clone(), value.clone())?,
                LabelEdit::Remove { key } => {
                    labels.0.remove(key);
                }
            }
        }
        Ok(labels)
    }

    /// The changes that turn `self` into `target`: labels to set (new or with another value),
    /// then labels to remove; each list in key order.
    pub fn changes_to(&self, target: &Labels) -> Vec<LabelEdit> {
        let set = target
            .iter()
            .filter(|(key, value)| self.get(key) != Some(value))
            .map(|(key, value)| LabelEdit::Set { key: key.to_string(), value: value.to_string() });
        let removed =
            self.0.keys().filter(|key| !target.contains(key)).map(|key| LabelEdit::Remove { key: key.clone() });
        set.chain(removed).collect()
    }
}

impl TryFrom<BTreeMap<String, String>> for Labels {
    type Error = String;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        Labels::from_pairs(map).map_err(|err| format!("{err:#}"))
    }
}

impl From<Labels> for BTreeMap<String, String> {
    fn from(labels: Labels) -> Self {
        labels.0
    }
}

/// `k=v,k2=v2`: the form `list -o wide` shows and a selector reads back.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

/// One argument of `addons label`: set a label, or (`KEY-`, as `kubectl label` writes it)
/// remove one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelEdit {
    Set { key: String, value: String },
    Remove { key: String },
}

impl LabelEdit {
    /// The label the edit sets or removes.
    pub fn key(&self) -> &str {
        match self {
            LabelEdit::Set { key, .. } | LabelEdit::Remove { key } => key,
        }
    }
}

impl fmt::Display for LabelEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelEdit::Set { key, value } => write!(f, "{key}={value}"),
            LabelEdit::Remove { key } => write!(f, "{key}-"),
        }
    }
}

/// Checks a key a user sets or removes: a valid key, and not one of the `addons/` keys
/// that `addons` itself sets (so `apply`'s scope can't be forged or stripped by hand).
pub fn check_user_key(key: &str) -> anyhow::Result<()> {
    check_key(key)?;
    if key.starts_with(RESERVED_PREFIX) {
        return Err(usage(format!(
            "label {} is set by addons itself ({SCOPE_LABEL} comes from an apply file's scope); use a key without the {RESERVED_PREFIX} prefix",
            shown(key)
        )));
    }
    Ok(())
}

/// Parses a `--label KEY=VALUE` argument of `provision`. The value may be empty (`KEY=`),
/// as in Kubernetes.
pub fn parse_label(arg: &str) -> anyhow::Result<(String, String)> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(usage(format!("label {} is not KEY=VALUE; write e.g. --label branch=feature-x", shown(arg))));
    };
    check_user_key(key)?;
    check_value(key, value)?;
    Ok((key.to_string(), value.to_string()))
}

/// Parses the `KEY=VALUE` and `KEY-` arguments of `addons label`. A key named twice (set
/// twice, or set and removed) is refused, as `kubectl label` refuses it: which one was
/// meant is not for `addons` to guess.
pub fn parse_edits<S: AsRef<str>>(args: &[S]) -> anyhow::Result<Vec<LabelEdit>> {
    let mut edits: Vec<LabelEdit> = Vec::with_capacity(args.len());
    for arg in args {
        let arg = arg.as_ref();
        let edit = if arg.contains('=') {
            let (key, value) = parse_label(arg)?;
            LabelEdit::Set { key, value }
        } else if let Some(key) = arg.strip_suffix('-') {
            check_user_key(key)?;
            LabelEdit::Remove { key: key.to_string() }
        } else {
            return Err(usage(format!(
                "label {} is neither KEY=VALUE (to set it) nor KEY- (to remove it); write e.g. branch=feature-x or branch-",
                shown(arg)
            )));
        };
        if edits.iter().any(|earlier| earlier.key() == edit.key()) {
            return Err(usage(format!("label {} is named twice; set or remove each label once", edit.key())));
        }
        edits.push(edit);
    }
    Ok(edits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(result: anyhow::Result<impl fmt::Debug>) -> String {
        format!("{:#}", result.unwrap_err())
    }

    #[test]
    fn keys_kubernetes_accepts() {
        for ok in [
            "a",
            "Z",
            "9",
            "branch",
            "MyName",
            "my.name",
            "123-abc",
            "a_b",
            "a-b.c_d",
            "example.com/branch",
            "a/b",
            "k8s.io/Name",
            "x-1.y-2/z",
            &"n".repeat(63),
            &format!("{}/n", "p".repeat(63)),
            &format!(
                "{}/{}",
                ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61)].join("."),
                "n".repeat(63)
            ),
        ] {
            assert!(check_key(ok).is_ok(), "{ok}: {}", err(check_key(ok)));
        }
    }

    #[test]
    fn keys_kubernetes_refuses() {
        for bad in [
            "",
            "-a",
            "a-",
            ".a",
            "a.",
            "_a",
            "a_",
            "a b",
            "a=b",
            "a\0b",
            "a\nb",
            "ä",
            "brañch",
            "a,b",
            "!a",
            &"n".repeat(64),
            "/a",
            "a/",
            "a/b/c",
            "Example.com/a",
            "example..com/a",
            "-example.com/a",
            "example-.com/a",
            "exa_mple.com/a",
            ".example.com/a",
            "example.com./a",
            &format!("{}/n", "p".repeat(64)),
            &format!("{}/n", ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(62)].join(".")),
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_kubernetes_accepts_and_refuses() {
        for ok in ["", "v", "feature-x", "Feature_X.1", &"v".repeat(63)] {
            assert!(check_value("k", ok).is_ok(), "{ok}");
        }
        for bad in ["-v", "v-", " v", "v v", "a=b", "a/b", "a,b", "\0", "\n", "é", &"v".repeat(64)] {
            assert!(check_value("k", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_message_names_the_label_and_what_is_right() {
        assert_eq!(
            err(check_key("a/b/c")),
            "invalid label key \"a/b/c\": a label key has at most one '/', between its prefix and its name (e.g. branch or example.com/branch)"
        );
        assert_eq!(
            err(parse_label("branch=feature x")),
            "invalid value \"feature x\" for label \"branch\": a label value is empty, or letters, digits, '-', '_' and '.', beginning and ending with a letter or digit (e.g. feature-x)"
        );
        assert!(err(check_key("Example.com/a")).contains("DNS subdomain"));
        assert!(err(check_key(&"n".repeat(64))).contains("at most 63 characters, not 64"));
        assert!(err(check_value("k", &"v".repeat(70))).contains("at most 63 characters, not 70"));
        assert!(err(check_key("")).contains("can't be empty"));
        // Hostile input is escaped and cut short: the message stays one line.
        for hostile in ["a\nb=c", "x\0=1", &format!("{}=v", "k".repeat(5000)), "a=b\nc"] {
            let message = err(parse_label(hostile));
            assert!(!message.contains('\n') && !message.contains('\0') && message.len() < 400, "{message}");
        }
    }

    #[test]
    fn label_arguments() {
        assert_eq!(parse_label("branch=feature-x").unwrap(), ("branch".into(), "feature-x".into()));
        assert_eq!(parse_label("empty=").unwrap(), ("empty".into(), String::new()));
        assert!(err(parse_label("branch")).contains("is not KEY=VALUE"));
        assert!(err(parse_label("=v")).contains("can't be empty"));
        // '=' in a value is not a label character, so it is refused rather than split oddly.
        assert!(err(parse_label("a=b=c")).contains("invalid value \"b=c\""));
    }

    #[test]
    fn addons_own_keys_are_not_for_users() {
        assert!(err(parse_label("addons/scope=x")).contains("is set by addons itself"));
        assert!(err(parse_edits(&["addons/scope-"])).contains("is set by addons itself"));
        assert!(err(parse_edits(&["addons/other=1"])).contains("is set by addons itself"));
        // A look-alike prefix is an ordinary key; the label itself is set by apply through insert.
        assert!(parse_label("addons.dev/scope=x").is_ok());
        let mut labels = Labels::new();
        labels.insert(SCOPE_LABEL.into(), "ci-pr-123".into()).unwrap();
        assert_eq!(labels.get(SCOPE_LABEL), Some("ci-pr-123"));
    }

    #[test]
    fn edit_arguments() {
        let edits = parse_edits(&["a=1", "b-", "example.com/c="]).unwrap();
        assert_eq!(
            edits,
            [
                LabelEdit::Set { key: "a".into(), value: "1".into() },
                LabelEdit::Remove { key: "b".into() },
                LabelEdit::Set { key: "example.com/c".into(), value: String::new() },
            ]
        );
        assert_eq!(edits.iter().map(ToString::to_string).collect::<Vec<_>>(), ["a=1", "b-", "example.com/c="]);
        assert!(err(parse_edits(&["a"])).contains("neither KEY=VALUE"));
        assert!(err(parse_edits(&["-"])).contains("can't be empty"));
        assert!(err(parse_edits(&["a--"])).contains("invalid label key \"a-\""));
        assert!(err(parse_edits(&["a=1", "a=2"])).contains("named twice"));
        assert!(err(parse_edits(&["a=1", "a-"])).contains("named twice"));
        assert!(parse_edits::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn edits_apply_all_or_nothing() {
        let labels = Labels::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        let edited = labels.edited(&parse_edits(&["a=9", "b-", "c="]).unwrap()).unwrap();
        assert_eq!(edited, Labels::from_pairs([("a", "9"), ("c", "")]).unwrap());
        // Removing a label that is not there is no error (kubectl says "not found" and goes on).
        assert_eq!(labels.edited(&[LabelEdit::Remove { key: "zz".into() }]).unwrap(), labels);
        let bad = [
            LabelEdit::Set { key: "ok".into(), value: "1".into() },
            LabelEdit::Set { key: "-".into(), value: "".into() },
        ];
        assert!(labels.edited(&bad).is_err());
        assert_eq!(labels.len(), 2);
    }

    #[test]
    fn at_most_max_labels() {
        let full = Labels::from_pairs((0..MAX_LABELS).map(|i| (format!("k{i}"), "v"))).unwrap();
        assert_eq!(full.len(), MAX_LABELS);
        assert!(err(full.edited(&parse_edits(&["one-more=1"]).unwrap())).contains("at most 64 labels"));
        // Changing or removing one is fine when full.
        assert!(full.edited(&parse_edits(&["k0=2", "k1-"]).unwrap()).is_ok());
        assert!(Labels::from_pairs((0..=MAX_LABELS).map(|i| (format!("k{i}"), "v"))).is_err());
    }

    #[test]
    fn json_round_trip_and_checks() {
        let labels = Labels::from_pairs([("example.com/b", "x"), ("a", "")]).unwrap();
        let json = serde_json::to_string(&labels).unwrap();
        assert_eq!(json, r#"{"a":"","example.com/b":"x"}"#);
        assert_eq!(serde_json::from_str::<Labels>(&json).unwrap(), labels);
        assert_eq!(serde_json::to_string(&Labels::new()).unwrap(), "{}");
        let bad = serde_json::from_str::<Labels>(r#"{"a b":"x"}"#).unwrap_err().to_string();
        assert!(bad.contains("invalid label key \"a b\""), "{bad}");
        assert!(serde_json::from_str::<Labels>(r#"{"a":1}"#).is_err());
        // JSON with a key twice: the last one wins in serde_json's map, as elsewhere.
        assert_eq!(serde_json::from_str::<Labels>(r#"{"a":"1","a":"2"}"#).unwrap().get("a"), Some("2"));
    }

    #[test]
    fn changes_between_label_sets() {
        let live = Labels::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
        let wanted = Labels::from_pairs([("a", "1"), ("b", "9"), ("d", "")]).unwrap();
        let changes: Vec<String> = live.changes_to(&wanted).iter().map(ToString::to_string).collect();
        assert_eq!(changes, ["b=9", "d=", "c-"]);
        assert_eq!(live.edited(&live.changes_to(&wanted)).unwrap(), wanted);
        assert!(wanted.changes_to(&wanted).is_empty());
        assert_eq!(live.to_string(), "a=1,b=2,c=3");
        assert_eq!(Labels::new().to_string(), "");
    }
}
