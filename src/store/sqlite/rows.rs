//! A record as a row of a state file: its values bound as SQLite's own, its columns
//! read by name, and the placeholders of the statements built from its table.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Row, ToSql};

use crate::store::tables::{Fields, Kind, Record, Unreadable, Value};

/// SQLite's placeholder for the n-th parameter; a value's type is its own here.
pub(super) fn mark(n: usize, _kind: Kind) -> String {
    format!("?{n}")
}

impl ToSql for Value {
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
    fn value(&self, column: &'static str) -> Result<Value, Unreadable> {
        let unreadable = |why: String| Unreadable { column, why };
        Ok(match self.get_ref(column).map_err(|err| unreadable(err.to_string()))? {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Int(n),
            ValueRef::Text(text) => {
                Value::Text(String::from_utf8(text.to_vec()).map_err(|err| unreadable(err.to_string()))?)
            }
            ValueRef::Blob(bytes) => Value::Blob(bytes.to_vec()),
            ValueRef::Real(real) => return Err(unreadable(format!("a real number ({real})"))),
        })
    }
}

/// Reads a record; a value it can't take is an error of SQLite's kind, which
/// `store_error` reports as a row this addons can't read.
pub(super) fn decode<T: Record>(row: &Row<'_>) -> rusqlite::Result<T> {
    T::from_fields(row).map_err(|err| {
        let index = T::TABLE.fields().position(|column| column.name == err.column).unwrap_or(0);
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(err))
    })
}
