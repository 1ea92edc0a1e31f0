//! The dotenv text of an app's config vars (`env --format dotenv` and env files), in a
//! form that python-dotenv, Node's `dotenv` and `sh` (`set -a; . FILE`) all read back
//! exactly, and docker's `--env-file` too where the value needs no quotes.
//!
//! Each value is written in the first of three forms that carries it, with no escapes:
//! - plain, `KEY=value`: only `[A-Za-z0-9]` and `-_.:/@%+,=?[]` (or nothing): every
//!   reader takes it as it is, docker's included;
//! - single-quoted, `KEY='value'`: anything but `'`, where no backslash precedes another
//!   backslash or ends the value (python-dotenv reads `\\` and `\'` as escapes);
//! - double-quoted, `KEY="value"`: anything but `"`, `` ` ``, `\` and `$` (so nothing in
//!   it is special to any reader).
//!
//! Newlines go inside the quotes as they are. A value no form carries (a carriage return
//! or NUL; `${`, which python-dotenv expands whatever the quotes; a `'` together with
//! one of `` "`\$ ``; a backslash before a backslash or at the end) is refused, naming the key.

use crate::addon::ConfigVar;

/// A config var whose value no dotenv form carries to every reader.
#[derive(Debug, thiserror::Error)]
#[error(
    "config var {key} can't be written in dotenv form: its value holds {why}, which python-dotenv, \
     Node's dotenv and sh would not all read back unchanged"
)]
pub struct Unwritable {
    pub key: String,
    pub why: &'static str,
}

/// The dotenv text for a set of vars, one `KEY=value` line (or quoted lines) each.
pub fn render(vars: &[ConfigVar]) -> Result<String, Unwritable> {
    let mut out = String::new();
    for var in vars {
        let value = &var.value;
        let line = match form(value).map_err(|why| Unwritable { key: var.key.clone(), why })? {
            Form::Plain => format!("{}={value}\n", var.key),
            Form::SingleQuoted => format!("{}='{value}'\n", var.key),
            Form::DoubleQuoted => format!("{}=\"{value}\"\n", var.key),
        };
        out += &line;
    }
    Ok(out)
}

/// Whether a value can be written in dotenv form; `Err` says what in it can't be.
pub fn check(value: &str) -> Result<(), &'static str> {
    form(value).map(drop)
}

/// How a value is written.
enum Form {
    Plain,
    SingleQuoted,
    DoubleQuoted,
}

fn form(value: &str) -> Result<Form, &'static str> {
    if value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/@%+,=?[]".contains(&b)) {
        return Ok(Form::Plain);
    }
    if value.contains('\r') {
        return Err("a carriage return");
    }
    if value.contains('\0') {
        return Err("a NUL character");
    }
    if value.contains("${") {
        return Err("\"${\"");
    }
    if !value.contains('\'') {
        if value.contains("\\\\") || value.ends_with('\\') {
            return Err("a backslash before a backslash or at the end");
        }
        return Ok(Form::SingleQuoted);
    }
    if value.contains(['"', '`', '\\', '$']) {
        return Err("a single quote together with one of \" ` \\ $");
    }
    Ok(Form::DoubleQuoted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(key: &str, value: &str) -> ConfigVar {
        ConfigVar { key: key.into(), value: value.into(), addon: None }
    }

    #[test]
    fn each_value_takes_the_first_form_that_carries_it() {
        let text = render(&[
            var("DATABASE_URL", "postgres://u:p@[::1]:5432/d?sslmode=require"),
            var("EMPTY", ""),
            var("GREETING", "hello \"world\" $HOME `x`\nline 2 \\n"),
            var("QUOTE", "it's #1"),
        ])
        .unwrap();
        assert_eq!(
            text,
            "DATABASE_URL=postgres://u:p@[::1]:5432/d?sslmode=require\nEMPTY=\n\
             GREETING='hello \"world\" $HOME `x`\nline 2 \\n'\nQUOTE=\"it's #1\"\n"
        );
    }

    #[test]
    fn values_no_form_carries_are_refused_by_key() {
        for value in ["a\rb", "a\0b", "${HOME}", "it's $HOME", "it's \"x\"", "it's `x`", "it's \\", "a\\\\b", "a\\"] {
            let err = render(&[var("OK", "x"), var("BAD_ONE", value)]).unwrap_err();
            assert_eq!(err.key, "BAD_ONE", "{value:?}");
            assert!(!err.to_string().contains('\n'));
            assert!(check(value).is_err());
        }
    }

    /// docker's `--env-file` (docker/cli pkg/kvfile) takes everything after the first `=`
    /// to the end of the line, without escapes; released versions keep quotes. This models
    /// that rule, not docker itself: every plain line reads back exactly under it.
    #[test]
    fn plain_lines_read_back_under_dockers_env_file_rule() {
        for value in ["", "x", "postgres://u:p@h:5432/d?a=b", "==", "[::1]", "a,b+c%20"] {
            let text = render(&[var("K", value)]).unwrap();
            let line = text.strip_suffix('\n').unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(line.split_once('=').map(|(_, v)| v), Some(value));
        }
    }
}
