//! A state file's rows for `state copy`: read and written column by column as
//! [`copy::TABLES`] declares them, a boolean as the INTEGER 0 or 1 it is here.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{params_from_iter, Connection};

use super::{refuse, store_error};
use crate::store::backend::{StoreError, SCAN_BATCH};
use crate::store::copy;
use crate::store::tables::{Kind, Order, Value};

/// Every row of the table, in its order, [`SCAN_BATCH`] at a time.
pub(super) fn rows(
    conn: &Connection,
    path: &Path,
    table: &copy::Table,
    visit: &mut dyn FnMut(Vec<copy::Row>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let order = match table.order {
        Order::Made => "rowid",
        Order::Key(key) => key,
    };
    let sql = format!("SELECT {} FROM {} ORDER BY {order}", columns.join(", "), table.name);
    let fail = |err| store_error(path, err, None);
    let mut statement = conn.prepare(&sql).map_err(fail)?;
    let mut found = statement.query([]).map_err(fail)?;
    let mut rows = Vec::with_capacity(SCAN_BATCH);
    while let Some(row) = found.next().map_err(fail)? {
        let values = table
            .columns
            .iter()
            .map(|column| {
                let value = row.get_ref(column.name).map_err(fail)?;
                decode(value, column.kind).ok_or_else(|| {
                    refuse(
                        path,
                        format!(
                            "holds a value of {}.{} this addons can't read ({value:?}); restore it from a backup",
                            table.name, column.name
                        ),
                    )
                })
            })
            .collect::<Result<copy::Row, StoreError>>()?;
        rows.push(values);
        if rows.len() == SCAN_BATCH {
            visit(std::mem::replace(&mut rows, Vec::with_capacity(SCAN_BATCH)))?;
        }
    }
    match rows.is_empty() {
        true => Ok(()),
        false => visit(rows),
    }
}

/// A stored value as the kind its column holds; `None` when it is not one.
fn decode(value: ValueRef<'_>, kind: Kind) -> Option<Value<'static>> {
    Some(match (value, kind) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(n), Kind::Int | Kind::Bool) => Value::Int(n),
        (ValueRef::Text(text), Kind::Text) => Value::Text(String::from_utf8(text.to_vec()).ok()?.into()),
        (ValueRef::Blob(bytes) | ValueRef::Text(bytes), Kind::Blob) => Value::Blob(bytes.to_vec().into()),
        _ => return None,
    })
}

/// Inserts the rows as they are.
pub(super) fn paste(conn: &Connection, path: &Path, table: &copy::Table, rows: &[copy::Row]) -> Result<(), StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let sql = format!("INSERT INTO {} ({}) VALUES ({})", table.name, columns.join(", "), placeholders.join(", "));
    let fail = |err| store_error(path, err, None);
    let mut statement = conn.prepare(&sql).map_err(fail)?;
    for row in rows {
        statement.execute(params_from_iter(row)).map_err(fail)?;
    }
    Ok(())
}

/// How many rows the table holds.
pub(super) fn count(conn: &Connection, path: &Path, table: &copy::Table) -> Result<u64, StoreError> {
    let sql = format!("SELECT count(*) FROM {}", table.name);
    let count: i64 = conn.query_row(&sql, [], |row| row.get(0)).map_err(|err| store_error(path, err, None))?;
    Ok(count as u64)
}
