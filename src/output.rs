//! What commands print: aligned tables for people, JSON documents for scripts, and
//! the masking that keeps secret values out of both.

use std::io::IsTerminal;

use serde_json::{json, Value};

use crate::addon::Addon;
use crate::store::{ConfigVar, Outcome};

/// Formats a time (ms since the epoch) as RFC 3339 UTC.
pub fn rfc3339(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A count with its noun, plural unless it is one: `1 addon`, `2 addons`.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// An addon as the stable JSON shape DESIGN.md gives.
pub fn addon_json(addon: &Addon) -> Value {
    json!({
        "name": addon.name,
        "id": addon.id,
        "provider": addon.provider,
        "app": addon.app,
        "prefix": addon.prefix,
        "state": addon.state.as_str(),
        "message": addon.message,
        "failure": addon.failure,
        "vars": addon.vars,
        "params": addon.params,
        "cleanup": addon.cleanup.as_str(),
        "pending": addon.has_pending_work(),
        "created_at": rfc3339(addon.created_at),
        "updated_at": rfc3339(addon.updated_at),
    })
}

/// A recorded transition as `tick` prints it.
pub fn outcome_json(outcome: &Outcome) -> Value {
    json!({
        "name": outcome.name,
        "from": outcome.from.as_str(),
        "to": outcome.to.as_str(),
        "event": outcome.event,
        "message": outcome.message,
    })
}

/// One plain line for a transition.
pub fn outcome_line(outcome: &Outcome) -> String {
    if outcome.from == outcome.to {
        format!("{}: {} {}: {}", outcome.name, outcome.to, outcome.event, outcome.message)
    } else {
        format!("{}: {} -> {} ({}): {}", outcome.name, outcome.from, outcome.to, outcome.event, outcome.message)
    }
}

/// Replaces the password in a URL with `****`; a string that is not a URL with a
/// password comes back unchanged.
pub fn mask_url_password(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("****"));
            url.to_string()
        }
        _ => text.to_string(),
    }
}

/// A config var's value as shown without `--reveal`: URLs keep everything but their
/// password; any other value is hidden whole.
pub fn masked(value: &str) -> String {
    match url::Url::parse(value) {
        Ok(url) if url.has_host() || url.scheme() == "sqlite" => mask_url_password(value),
        _ => "********".to_string(),
    }
}

/// The config vars as rows of KEY, VALUE (masked unless `reveal`), SOURCE.
pub fn vars_rows(vars: &[ConfigVar], reveal: bool) -> Vec<Vec<String>> {
    vars.iter()
        .map(|var| {
            vec![
                var.key.clone(),
                if reveal { var.value.clone() } else { masked(&var.value) },
                var.addon.clone().map_or("set by hand".into(), |name| format!("addon {name}")),
            ]
        })
        .collect()
}

/// Lays rows out under headers in columns two spaces apart; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| visible_len(h)).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(visible_len(cell));
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, cell) in cells.into_iter().enumerate() {
            if i == last {
                out += cell;
            } else {
                out += cell;
                out += &" ".repeat(widths[i] - visible_len(cell) + 2);
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out += &line(row.iter().map(String::as_str).collect());
    }
    out
}

/// The width of a cell on screen: characters, less any colour escape sequences.
fn visible_len(cell: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in cell.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => len += 1,
        }
    }
    len
}

/// Whether to colour output on stdout: a terminal, and `NO_COLOR` unset or empty.
pub fn use_color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A state name, coloured when `color` is on.
pub fn state_cell(state: &str, color: bool) -> String {
    if !color {
        return state.to_string();
    }
    let code = match state {
        "ready" => "32",
        "error" => "31",
        "deprovisioned" => "90",
        _ => "33",
    };
    format!("\x1b[{code}m{state}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_hides_passwords_and_opaque_values() {
        assert_eq!(masked("postgres://u:secretpw@h:5432/d"), "postgres://u:****@h:5432/d");
        assert_eq!(masked("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(masked("abcdef0123"), "********");
        assert_eq!(mask_url_password("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![vec!["a".to_string(), "long value".to_string(), "x".to_string()]];
        assert_eq!(table(&["NAME", "V", "LAST"], &rows), "NAME  V           LAST\na     long value  x\n");
    }
}
