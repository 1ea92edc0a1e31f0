//! A record as a row of the PostgreSQL state: its values sent as parameters of their
//! columns' types, its columns read in the order selected, whatever integer type a column has.

use std::error::Error;

use postgres::types::{FromSql, ToSql, Type};
use postgres::Row;

use super::location::Location;
use crate::addon::Glance;
use crate::store::backend::StoreError;
use crate::store::tables::{Fields, Kind, Record, Set, Unreadable, Value, Write};

/// PostgreSQL's placeholder for the n-th parameter, of its column's kind (a bigint
/// goes into an integer column by assignment).
pub fn mark(n: usize, kind: Kind) -> String {
    format!("${n}::{}", sql_type(kind))
}

/// The parameter type a value of this kind is sent as (the column's own, or one that
/// converts to it on assignment: a bigint into an integer column).
pub fn sql_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Int => "bigint",
        Kind::Bool => "boolean",
        Kind::Blob => "bytea",
    }
}

/// A value as a parameter of its column's kind (NULL too must be typed).
pub fn param(value: &Value<'_>, kind: Kind) -> Box<dyn ToSql + Sync> {
    match (kind, value) {
        (Kind::Text, Value::Text(text)) => Box::new(Some(text.to_string())),
        (Kind::Int, Value::Int(n)) => Box::new(Some(*n)),
        (Kind::Bool, Value::Int(n)) => Box::new(Some(*n != 0)),
        (Kind::Blob, Value::Blob(bytes)) => Box::new(Some(bytes.to_vec())),
        (Kind::Text, _) => Box::new(None::<String>),
        (Kind::Int, _) => Box::new(None::<i64>),
        (Kind::Bool, _) => Box::new(None::<bool>),
        (Kind::Blob, _) => Box::new(None::<Vec<u8>>),
    }
}

/// The values of one parameter of many records, as an array of its column's kind.
pub fn array<'v>(kind: Kind, values: impl Iterator<Item = &'v Value<'v>>) -> Box<dyn ToSql + Sync> {
    fn of<'v, T: ToSql + Sync + 'static>(
        values: impl Iterator<Item = &'v Value<'v>>,
        pick: impl Fn(&Value<'_>) -> Option<T>,
    ) -> Box<dyn ToSql + Sync> {
        Box::new(values.map(pick).collect::<Vec<Option<T>>>())
    }
    match kind {
        Kind::Text => of(values, |value| if let Value::Text(text) = value { Some(text.to_string()) } else { None }),
        Kind::Int => of(values, |value| if let Value::Int(n) = value { Some(*n) } else { None }),
        Kind::Bool => of(values, |value| if let Value::Int(n) = value { Some(*n != 0) } else { None }),
        Kind::Blob => of(values, |value| if let Value::Blob(bytes) = value { Some(bytes.to_vec()) } else { None }),
    }
}

/// The parameters of a statement that writes a record.
pub fn params<T: Record>(statement: &Write, record: &T) -> Vec<Box<dyn ToSql + Sync>> {
    let values = record.to_values();
    statement.params(&values).map(|(value, kind)| param(value, kind)).collect()
}

/// A stored value of any column type the state uses (a boolean as 0 or 1).
impl<'a> FromSql<'a> for Value<'static> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Value<'static>, Box<dyn Error + Sync + Send>> {
        Ok(match *ty {
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::BYTEA => Value::Blob(Vec::<u8>::from_sql(ty, raw)?.into()),
            _ => Value::Text(String::from_sql(ty, raw)?.into()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Value<'static>, Box<dyn Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::BOOL | Type::INT2 | Type::INT4 | Type::INT8 | Type::BYTEA)
            || <String as FromSql>::accepts(ty)
    }
}

/// A row read by its columns' places: a look-up by name compares the name with every
/// column before it, at every read; a record's codec reads its columns in about the
/// order statements select them, so the place after the last one read is tried first.
struct InOrder<'r> {
    row: &'r Row,
    next: std::cell::Cell<usize>,
}

impl<'r> InOrder<'r> {
    fn new(row: &'r Row) -> InOrder<'r> {
        InOrder { row, next: std::cell::Cell::new(0) }
    }

    fn place(&self, column: &'static str) -> Result<usize, Unreadable> {
        let columns = self.row.columns();
        let next = self.next.get();
        let index = match columns.get(next) {
            Some(found) if found.name() == column => next,
            _ => columns
                .iter()
                .position(|found| found.name() == column)
                .ok_or_else(|| Unreadable { column, why: "the statement does not select it".into() })?,
        };
        self.next.set(index + 1);
        Ok(index)
    }
}

impl Fields for InOrder<'_> {
    fn value(&self, column: &'static str) -> Result<Value<'static>, Unreadable> {
        self.row.try_get(self.place(column)?).map_err(|err| Unreadable { column, why: err.to_string() })
    }

    fn read_text<T>(
        &self,
        column: &'static str,
        read: impl FnOnce(&str) -> Result<T, Unreadable>,
    ) -> Result<Option<T>, Unreadable> {
        let index = self.place(column)?;
        match self.row.try_get::<_, Option<&str>>(index) {
            Ok(text) => text.map(read).transpose(),
            // Not text on the wire (a column of another type): as any other value.
            Err(_) => self.opt_text(column)?.map(|text| read(&text)).transpose(),
        }
    }
}

/// Reads a glance at an addon; a value this binary can't read makes the state unusable.
pub fn glance(location: &Location, row: &Row) -> Result<Glance, StoreError> {
    crate::store::tables::glance(&InOrder::new(row)).map_err(|err| {
        let named = row.try_get::<_, String>("name").map(|name| format!("{name} ")).unwrap_or_default();
        StoreError::Unusable(format!(
            "state {}: addon {named}has a {} this addons can't read; restore the state from a backup",
            location.describe(),
            err.column
        ))
    })
}

/// Reads a record; a value this binary can't read makes the state unusable.
pub fn decode<T: Record>(location: &Location, row: &Row) -> Result<T, StoreError> {
    T::from_fields(&InOrder::new(row)).map_err(|err| {
        let table = T::TABLE;
        let key = table.fields().find(|column| column.set == Set::Key);
        let named = key.and_then(|column| row.try_get::<_, String>(column.name).ok());
        StoreError::Unusable(format!(
            "state {}: {} {}has a {} this addons can't read; restore the state from a backup",
            location.describe(),
            table.noun.0,
            named.map(|name| format!("{name} ")).unwrap_or_default(),
            err.column
        ))
    })
}
