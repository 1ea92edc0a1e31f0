//! A record as a row of a state file: its values bound as SQLite's own, its columns
//! read by name, and the placeholders of the statements built from its table.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Row, ToSql};

use crate::addon::Glance;
use crate::store::tables::{Fields, Kind, Record, Unreadable, Value, GLANCE};

/// SQLite's placeholder for the n-th parameter; a value's type is its own here.
pub(super) fn mark(n: usize, _kind: Kind) -> String {
    format!("?{n}")
}

impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(n) => ValueRef::Integer(*n),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

impl Fields for Row<'_> {
    fn value(&self, column: &'static str) -> Result<Value<'static>, Unreadable> {
        value(self.get_ref(column), column)
    }
}

/// A row of a statement that selects its table's fields in declaration order
/// (`field_list`), read by position. Reading by name asks SQLite for each column's name
/// at every read, which costs a listing of many rows more than the rest of it; a
/// record's codec reads its columns in about the declared order, so the next position
/// is tried first.
pub(super) struct InOrder<'r, 's> {
    row: &'r Row<'s>,
    names: &'r [&'static str],
    next: std::cell::Cell<usize>,
}

impl<'r, 's> InOrder<'r, 's> {
    /// `names` are the statement's columns, in order.
    pub(super) fn new(row: &'r Row<'s>, names: &'r [&'static str]) -> InOrder<'r, 's> {
        InOrder { row, names, next: std::cell::Cell::new(0) }
    }
}

impl InOrder<'_, '_> {
    /// The column's place in the row, the next one tried first.
    fn place(&self, column: &'static str) -> Option<usize> {
        let next = self.next.get();
        let index = match self.names.get(next) {
            Some(name) if *name == column => next,
            _ => self.names.iter().position(|name| *name == column)?,
        };
        self.next.set(index + 1);
        // Every statement a record is read from selects its table's fields in order:
        // the test builds check that it does.
        debug_assert_eq!(self.row.as_ref().column_name(index).ok(), Some(column), "a statement out of order");
        Some(index)
    }
}

impl Fields for InOrder<'_, '_> {
    fn value(&self, column: &'static str) -> Result<Value<'static>, Unreadable> {
        match self.place(column) {
            Some(index) => value(self.row.get_ref(index), column),
            None => self.row.value(column),
        }
    }

    fn read_text<T>(
        &self,
        column: &'static str,
        read: impl FnOnce(&str) -> Result<T, Unreadable>,
    ) -> Result<Option<T>, Unreadable> {
        let Some(index) = self.place(column) else {
            return self.row.read_text(column, read);
        };
        let unreadable = |why: String| Unreadable { column, why };
        match self.row.get_ref(index).map_err(|err| unreadable(err.to_string()))? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(text) => {
                read(std::str::from_utf8(text).map_err(|err| unreadable(err.to_string()))?).map(Some)
            }
            _ => self.row.read_text(column, read),
        }
    }
}

/// A value read from a row as the state's own.
fn value(found: rusqlite::Result<ValueRef<'_>>, column: &'static str) -> Result<Value<'static>, Unreadable> {
    let unreadable = |why: String| Unreadable { column, why };
    Ok(match found.map_err(|err| unreadable(err.to_string()))? {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Text(text) => {
            Value::Text(String::from_utf8(text.to_vec()).map_err(|err| unreadable(err.to_string()))?.into())
        }
        ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec().into()),
        ValueRef::Real(real) => return Err(unreadable(format!("a real number ({real})"))),
    })
}

/// Reads a record from a row of a statement that selects `T::TABLE.field_list()`, by
/// position ([`InOrder`]); `names` are those fields' names.
pub(super) fn decode_in_order<T: Record>(row: &Row<'_>, names: &[&'static str]) -> rusqlite::Result<T> {
    T::from_fields(&InOrder::new(row, names)).map_err(|err| {
        let index = names.iter().position(|name| *name == err.column).unwrap_or(0);
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
    })
}

/// Reads a glance at an addon from a row of a statement that selects
/// [`tables::GLANCE`](crate::store::tables::GLANCE), by position.
pub(super) fn glance(row: &Row<'_>) -> rusqlite::Result<Glance> {
    crate::store::tables::glance(&InOrder::new(row, &GLANCE)).map_err(|err| {
        let index = GLANCE.iter().position(|name| *name == err.column).unwrap_or(0);
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
    })
}

/// Reads a record from a row of a statement that selects `T::TABLE.field_list()` (as
/// every statement here does), by position ([`InOrder`]); a value it can't take is an
/// error of SQLite's kind, which `store_error` reports as a row this addons can't read.
pub(super) fn decode<T: Record>(row: &Row<'_>) -> rusqlite::Result<T> {
    let names: Vec<&'static str> = T::TABLE.fields().map(|column| column.name).collect();
    decode_in_order(row, &names)
}
