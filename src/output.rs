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
        "server": addon.server,
        "backup_every": addon.backup_schedule.map(|schedule| crate::backup::every_text(schedule.every)),
        "backup_keep": addon.backup_schedule.and_then(|schedule| schedule.keep),
        "attachments": addon.attachments.iter().map(|attachment| json!({
            "app": attachment.app,
            "prefix": attachment.prefix,
            "state": attachment.state.as_str(),
            "read_only": attachment.access.is_read_only(),
        })).collect::<Vec<_>>(),
    })
}

/// A backup or restore as `backup`, `backups` and `restore` print it.
pub fn backup_json(backup: &crate::backup::Backup) -> Value {
    json!({
        "id": backup.id,
        "addon": backup.addon_name,
        "addon_id": backup.addon_id,
        "provider": backup.provider,
        "kind": backup.kind.as_str(),
        "backup": backup.source,
        "status": backup.status.as_str(),
        "file": backup.file,
        "size": backup.size,
        "checksum": backup.checksum.as_ref().map(|sum| format!("sha256:{sum}")),
        "generation": backup.generation,
        "requested_at": rfc3339(backup.requested_at),
        "finished_at": backup.finished_at.map(rfc3339),
        "scheduled": backup.scheduled,
        "message": backup.message,
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

/// How many rows a [`TableWriter`] lays its columns out by.
pub const TABLE_SAMPLE: usize = 1000;

/// A table written as its rows come, for listings of any length: the columns are as
/// wide as the widest cell among the headers and the first [`TABLE_SAMPLE`] rows (all
/// of them in a shorter table, which comes out as [`table`] lays it out), so it holds
/// at most that many rows. A later cell wider than its column pushes the rest of its
/// row right. With `fit` (the terminal's width), the last column is cut with '…' so a
/// line fits it.
pub struct TableWriter<W: std::io::Write> {
    out: W,
    headers: Vec<String>,
    sample: Vec<Vec<String>>,
    widths: Option<Vec<usize>>,
    fit: Option<usize>,
}

impl<W: std::io::Write> TableWriter<W> {
    pub fn new(out: W, headers: &[&str], fit: Option<usize>) -> TableWriter<W> {
        let headers = headers.iter().map(|h| h.to_string()).collect();
        TableWriter { out, headers, sample: Vec::new(), widths: None, fit }
    }

    /// Adds a row: held until the sample is full, written at once after.
    pub fn row(&mut self, row: Vec<String>) -> std::io::Result<()> {
        match &self.widths {
            Some(widths) => write_line(&mut self.out, widths, &row, self.fit),
            None => {
                self.sample.push(row);
                if self.sample.len() >= TABLE_SAMPLE {
                    self.lay_out()?;
                }
                Ok(())
            }
        }
    }

    /// Writes what is held (the headers and the sample, when the table had fewer rows)
    /// and flushes.
    pub fn finish(mut self) -> std::io::Result<()> {
        if self.widths.is_none() {
            self.lay_out()?;
        }
        self.out.flush()
    }

    fn lay_out(&mut self) -> std::io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| visible_len(h)).collect();
        for row in &self.sample {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(visible_len(cell));
            }
        }
        write_line(&mut self.out, &widths, &self.headers, self.fit)?;
        for row in std::mem::take(&mut self.sample) {
            write_line(&mut self.out, &widths, &row, self.fit)?;
        }
        self.widths = Some(widths);
        Ok(())
    }
}

/// One line of a [`TableWriter`]: cells two spaces apart, the last unpadded, cut to
/// what `fit` leaves of the line.
fn write_line<W: std::io::Write>(
    out: &mut W,
    widths: &[usize],
    cells: &[String],
    fit: Option<usize>,
) -> std::io::Result<()> {
    let mut line = String::new();
    let mut at = 0;
    let last = cells.len().saturating_sub(1);
    for (i, cell) in cells.iter().enumerate() {
        let len = visible_len(cell);
        if i == last {
            match fit {
                // At least a character and its '…' when the other columns took the line.
                Some(fit) if at + len > fit => line += &console::truncate_str(cell, fit.saturating_sub(at).max(2), "…"),
                _ => line += cell,
            }
        } else {
            let pad = widths.get(i).copied().unwrap_or(len).saturating_sub(len) + 2;
            line += cell;
            line.extend(std::iter::repeat_n(' ', pad));
            at += len + pad;
        }
    }
    writeln!(out, "{}", line.trim_end())
}

/// The width of a cell on screen: its columns, less any colour escape sequences.
fn visible_len(cell: &str) -> usize {
    // Most cells are plain ASCII: their bytes are their columns.
    match cell.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        true => cell.len(),
        false => console::measure_text_width(cell),
    }
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
