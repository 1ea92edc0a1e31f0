//! Database names in SQL text, as a copy must change them: every name qualified by the
//! source database (`src`.t, src.t, `src` . `t`.c) qualified by the copy's instead, read
//! the way the server reads the text (string literals and comments are left as they are).

/// How the server reads a text, from the `sql_mode` it was written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lexing {
    /// `"..."` is a name, not a string (`ANSI_QUOTES`).
    pub ansi_quotes: bool,
    /// `\` escapes the next character in a string (unless `NO_BACKSLASH_ESCAPES`).
    pub backslash_escapes: bool,
}

impl Lexing {
    /// How a text written under `sql_mode` (as `information_schema` spells it) is read.
    pub(super) fn of(sql_mode: &str) -> Lexing {
        let has = |flag: &str| sql_mode.split(',').any(|mode| mode.trim().eq_ignore_ascii_case(flag));
        Lexing { ansi_quotes: has("ANSI_QUOTES"), backslash_escapes: !has("NO_BACKSLASH_ESCAPES") }
    }
}

/// `text` with database `from` as a qualifier replaced by `to`; `None` when `text` names
/// `from` in another way (`SHOW TABLES FROM src`), which no rewriting can point at `to`.
pub(super) fn requalified(text: &str, from: &str, to: &str, lexing: Lexing) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    // The last byte that was not blank or a comment: a name after a '.' is not a database.
    let mut last = b' ';
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        let end = match byte {
            b'\'' => quoted_end(bytes, at, lexing.backslash_escapes),
            b'"' if !lexing.ansi_quotes => quoted_end(bytes, at, lexing.backslash_escapes),
            b'`' | b'"' => {
                let end = quoted_end(bytes, at, false);
                let quote = char::from(byte).to_string();
                let inner = match end > at + 1 && bytes[end - 1] == byte {
                    true => &text[at + 1..end - 1],
                    false => &text[at + 1..end],
                };
                let name = inner.replace(&quote.repeat(2), &quote);
                if !name_of(&name, from, last, &bytes[end..], to, &mut out)? {
                    out.push_str(&text[at..end]);
                }
                last = byte;
                at = end;
                continue;
            }
            b'#' => line_end(bytes, at),
            b'-' if text[at..].starts_with("--") && bytes.get(at + 2).is_none_or(|b| b.is_ascii_whitespace()) => {
                line_end(bytes, at)
            }
            // Executable comments (`/*! ... */`, `/*M! ... */`) hold code: only their marks are skipped.
            b'/' if text[at..].starts_with("/*!") || text[at..].starts_with("/*M!") => {
                let marker = if bytes[at + 2] == b'!' { 3 } else { 4 };
                out.push_str(&text[at..at + marker]);
                at += marker;
                continue;
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => text[at + 2..].find("*/").map_or(bytes.len(), |i| at + i + 4),
            b'@' => {
                // A variable: `@a.b` is one name.
                let end = at + 1 + bytes[at + 1..].iter().take_while(|b| **b == b'@').count();
                let end = end + bytes[end..].iter().take_while(|b| word_byte(**b) || **b == b'.').count();
                out.push_str(&text[at..end]);
                last = b'@';
                at = end;
                continue;
            }
            byte if word_byte(byte) => {
                let end = at + bytes[at..].iter().take_while(|b| word_byte(**b)).count();
                if !name_of(&text[at..end], from, last, &bytes[end..], to, &mut out)? {
                    out.push_str(&text[at..end]);
                }
                last = b'a';
                at = end;
                continue;
            }
            _ => {
                out.push(char::from(byte));
                if !byte.is_ascii_whitespace() {
                    last = byte;
                }
                at += 1;
                continue;
            }
        };
        // A string or a comment, kept as it is.
        out.push_str(&text[at..end]);
        if !matches!(byte, b'#' | b'-' | b'/') {
            last = byte;
        }
        at = end;
    }
    Some(out)
}

