//! What commands print: aligned tables for people, JSON documents for scripts, and
//! the masking that keeps secret values out of both.

use std::io::IsTerminal;

use serde_json::{json, Value};

use crate::addon::Addon;
pub use crate::clock::rfc3339;
use crate::masking::masked;
pub use crate::names::plural;
use crate::store::{ConfigVar, Outcome};

/// An addon as the stable JSON shape docs/contract.md gives (its "An addon" table).
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
        "labels": addon.labels,
        "expires_at": addon.expires_at.map(rfc3339),
        "attachments": addon.attachments.iter().map(|attachment| json!({
            "app": attachment.app,
            "prefix": attachment.prefix,
            "state": attachment.state.as_str(),
        })).collect::<Vec<_>>(),
    })
}

/// A transition as `tick` and `watch` print it.
pub fn outcome_json(outcome: &Outcome) -> Value {
    transition_json(
        &outcome.name,
        outcome.at,
        Some(outcome.from.as_str()),
        outcome.to.as_str(),
        &outcome.event,
        &outcome.message,
    )
}

/// The one JSON shape of a recorded transition, in `tick`, `watch` and `log`: `from`
/// is null for the creation of an addon, `at` is RFC 3339 UTC.
pub fn transition_json(name: &str, at: i64, from: Option<&str>, to: &str, event: &str, message: &str) -> Value {
    json!({"name": name, "at": rfc3339(at), "from": from, "to": to, "event": event, "message": message})
}

/// One plain line for a transition.
pub fn outcome_line(outcome: &Outcome) -> String {
    if outcome.from == outcome.to {
        format!("{}: {} {}: {}", outcome.name, outcome.to, outcome.event, outcome.message)
    } else {
        format!("{}: {} -> {} ({}): {}", outcome.name, outcome.from, outcome.to, outcome.event, outcome.message)
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
    fn tables_align_columns() {
        let rows = vec![vec!["a".to_string(), "long value".to_string(), "x".to_string()]];
        assert_eq!(table(&["NAME", "V", "LAST"], &rows), "NAME  V           LAST\na     long value  x\n");
    }
}
