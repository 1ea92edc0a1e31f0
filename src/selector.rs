//! Label selectors (`--selector` of `list`, `deprovision` and `wait`): the equality-based
//! grammar of `kubectl -l`, parsed and matched against an addon's labels.
//!
//! The grammar is the equality-based part of k8s.io/apimachinery `pkg/labels/selector.go`
//! (`Parse`): requirements separated by `,`, all of which must hold:
//! - `KEY=VALUE` and `KEY==VALUE`: the label is set to VALUE (an empty VALUE included);
//! - `KEY!=VALUE`: the label is not set to VALUE, which includes not being set at all;
//! - `KEY`: the label is set, to any value; `!KEY`: it is not set.
//!
//! Keys and values follow the label rules of [`crate::labels`]. As in Kubernetes, blanks
//! around keys, operators and values are ignored, and a key may appear in several
//! requirements (`a!=1,a!=2`; `a=1,a=2` matches nothing). Two choices differ from Kubernetes,
//! both deliberate: the set-based forms (`in`, `notin`) and `<`/`>` are refused with a message
//! rather than half-supported, and an empty selector is refused instead of selecting every
//! addon, since `deprovision --selector ""` must not remove them all.

use std::fmt;

use crate::error::usage;
use crate::labels::{check_key, check_value, Labels};
use crate::names::shown;

/// What one requirement asks of a label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `KEY=VALUE` (or `KEY==VALUE`).
    Equals { key: String, value: String },
    /// `KEY!=VALUE`.
    NotEquals { key: String, value: String },
    /// `KEY`.
    Exists { key: String },
    /// `!KEY`.
    NotExists { key: String },
}

impl Requirement {
    /// The label key the requirement looks at.
    pub fn key(&self) -> &str {
        match self {
            Requirement::Equals { key, .. }
            | Requirement::NotEquals { key, .. }
            | Requirement::Exists { key }
            | Requirement::NotExists { key } => key,
        }
    }

    /// Whether `labels` meet this requirement (Kubernetes' `Requirement.Matches`).
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::Equals { key, value } => labels.get(key) == Some(value.as_str()),
            Requirement::NotEquals { key, value } => labels.get(key) != Some(value.as_str()),
            Requirement::Exists { key } => labels.contains(key),
            Requirement::NotExists { key } => !labels.contains(key),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Equals { key, value } => write!(f, "{key}={value}"),
            Requirement::NotEquals { key, value } => write!(f, "{key}!={value}"),
            Requirement::Exists { key } => write!(f, "{key}"),
            Requirement::NotExists { key } => write!(f, "!{key}"),
        }
    }
}

/// A parsed `--selector`: one or more requirements, all of which must hold. Displayed in
/// its canonical form (`=` for `==`, blanks dropped), which parses back to the same selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses a selector; a bad one is a usage error naming the requirement and the form
    /// that would be right.
    pub fn parse(text: &str) -> anyhow::Result<Selector> {
        const FORMS: &str = "write KEY=VALUE, KEY!=VALUE, KEY or !KEY, joined by ',' (e.g. branch=feature-x,!keep)";
        if text.trim_matches(is_blank).is_empty() {
            return Err(usage(format!(
                "the selector is empty; {FORMS}. (An empty selector would select every addon, so it is refused.)"
            )));
        }
        if let Some(symbol) = text.chars().find(|c| matches!(c, '(' | ')' | '<' | '>')) {
            return Err(usage(format!(
                "selector {}: '{symbol}' belongs to the set-based (in, notin) or numeric (<, >) forms, which addons does not support; {FORMS}",
                shown(text)
            )));
        }
        let requirements = text
            .split(',')
            .map(|part| parse_requirement(part.trim_matches(is_blank), text, FORMS))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Selector { requirements })
    }

    /// The requirements, in the order given.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an addon with these labels is selected: every requirement holds.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|requirement| requirement.matches(labels))
    }
}

impl std::str::FromStr for Selector {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Selector> {
        Selector::parse(text)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

/// The blanks Kubernetes' selector lexer skips: space, tab, CR and LF.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn parse_requirement(part: &str, whole: &str, forms: &str) -> anyhow::Result<Requirement> {
    if part.is_empty() {
        return Err(usage(format!("selector {} has an empty requirement (a stray ','); {forms}", shown(whole))));
    }
    let (key, operator, value) = if let Some((key, value)) = part.split_once("!=") {
        (key, "!=", Some(value))
    } else if let Some((key, value)) = part.split_once("==") {
        (key, "==", Some(value))
    } else if let Some((key, value)) = part.split_once('=') {
        (key, "=", Some(value))
    } else {
        (part, "", None)
    };
    let key = key.trim_matches(is_blank);
    let Some(value) = value else {
        return match key.strip_prefix('!') {
            Some(key) => {
                let key = key.trim_matches(is_blank);
                check_key(key)?;
                Ok(Requirement::NotExists { key: key.to_string() })
            }
            None => {
                check_key(key)?;
                Ok(Requirement::Exists { key: key.to_string() })
            }
        };
    };
    if key.starts_with('!') {
        return Err(usage(format!(
            "selector requirement {} mixes '!KEY' with '{operator}'; write {}!=VALUE or !{}",
            shown(part),
            key.trim_start_matches('!').trim_matches(is_blank),
            key.trim_start_matches('!').trim_matches(is_blank),
        )));
    }
    let value = value.trim_matches(is_blank);
    check_key(key)?;
    check_value(key, value)?;
    let (key, value) = (key.to_string(), value.to_string());
    Ok(if operator == "!=" { Requirement::NotEquals { key, value } } else { Requirement::Equals { key, value } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied()).unwrap()
    }

