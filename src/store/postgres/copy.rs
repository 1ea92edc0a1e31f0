//! A PostgreSQL state's rows for `state copy`: read and written column by column as
//! [`copy::TABLES`] lists them, many rows to a statement, with identity columns kept
//! as copied and their sequences set past them.

use postgres::types::ToSql;
use postgres::Transaction;

use super::location::Location;
use super::rows::{param, sql_type};
use super::unusable;
use crate::store::backend::{StoreError, SCAN_BATCH};
use crate::store::copy;
use crate::store::tables::{Order, Value};

/// Rows per INSERT: a statement takes at most 65,535 parameters.
const BATCH: usize = 500;

/// Every row of the table, in its order, [`SCAN_BATCH`] at a time through a portal.
pub(super) fn rows(
    tx: &mut Transaction<'_>,
    location: &Location,
    table: &copy::Table,
    visit: &mut dyn FnMut(Vec<copy::Row>) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let order = match table.order {
        Order::Made => "seq",
        Order::Key(key) => key,
    };
    let sql = format!("SELECT {} FROM {} ORDER BY {order}", columns.join(", "), table.name);
    let portal = tx.bind(sql.as_str(), &[]).map_err(|err| unusable(location, &err))?;
    loop {
        let found = tx.query_portal(&portal, SCAN_BATCH as i32).map_err(|err| unusable(location, &err))?;
        if found.is_empty() {
            return Ok(());
        }
        let last = found.len() < SCAN_BATCH;
        let rows = found
            .iter()
            .map(|row| {
                table.columns.iter().map(|column| row.try_get::<_, Value>(column.name)).collect::<Result<_, _>>()
            })
            .collect::<Result<_, _>>()
            .map_err(|err| unusable(location, &err))?;
        visit(rows)?;
        if last {
            return Ok(());
        }
    }
}

/// Inserts the rows as they are, then sets the table's sequence past them.
pub(super) fn paste(
    tx: &mut Transaction<'_>,
    location: &Location,
    table: &copy::Table,
    rows: &[copy::Row],
) -> Result<(), StoreError> {
    let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    for batch in rows.chunks(BATCH) {
        let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(batch.len() * columns.len());
        let mut tuples = Vec::with_capacity(batch.len());
        for row in batch {
            let mut placeholders = Vec::with_capacity(columns.len());
            for (column, value) in table.columns.iter().zip(row) {
                values.push(param(value, column.kind));
                placeholders.push(format!("${}::{}", values.len(), sql_type(column.kind)));
            }
            tuples.push(format!("({})", placeholders.join(", ")));
        }
        // OVERRIDING SYSTEM VALUE: an identity column (events.seq) keeps the copied numbers.
        let sql = format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES {}",
            table.name,
            columns.join(", "),
            tuples.join(", ")
        );
        let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| &**value as &(dyn ToSql + Sync)).collect();
        tx.execute(&sql, &params).map_err(|err| unusable(location, &err))?;
    }
    if let (Some(column), false) = (table.sequence, rows.is_empty()) {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))",
            table = table.name
        );
        tx.execute(&sql, &[]).map_err(|err| unusable(location, &err))?;
    }
    Ok(())
}

/// How many rows the table holds.
pub(super) fn count(tx: &mut Transaction<'_>, location: &Location, table: &copy::Table) -> Result<u64, StoreError> {
    let row =
        tx.query_one(&format!("SELECT count(*) FROM {}", table.name), &[]).map_err(|err| unusable(location, &err))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Keeps other writers (not readers) out of the table until the transaction ends.
pub(super) fn lock(tx: &mut Transaction<'_>, location: &Location, table: &copy::Table) -> Result<(), StoreError> {
    tx.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", table.name)).map_err(|err| unusable(location, &err))
}