/// Handles a name that is `from`: as a qualifier (a '.' follows, none comes before) it is
/// written as `to` (`Some(true)`); anywhere else it can't be pointed at `to` (`None`). Any
/// other name is left to the caller (`Some(false)`).
fn name_of(name: &str, from: &str, last: u8, rest: &[u8], to: &str, out: &mut String) -> Option<bool> {
    if name != from || last == b'.' {
        return Some(false);
    }
    match rest.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'.') => {
            out.push_str(&super::ident(to));
            Some(true)
        }
        _ => None,
    }
}

/// Part of an unquoted name or a number (every byte of a non-ASCII character is).
fn word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// Where the quoted string or name that starts at `start` ends (after its closing quote;
/// a doubled quote is one quote in it).
fn quoted_end(bytes: &[u8], start: usize, backslash_escapes: bool) -> usize {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if backslash_escapes => at += 2,
            byte if byte == quote && bytes.get(at + 1) == Some(&quote) => at += 2,
            byte if byte == quote => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Where the line that `start` is on ends (its newline included).
fn line_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..].iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| start + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: Lexing = Lexing { ansi_quotes: false, backslash_escapes: true };

    fn moved(text: &str) -> Option<String> {
        requalified(text, "addons_a", "addons_b", PLAIN)
    }

    #[test]
    fn qualifiers_move_to_the_copy() {
        assert_eq!(
            moved("select `addons_a`.`t`.`id` from `addons_a`.`t` join addons_a . u").as_deref(),
            Some("select `addons_b`.`t`.`id` from `addons_b`.`t` join `addons_b` . u")
        );
        assert_eq!(moved("DEFAULT nextval(`addons_a`.`s`)").as_deref(), Some("DEFAULT nextval(`addons_b`.`s`)"));
        // A table named like the database, after its qualifier, stays.
        assert_eq!(moved("`addons_a`.`addons_a`.c").as_deref(), Some("`addons_b`.`addons_a`.c"));
        assert_eq!(moved("/*!50001 addons_a.t */").as_deref(), Some("/*!50001 `addons_b`.t */"));
    }

    #[test]
    fn strings_comments_and_variables_stay() {
        let text = "select 'addons_a.t', \"addons_a.t\", 'it\\'s addons_a.t' -- addons_a.t\n# addons_a.t\n\
                    /* addons_a.t */ @addons_a.t, `x``addons_a`.y";
        assert_eq!(moved(text).as_deref(), Some(text));
        // Without backslash escapes, the string ends at the second quote.
        let text = "select 'a\\', addons_a.t";
        let lexing = Lexing { ansi_quotes: false, backslash_escapes: false };
        assert_eq!(requalified(text, "addons_a", "addons_b", lexing).as_deref(), Some("select 'a\\', `addons_b`.t"));
        assert_eq!(moved(text).as_deref(), Some(text));
    }

    #[test]
    fn ansi_quotes_make_names() {
        let lexing = Lexing::of("PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE");
        assert_eq!(lexing, Lexing { ansi_quotes: true, backslash_escapes: true });
        let moved = requalified("select \"addons_a\".\"t\".x", "addons_a", "addons_b", lexing);
        assert_eq!(moved.as_deref(), Some("select `addons_b`.\"t\".x"));
        assert!(!Lexing::of("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES").backslash_escapes);
    }

    #[test]
    fn other_uses_of_the_source_are_refused() {
        assert_eq!(moved("SHOW TABLES FROM addons_a"), None);
        assert_eq!(moved("SHOW TABLES FROM `addons_a`"), None);
        assert_eq!(moved("select addons_ab.t, addons_a_x.t"), Some("select addons_ab.t, addons_a_x.t".into()));
    }

    #[test]
    fn other_text_is_kept_byte_for_byte() {
        let text = "insert into t values ('é ✓', \"q\"\"q\", `n``m`); -- done";
        assert_eq!(moved(text).as_deref(), Some(text));
        assert_eq!(moved("unterminated 'addons_a.t").as_deref(), Some("unterminated 'addons_a.t"));
    }
}