    fn err(text: &str) -> String {
        format!("{:#}", Selector::parse(text).unwrap_err())
    }

    #[test]
    fn each_form_parses() {
        let selector = Selector::parse("a=1,b==2,c!=3,d,!e,example.com/f=,g!=").unwrap();
        assert_eq!(
            selector.requirements(),
            [
                Requirement::Equals { key: "a".into(), value: "1".into() },
                Requirement::Equals { key: "b".into(), value: "2".into() },
                Requirement::NotEquals { key: "c".into(), value: "3".into() },
                Requirement::Exists { key: "d".into() },
                Requirement::NotExists { key: "e".into() },
                Requirement::Equals { key: "example.com/f".into(), value: String::new() },
                Requirement::NotEquals { key: "g".into(), value: String::new() },
            ]
        );
        assert_eq!(selector.to_string(), "a=1,b=2,c!=3,d,!e,example.com/f=,g!=");
    }

    #[test]
    fn blanks_around_tokens_are_ignored_as_kubectl_does() {
        let spaced = Selector::parse(" a = 1 ,\tb!= 2 , ! c ,d\n").unwrap();
        assert_eq!(spaced, Selector::parse("a=1,b!=2,!c,d").unwrap());
        assert!(err("a b=1").contains("invalid label key \"a b\""));
        assert!(err("a=1 2").contains("invalid value \"1 2\""));
    }

    #[test]
    fn matching_follows_kubernetes() {
        let addon = labels(&[("branch", "feature-x"), ("team", ""), ("example.com/tier", "db")]);
        let none = Labels::new();
        for (selector, on_addon, on_none) in [
            ("branch=feature-x", true, false),
            ("branch==feature-x", true, false),
            ("branch=main", false, false),
            ("branch!=main", true, true),
            ("branch!=feature-x", false, true),
            ("team=", true, false),
            ("team", true, false),
            ("!team", false, true),
            ("owner", false, false),
            ("!owner", true, true),
            ("example.com/tier=db,branch", true, false),
            ("branch=feature-x,branch=main", false, false),
            ("branch!=a,branch!=b", true, true),
            ("Branch=feature-x", false, false),
        ] {
            let parsed = Selector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&addon), on_addon, "{selector} on the labelled addon");
            assert_eq!(parsed.matches(&none), on_none, "{selector} on an addon without labels");
        }
    }

    #[test]
    fn bad_selectors_say_what_is_right() {
        for (text, expected) in [
            ("", "the selector is empty"),
            (" \t", "the selector is empty"),
            ("a=1,", "empty requirement (a stray ',')"),
            (",a", "empty requirement"),
            ("a,,b", "empty requirement"),
            ("=1", "label key can't be empty"),
            ("!", "label key can't be empty"),
            ("!=1", "label key can't be empty"),
            ("!a=1", "mixes '!KEY' with '='; write a!=VALUE or !a"),
            ("!a!=1", "mixes '!KEY'"),
            ("a=b=c", "invalid value \"b=c\""),
            ("a!=b!=c", "invalid value \"b!=c\""),
            ("a===b", "invalid value \"=b\""),
            ("x in (a,b)", "set-based (in, notin) or numeric (<, >) forms"),
            ("x notin (a)", "set-based"),
            ("n>3", "'>'"),
            ("a=ä", "invalid value"),
            ("a\0=b", "invalid label key"),
            ("a=b\nc", "invalid value"),
            ("a/b/c=1", "at most one '/'"),
        ] {
            let message = err(text);
            assert!(message.contains(expected), "{text:?}: {message}");
            assert!(!message.contains('\n') && !message.contains('\0'), "{text:?}: {message}");
        }
        let long = err(&format!("{}=1", "k".repeat(100_000)));
        assert!(long.len() < 400, "{long}");
    }

    #[test]
    fn the_display_form_parses_back() {
        for text in ["a=1", "a==1", " a = 1 ", "!a", "a", "a!=", "x.io/a=1,!b,c!=d", "a=1,a=2"] {
            let parsed = Selector::parse(text).unwrap();
            assert_eq!(Selector::parse(&parsed.to_string()).unwrap(), parsed, "{text}");
        }
        // A label set's text is a selector that matches exactly it and its supersets.
        let set = labels(&[("a", "1"), ("b", "")]);
        let selector: Selector = set.to_string().parse().unwrap();
        assert!(selector.matches(&set));
        assert!(!selector.matches(&labels(&[("a", "1")])));
    }
}
