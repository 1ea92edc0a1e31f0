//! Every table of a state and its columns, declared once for both backends. From these
//! declarations come the statements that read and write a row (column lists,
//! placeholders, the columns an update sets), `state copy`'s table-by-table move, and,
//! through [`Record`], the codec between a row and its Rust type, which reads columns
//! by name. Migrations stay hand-written per backend (they are history);
//! `declared_tables_are_the_migrated_schema_*` (below) checks both backends' latest
//! schema against what is declared here.
//!
//! A new column of an addon, attachment or hook run is: the struct's field, its line in
//! the table's declaration, its line in each half of the type's [`Record`] codec, and
//! one migration per backend.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::records::HookRun;
use crate::addon::{Addon, Cleanup, Glance};
use crate::attachment::{Attachment, AttachmentState};
use crate::backup::Backup;
use crate::credential::{Access, Login};

/// How a column's values are kept, so each backend reads and writes its own type
/// (a PostgreSQL `boolean` is a SQLite `INTEGER` 0 or 1; a `bytea` a `BLOB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bool,
    Blob,
}

/// Who writes a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// Names the row: written when it is made; what an update finds it by.
    Key,
    /// Written when the row is made, never changed.
    Once,
    /// Written by every write of the row.
    Always,
    /// Numbered by the state (an identity column): no record writes or reads it, but a
    /// copy keeps it.
    ByState,
    /// Counted up by every write of the row (its version): read with the record, never
    /// bound; a new row starts at the column's default.
    Counted,
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub set: Set,
}

const fn key(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, set: Set::Key }
}

const fn once(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, set: Set::Once }
}

const fn always(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, set: Set::Always }
}

const fn counted(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, set: Set::Counted }
}

const fn by_state(name: &'static str, kind: Kind) -> Column {
    Column { name, kind, set: Set::ByState }
}

/// The order a table's rows are read and written in by a copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The order they were made (SQLite's rowid, PostgreSQL's `seq`): it orders addons
    /// made in the same millisecond, and the target's rows keep it.
    Made,
    /// By these columns (the primary key).
    Key(&'static str),
}

/// One table of a state, as both backends hold it.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// What a person calls one row and many, for the summary.
    pub noun: (&'static str, &'static str),
    pub columns: &'static [Column],
    pub order: Order,
    /// Written as NULL in a copy's target: a claim belongs to a process of the source,
    /// and the target's first tick must be free to take the work.
    pub cleared: &'static [&'static str],
    /// The column whose numbers later rows continue from (PostgreSQL's identity column
    /// is set past the copied values; SQLite's INTEGER PRIMARY KEY does it itself).
    pub sequence: Option<&'static str>,
}

use Kind::{Blob, Bool, Int, Text};

pub const ADDONS: Table = Table {
    name: "addons",
    noun: ("addon", "addons"),
    columns: &[
        key("id", Text),
        once("name", Text),
        once("provider", Text),
        once("app", Text),
        once("prefix", Text),
        once("params", Text),
        once("seed", Blob),
        always("state", Text),
        always("message", Text),
        once("vars", Text),
        always("config", Text),
        always("begun", Bool),
        always("cleanup", Text),
        always("attempts", Int),
        always("due_at", Int),
        always("deadline_at", Int),
        always("claim", Text),
        always("claim_until", Int),
        once("created_at", Int),
        always("updated_at", Int),
        always("failure", Text),
        always("last_error", Text),
        always("last_error_permanent", Bool),
        always("labels", Text),
        always("expires_at", Int),
        always("generation", Int),
        always("vars_generation", Int),
        always("revoke_from", Int),
        always("revoke_at", Int),
        always("verified_at", Int),
        always("drift", Text),
        once("source_id", Text),
        always("server", Text),
        always("backup_every", Int),
        always("backup_keep", Int),
        counted("version", Int),
    ],
    order: Order::Made,
    cleared: &["claim", "claim_until"],
    sequence: None,
};

pub const EVENTS: Table = Table {
    name: "events",
    noun: ("event", "events"),
    columns: &[
        by_state("seq", Int),
        once("addon_id", Text),
        once("at", Int),
        once("from_state", Text),
        once("to_state", Text),
        once("event", Text),
        once("message", Text),
    ],
    order: Order::Key("seq"),
    cleared: &[],
    sequence: Some("seq"),
};

pub const APPS: Table = Table {
    name: "apps",
    noun: ("app", "apps"),
    columns: &[
        key("name", Text),
        always("vars_version", Int),
        always("env_version", Int),
        always("env_error", Text),
        always("env_error_at", Int),
        always("hook_version", Int),
        always("hook_attempts", Int),
        always("hook_due_at", Int),
        always("hook_claim", Text),
        always("hook_claim_until", Int),
        always("hook_failed_version", Int),
    ],
    order: Order::Key("name"),
    cleared: &["hook_claim", "hook_claim_until"],
    sequence: None,
};

pub const CONFIG_VARS: Table = Table {
    name: "config_vars",
    noun: ("config var", "config vars"),
    columns: &[key("app", Text), key("key", Text), always("value", Text), once("addon_id", Text)],
    order: Order::Key("app, key"),
    cleared: &[],
    sequence: None,
};

pub const HOOK_RUNS: Table = Table {
    name: "hook_runs",
    noun: ("hook run", "hook runs"),
    columns: &[
        by_state("seq", Int),
        once("app", Text),
        once("vars_version", Int),
        once("started_at", Int),
        once("finished_at", Int),
        once("result", Text),
        once("exit_status", Int),
        once("output", Text),
    ],
    order: Order::Key("seq"),
    cleared: &[],
    sequence: Some("seq"),
};

pub const ATTACHMENTS: Table = Table {
    name: "attachments",
    noun: ("attachment", "attachments"),
    columns: &[
        key("addon_id", Text),
        key("slot", Int),
        once("app", Text),
        once("prefix", Text),
        always("state", Text),
        always("generation", Int),
        always("revoke_from", Int),
        always("revoke_at", Int),
        once("created_at", Int),
        always("updated_at", Int),
        always("vars_generation", Int),
        once("read_only", Bool),
    ],
    order: Order::Key("addon_id, slot"),
    cleared: &[],
    sequence: None,
};

pub const BACKUPS: Table = Table {
    name: "backups",
    noun: ("backup", "backups"),
    columns: &[
        key("id", Text),
        once("addon_id", Text),
        once("addon_name", Text),
        once("provider", Text),
        once("kind", Text),
        once("source", Text),
        once("file", Text),
        always("status", Text),
        always("size", Int),
        always("checksum", Text),
        always("generation", Int),
        once("requested_at", Int),
        always("finished_at", Int),
        always("claim", Text),
        always("claim_until", Int),
        always("attempts", Int),
        always("message", Text),
        once("scheduled", Bool),
    ],
    order: Order::Key("id"),
    cleared: &["claim", "claim_until"],
    sequence: None,
};

/// Every table a state holds, in an order that writes a row after the rows it refers
/// to. A table or column added by a migration must be declared here:
/// `declared_tables_are_the_migrated_schema_*` fails until it is.
pub const TABLES: &[Table] = &[ADDONS, EVENTS, APPS, CONFIG_VARS, HOOK_RUNS, ATTACHMENTS, BACKUPS];

/// One value of a row, whatever the backend's type (a boolean is 0 or 1). A record's
/// values borrow its text and bytes: writing a row, or finding what changed in it, copies
/// none of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

/// A row's values, in its table's column order.
pub type Row<'a> = Vec<Value<'a>>;

impl Value<'_> {
    /// The value with a copy of its own of any text or bytes.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Int(n) => Value::Int(n),
            Value::Text(text) => Value::Text(Cow::Owned(text.into_owned())),
            Value::Blob(bytes) => Value::Blob(Cow::Owned(bytes.into_owned())),
        }
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Value<'a> {
        Value::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(text: &'a String) -> Value<'a> {
        Value::Text(Cow::Borrowed(text))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(bytes: &'a [u8]) -> Value<'a> {
        Value::Blob(Cow::Borrowed(bytes))
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<u32> for Value<'_> {
    fn from(n: u32) -> Self {
        Value::Int(i64::from(n))
    }
}

impl From<i32> for Value<'_> {
    fn from(n: i32) -> Self {
        Value::Int(i64::from(n))
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Int(i64::from(b))
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(value: Option<T>) -> Value<'a> {
        value.map_or(Value::Null, Into::into)
    }
}

/// The updates of a table that write only some of its columns, each made once per
/// set of columns and kept: a write that knows the row as stored sets what it changed.
#[derive(Debug)]
pub struct PartialUpdates {
    table: &'static Table,
    mark: Mark,
    made: std::sync::Mutex<std::collections::HashMap<u64, std::sync::Arc<Write>>>,
}

impl PartialUpdates {
    pub fn new(table: &'static Table, mark: Mark) -> PartialUpdates {
        assert!(table.fields().count() <= 64, "{}: more fields than a set of them holds", table.name);
        PartialUpdates { table, mark, made: Default::default() }
    }

    /// The update that writes the fields where `after` differs from `before` (both a
    /// record's [`Record::to_values`]).
    pub fn of(&self, before: &[Value<'_>], after: &[Value<'_>]) -> std::sync::Arc<Write> {
        let changed = before
            .iter()
            .zip(after)
            .enumerate()
            .filter(|(_, (old, new))| old != new)
            .fold(0u64, |set, (index, _)| set | 1 << index);
        let mut made = self.made.lock().unwrap_or_else(|err| err.into_inner());
        made.entry(changed)
            .or_insert_with(|| {
                let places: Vec<usize> = (0..64).filter(|index| changed & 1 << index != 0).collect();
                std::sync::Arc::new(self.table.update_of(self.mark, &places))
            })
            .clone()
    }
}

/// A list or map as the JSON text a column keeps it as.
fn json(value: &impl serde::Serialize) -> Value<'static> {
    // Maps and lists of strings always serialize.
    Value::Text(Cow::Owned(serde_json::to_string(value).unwrap_or_default()))
}

impl Table {
    /// The columns a record of this table holds, in order: all but those the state numbers.
    pub fn fields(&self) -> impl Iterator<Item = &'static Column> + Clone {
        self.columns.iter().filter(|column| column.set != Set::ByState)
    }

    /// `id, name, ...`: the record's columns, for a SELECT or a RETURNING.
    pub fn field_list(&self) -> String {
        self.fields().map(|column| column.name).collect::<Vec<_>>().join(", ")
    }

    /// Inserts a record.
    pub fn insert(&self, mark: Mark) -> Write {
        let written: Vec<(usize, &Column)> =
            self.fields().enumerate().filter(|(_, column)| column.set != Set::Counted).collect();
        let takes: Vec<(usize, Kind)> = written.iter().map(|&(index, column)| (index, column.kind)).collect();
        let names: Vec<&str> = written.iter().map(|(_, column)| column.name).collect();
        let placeholders: Vec<String> =
            written.iter().enumerate().map(|(n, (_, column))| mark(n + 1, column.kind)).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", self.name, names.join(", "), placeholders.join(", "));
        Write { sql, takes }
    }

    /// Inserts a record, or writes its [`Set::Always`] columns over the row with its key.
    pub fn upsert(&self, mark: Mark) -> Write {
        let Write { sql, takes } = self.insert(mark);
        let keys = self.of(Set::Key).map(|(_, column)| column.name).collect::<Vec<_>>().join(", ");
        let mut set = self.of(Set::Always).map(|(_, c)| format!("{0} = excluded.{0}", c.name)).collect::<Vec<_>>();
        set.extend(self.of(Set::Counted).map(|(_, c)| format!("{0} = {1}.{0} + 1", c.name, self.name)));
        Write { sql: format!("{sql} ON CONFLICT ({keys}) DO UPDATE SET {}", set.join(", ")), takes }
    }

    /// Writes a record's [`Set::Always`] columns over the row with its key.
    pub fn update(&self, mark: Mark) -> Write {
        let always: Vec<usize> = self.of(Set::Always).map(|(index, _)| index).collect();
        self.update_of(mark, &always)
    }

    /// Writes the record's fields at these places (among [`Table::fields`]; only its
    /// [`Set::Always`] ones are taken) over the row with its key: what a write that
    /// knows the row as it is changes of it.
    pub fn update_of(&self, mark: Mark, places: &[usize]) -> Write {
        let mut takes = Vec::new();
        let mut place = |index: usize, column: &Column| {
            takes.push((index, column.kind));
            format!("{} = {}", column.name, mark(takes.len(), column.kind))
        };
        let keys: Vec<String> = self.of(Set::Key).map(|(index, column)| place(index, column)).collect();
        let mut set: Vec<String> = self
            .of(Set::Always)
            .filter(|(index, _)| places.contains(index))
            .map(|(index, column)| place(index, column))
            .collect();
        set.extend(self.of(Set::Counted).map(|(_, column)| format!("{0} = {0} + 1", column.name)));
        let sql = format!("UPDATE {} SET {} WHERE {}", self.name, set.join(", "), keys.join(" AND "));
        Write { sql, takes }
    }

    /// The update of many rows at once that writes what `write` (one of this table's
    /// updates) writes: each column from the one of its name in `rows`, a source the
    /// backend gives (one row per record, its columns the statement's parameters in
    /// order), the counted columns counted up.
    pub fn update_rows_of(&self, write: &Write, rows: &str) -> String {
        let name = |index: usize| self.fields().nth(index).map_or("", |column| column.name);
        let names: Vec<&str> = write.takes.iter().map(|&(index, _)| name(index)).collect();
        let keys: Vec<String> = self.of(Set::Key).map(|(_, column)| format!("t.{0} = r.{0}", column.name)).collect();
        let mut set: Vec<String> = write
            .takes
            .iter()
            .filter(|&&(index, _)| self.fields().nth(index).is_some_and(|column| column.set == Set::Always))
            .map(|&(index, _)| format!("{0} = r.{0}", name(index)))
            .collect();
        set.extend(self.of(Set::Counted).map(|(_, column)| format!("{0} = t.{0} + 1", column.name)));
        format!(
            "UPDATE {} AS t SET {} FROM {rows} AS r ({}) WHERE {}",
            self.name,
            set.join(", "),
            names.join(", "),
            keys.join(" AND ")
        )
    }

    /// The record's columns that `set` writes, with their places among its fields.
    fn of(&self, set: Set) -> impl Iterator<Item = (usize, &'static Column)> {
        self.fields().enumerate().filter(move |(_, column)| column.set == set)
    }
}

/// A backend's placeholder for the statement's n-th parameter (from 1), whose column
/// is of this kind: SQLite's `?n`, PostgreSQL's `$n::type`.
pub type Mark = fn(usize, Kind) -> String;

/// A statement that writes a record, and which of its values (places among its
/// [`Table::fields`], with their columns' kinds) it takes, parameter by parameter.
#[derive(Debug)]
pub struct Write {
    pub sql: String,
    pub takes: Vec<(usize, Kind)>,
}

impl Write {
    /// The statement's parameters, out of a record's [`Record::to_values`].
    pub fn params<'a>(&'a self, values: &'a [Value<'a>]) -> impl Iterator<Item = (&'a Value<'a>, Kind)> + 'a {
        self.takes.iter().map(move |&(index, kind)| (&values[index], kind))
    }
}

/// The statements that write each record, in one backend's placeholders.
#[derive(Debug)]
pub struct Writes {
    pub insert_addon: Write,
    pub update_addon: Write,
    /// An addon's changed columns.
    pub addon_updates: PartialUpdates,
    /// An attachment, new or changed (keyed by addon and slot).
    pub put_attachment: Write,
    pub insert_hook_run: Write,
    /// A backup or restore, new or changed (keyed by its id).
    pub put_backup: Write,
}

impl Writes {
    pub fn new(mark: Mark) -> Writes {
        Writes {
            insert_addon: ADDONS.insert(mark),
            update_addon: ADDONS.update(mark),
            addon_updates: PartialUpdates::new(&ADDONS, mark),
            put_attachment: ATTACHMENTS.upsert(mark),
            insert_hook_run: HOOK_RUNS.insert(mark),
            put_backup: BACKUPS.upsert(mark),
        }
    }
}

/// A column whose value a record can't take: damaged by hand, or written by a newer addons.
#[derive(Debug)]
pub struct Unreadable {
    pub column: &'static str,
    pub why: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.column, self.why)
    }
}

impl std::error::Error for Unreadable {}

/// A row as a backend read it, its columns found by name.
pub trait Fields {
    /// The value of the named column.
    fn value(&self, column: &'static str) -> Result<Value<'static>, Unreadable>;

    fn opt_text(&self, column: &'static str) -> Result<Option<String>, Unreadable> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.into_owned())),
            other => Err(wrong(column, "text", &other)),
        }
    }

    fn text(&self, column: &'static str) -> Result<String, Unreadable> {
        self.opt_text(column)?.ok_or_else(|| null(column))
    }

    fn opt_int<T: TryFrom<i64>>(&self, column: &'static str) -> Result<Option<T>, Unreadable> {
        match self.value(column)? {
            Value::Null => Ok(None),
            Value::Int(n) => {
                T::try_from(n).map(Some).map_err(|_| Unreadable { column, why: format!("{n} is out of range") })
            }
            other => Err(wrong(column, "an integer", &other)),
        }
    }

    fn int<T: TryFrom<i64>>(&self, column: &'static str) -> Result<T, Unreadable> {
        self.opt_int(column)?.ok_or_else(|| null(column))
    }

    fn bool(&self, column: &'static str) -> Result<bool, Unreadable> {
        self.int::<i64>(column).map(|n| n != 0)
    }

    /// Bytes, kept as a blob (or as text, which SQLite may hold in any column).
    fn blob(&self, column: &'static str) -> Result<Vec<u8>, Unreadable> {
        match self.value(column)? {
            Value::Blob(bytes) => Ok(bytes.into_owned()),
            Value::Text(text) => Ok(text.into_owned().into_bytes()),
            other => Err(wrong(column, "bytes", &other)),
        }
    }

    /// What `read` makes of a text column's value, read where it lies when the backend
    /// can; `None` when it is NULL.
    fn read_text<T>(
        &self,
        column: &'static str,
        read: impl FnOnce(&str) -> Result<T, Unreadable>,
    ) -> Result<Option<T>, Unreadable> {
        self.opt_text(column)?.map(|text| read(&text)).transpose()
    }

    /// A list or map kept as JSON text.
    fn opt_json<T: serde::de::DeserializeOwned>(&self, column: &'static str) -> Result<Option<T>, Unreadable> {
        self.read_text(column, |text| {
            serde_json::from_str(text).map_err(|err| Unreadable { column, why: err.to_string() })
        })
    }

    fn json<T: serde::de::DeserializeOwned>(&self, column: &'static str) -> Result<T, Unreadable> {
        self.opt_json(column)?.ok_or_else(|| null(column))
    }

    /// Text that names one of a few values, as `parse` reads it.
    fn parsed<T>(&self, column: &'static str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, Unreadable> {
        self.read_text(column, |text| {
            parse(text).ok_or_else(|| Unreadable { column, why: format!("unknown value {text:?}") })
        })?
        .ok_or_else(|| null(column))
    }
}

fn wrong(column: &'static str, wanted: &str, found: &Value<'_>) -> Unreadable {
    Unreadable { column, why: format!("wanted {wanted}, found {found:?}") }
}

fn null(column: &'static str) -> Unreadable {
    Unreadable { column, why: "NULL where a value must be".to_string() }
}

/// A Rust type stored as a row of [`Record::TABLE`]: its codec, written once for every
/// backend. Each backend builds its statements from the table's declaration and turns
/// [`Value`]s into its own types.
pub trait Record: Sized {
    const TABLE: &'static Table;
    /// The row's values, one for each of the table's [`Table::fields`], in order.
    fn to_values(&self) -> Row<'_>;
    /// The record, out of a row read with the table's [`Table::field_list`].
    fn from_fields(row: &impl Fields) -> Result<Self, Unreadable>;
}

/// The columns of an addon a [`Glance`] is read from, in the order it reads them: a
/// statement selects these, the last (`moving`, 1 or 0) worked out in SQL as whether
/// the addon has work left.
pub const GLANCE: [&str; 10] =
    ["id", "name", "app", "provider", "state", "message", "last_error", "attempts", "due_at", "moving"];

/// A glance at an addon, out of a row that selects [`GLANCE`].
pub fn glance(row: &impl Fields) -> Result<Glance, Unreadable> {
    Ok(Glance {
        id: row.text("id")?,
        name: row.text("name")?,
        app: row.text("app")?,
        provider: row.text("provider")?,
        state: row.parsed("state", |text| text.parse().ok())?,
        message: row.text("message")?,
        last_error: row.opt_text("last_error")?,
        attempts: row.int("attempts")?,
        due_at: row.opt_int("due_at")?,
        moving: row.bool("moving")?,
    })
}

impl Record for Addon {
    const TABLE: &'static Table = &ADDONS;

    fn to_values(&self) -> Row<'_> {
        let login = &self.login;
        vec![
            (&self.id).into(),
            (&self.name).into(),
            (&self.provider).into(),
            (&self.app).into(),
            self.prefix.as_ref().into(),
            json(&self.params),
            self.seed.as_slice().into(),
            self.state.as_str().into(),
            (&self.message).into(),
            json(&self.vars),
            self.config.as_ref().map_or(Value::Null, json),
            self.begun.into(),
            self.cleanup.as_str().into(),
            self.attempts.into(),
            self.due_at.into(),
            self.deadline_at.into(),
            self.claim.as_ref().into(),
            self.claim_until.into(),
            self.created_at.into(),
            self.updated_at.into(),
            self.failure.as_ref().into(),
            self.last_error.as_ref().into(),
            self.last_error_permanent.into(),
            json(&self.labels),
            self.expires_at.into(),
            login.generation.into(),
            // An addon's own app is handed generation 0's vars when it is provisioned:
            // its column is never empty.
            login.vars_generation.unwrap_or_default().into(),
            login.revoke_from.into(),
            login.revoke_at.into(),
            self.verified_at.into(),
            self.drift.as_ref().into(),
            self.source_id.as_ref().into(),
            self.server.as_ref().into(),
            self.backup_schedule.map(|schedule| schedule.every.as_millis() as i64).into(),
            self.backup_schedule.and_then(|schedule| schedule.keep).map(|keep| keep as i64).into(),
            self.version.into(),
        ]
    }

    fn from_fields(row: &impl Fields) -> Result<Addon, Unreadable> {
        Ok(Addon {
            id: row.text("id")?,
            name: row.text("name")?,
            provider: row.text("provider")?,
            app: row.text("app")?,
            prefix: row.opt_text("prefix")?,
            params: row.json("params")?,
            seed: row.blob("seed")?,
            state: row.parsed("state", |text| text.parse().ok())?,
            message: row.text("message")?,
            vars: row.json("vars")?,
            config: row.opt_json::<BTreeMap<String, String>>("config")?,
            begun: row.bool("begun")?,
            cleanup: row.parsed("cleanup", Cleanup::parse)?,
            attempts: row.int("attempts")?,
            due_at: row.opt_int("due_at")?,
            deadline_at: row.int("deadline_at")?,
            claim: row.opt_text("claim")?,
            claim_until: row.opt_int("claim_until")?,
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
            failure: row.opt_text("failure")?,
            last_error: row.opt_text("last_error")?,
            last_error_permanent: row.bool("last_error_permanent")?,
            labels: row.json("labels")?,
            expires_at: row.opt_int("expires_at")?,
            login: Login {
                generation: row.int("generation")?,
                vars_generation: Some(row.int("vars_generation")?),
                revoke_from: row.opt_int("revoke_from")?,
                revoke_at: row.opt_int("revoke_at")?,
            },
            verified_at: row.opt_int("verified_at")?,
            drift: row.opt_text("drift")?,
            source_id: row.opt_text("source_id")?,
            server: row.opt_text("server")?,
            attachments: Vec::new(),
            backup_schedule: schedule(row)?,
            version: row.int("version")?,
        })
    }
}

/// An addon's own backup schedule, out of its `backup_every` (ms) and `backup_keep`
/// columns; both are read whether or not it has one.
fn schedule(row: &impl Fields) -> Result<Option<crate::backup::Schedule>, Unreadable> {
    let every: Option<u64> = row.opt_int("backup_every")?;
    let keep: Option<usize> = row.opt_int("backup_keep")?;
    Ok(every.map(|every| crate::backup::Schedule { every: std::time::Duration::from_millis(every), keep }))
}

impl Record for Attachment {
    const TABLE: &'static Table = &ATTACHMENTS;

    fn to_values(&self) -> Row<'_> {
        vec![
            (&self.addon_id).into(),
            self.slot.into(),
            (&self.app).into(),
            self.prefix.as_ref().into(),
            self.state.as_str().into(),
            self.login.generation.into(),
            self.login.revoke_from.into(),
            self.login.revoke_at.into(),
            self.created_at.into(),
            self.updated_at.into(),
            self.login.vars_generation.into(),
            self.access.is_read_only().into(),
        ]
    }

    fn from_fields(row: &impl Fields) -> Result<Attachment, Unreadable> {
        Ok(Attachment {
            addon_id: row.text("addon_id")?,
            slot: row.int("slot")?,
            app: row.text("app")?,
            prefix: row.opt_text("prefix")?,
            state: row.parsed("state", AttachmentState::parse)?,
            login: Login {
                generation: row.int("generation")?,
                vars_generation: row.opt_int("vars_generation")?,
                revoke_from: row.opt_int("revoke_from")?,
                revoke_at: row.opt_int("revoke_at")?,
            },
            access: Access::of(row.bool("read_only")?),
            created_at: row.int("created_at")?,
            updated_at: row.int("updated_at")?,
        })
    }
}

impl Record for HookRun {
    const TABLE: &'static Table = &HOOK_RUNS;

    fn to_values(&self) -> Row<'_> {
        vec![
            (&self.app).into(),
            self.vars_version.into(),
            self.started_at.into(),
            self.finished_at.into(),
            (&self.result).into(),
            self.exit_status.into(),
            (&self.output).into(),
        ]
    }

    fn from_fields(row: &impl Fields) -> Result<HookRun, Unreadable> {
        Ok(HookRun {
            app: row.text("app")?,
            vars_version: row.int("vars_version")?,
            started_at: row.int("started_at")?,
            finished_at: row.int("finished_at")?,
            result: row.text("result")?,
            exit_status: row.opt_int("exit_status")?,
            output: row.text("output")?,
        })
    }
}

impl Record for Backup {
    const TABLE: &'static Table = &BACKUPS;

    fn to_values(&self) -> Row<'_> {
        vec![
            (&self.id).into(),
            (&self.addon_id).into(),
            (&self.addon_name).into(),
            (&self.provider).into(),
            self.kind.as_str().into(),
            self.source.as_ref().into(),
            (&self.file).into(),
            self.status.as_str().into(),
            self.size.into(),
            self.checksum.as_ref().into(),
            self.generation.into(),
            self.requested_at.into(),
            self.finished_at.into(),
            self.claim.as_ref().into(),
            self.claim_until.into(),
            self.attempts.into(),
            (&self.message).into(),
            self.scheduled.into(),
        ]
    }

    fn from_fields(row: &impl Fields) -> Result<Backup, Unreadable> {
        Ok(Backup {
            id: row.text("id")?,
            addon_id: row.text("addon_id")?,
            addon_name: row.text("addon_name")?,
            provider: row.text("provider")?,
            kind: row.parsed("kind", crate::backup::Kind::parse)?,
            source: row.opt_text("source")?,
            file: row.text("file")?,
            status: row.parsed("status", crate::backup::Status::parse)?,
            size: row.opt_int("size")?,
            checksum: row.opt_text("checksum")?,
            generation: row.opt_int("generation")?,
            requested_at: row.int("requested_at")?,
            finished_at: row.opt_int("finished_at")?,
            claim: row.opt_text("claim")?,
            claim_until: row.opt_int("claim_until")?,
            attempts: row.int("attempts")?,
            message: row.text("message")?,
            scheduled: row.bool("scheduled")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::machine::State;

    /// What a state holds that is declared nowhere here, as (table, column) with `*` for a
    /// whole table: a copy's target makes its own.
    const NOT_DECLARED: &[(&str, &str)] = &[
        // PostgreSQL's marker of an addons state and its version: the target's migrations wrote it.
        ("schema_meta", "*"),
        // PostgreSQL's order of addons made in the same millisecond: given anew in the copied order.
        ("addons", "seq"),
        // Whether a state stopped acting (moved, or a snapshot): a copy marks its target itself.
        ("retired", "*"),
        // What tick said of trouble: a copy's ticks start saying it afresh.
        ("troubles", "*"),
    ];

    /// Every (table, column) of a schema, as the backend lists them.
    type Columns = BTreeMap<String, BTreeSet<String>>;

    fn declared() -> Columns {
        TABLES
            .iter()
            .map(|table| (table.name.to_string(), table.columns.iter().map(|c| c.name.to_string()).collect()))
            .collect()
    }

    /// What is declared must be what the latest migration made, less [`NOT_DECLARED`].
    fn assert_declared(backend: &str, mut found: Columns) {
        for (table, column) in NOT_DECLARED {
            if *column == "*" {
                found.remove(*table);
            } else if let Some(columns) = found.get_mut(*table) {
                columns.remove(*column);
            }
        }
        assert_eq!(
            found,
            declared(),
            "the {backend} schema's tables and columns differ from store::tables::TABLES (left: the schema); \
             declare the new table or column there (and in its Record codec), or in NOT_DECLARED when a \
             copy's target makes its own"
        );
    }

    #[test]
    fn declared_tables_are_the_migrated_schema_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for sql in crate::store::sqlite::MIGRATIONS {
            conn.execute_batch(sql).unwrap();
        }
        let mut found = Columns::new();
        let mut tables = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").unwrap();
        let names: Vec<String> = tables.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        for table in names {
            let mut info = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')")).unwrap();
            let columns = info.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
            found.insert(table, columns);
        }
        assert_declared("SQLite", found);
    }

    #[test]
    fn declared_tables_are_the_migrated_schema_on_postgres() {
        let Some(admin) = std::env::var("ADDONS_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty()) else {
            let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
            assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but ADDONS_TEST_POSTGRES_URL is not set");
            eprintln!("NOTICE: skipped: ADDONS_TEST_POSTGRES_URL is not set");
            return;
        };
        let schema = format!("t_{:016x}", rand::random::<u64>());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        let mut sql = format!("BEGIN; CREATE SCHEMA {schema}; SET LOCAL search_path = {schema};");
        for migration in crate::store::postgres::schema::MIGRATIONS {
            sql.push_str(migration);
        }
        client.batch_execute(&sql).unwrap();
        let rows = client
            .query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = $1",
                &[&schema],
            )
            .unwrap();
        client.batch_execute("ROLLBACK").unwrap();
        let mut found = Columns::new();
        for row in rows {
            found.entry(row.get(0)).or_default().insert(row.get(1));
        }
        assert_declared("PostgreSQL", found);
    }

    /// A row held as its declared fields' values, that notes which columns were read.
    struct Held {
        values: BTreeMap<&'static str, Value<'static>>,
        read: RefCell<BTreeSet<&'static str>>,
    }

    impl Fields for Held {
        fn value(&self, column: &'static str) -> Result<Value<'static>, Unreadable> {
            self.read.borrow_mut().insert(column);
            self.values.get(column).cloned().ok_or(Unreadable { column, why: "not declared".to_string() })
        }
    }

    /// The codec writes one value of the declared kind per declared field, and reads
    /// back, by name, every declared field and nothing else, into the same record.
    fn assert_codec<T: Record + std::fmt::Debug>(record: &T) {
        let values = record.to_values();
        let fields: Vec<&Column> = T::TABLE.fields().collect();
        assert_eq!(values.len(), fields.len(), "{}: one value per declared field", T::TABLE.name);
        for (column, value) in fields.iter().zip(&values) {
            let fits = match value {
                Value::Null => true,
                Value::Int(_) => matches!(column.kind, Kind::Int | Kind::Bool),
                Value::Text(_) => column.kind == Kind::Text,
                Value::Blob(_) => column.kind == Kind::Blob,
            };
            assert!(fits, "{}.{}: {value:?} is not a {:?}", T::TABLE.name, column.name, column.kind);
        }
        let held = Held {
            values: fields.iter().map(|column| column.name).zip(values.into_iter().map(Value::into_owned)).collect(),
            read: RefCell::new(BTreeSet::new()),
        };
        let back = T::from_fields(&held).unwrap();
        assert_eq!(format!("{back:?}"), format!("{record:?}"), "{}: read back as written", T::TABLE.name);
        let names: BTreeSet<&str> = fields.iter().map(|column| column.name).collect();
        assert_eq!(*held.read.borrow(), names, "{}: the codec reads every declared field", T::TABLE.name);
    }

    fn addon(every: bool) -> Addon {
        let some = |n: i64| every.then_some(n);
        let text = |t: &str| every.then(|| t.to_string());
        Addon {
            id: "a1".into(),
            name: "db".into(),
            provider: "postgres".into(),
            app: "web".into(),
            prefix: text("PG"),
            params: BTreeMap::from([("size".to_string(), "small".to_string())]),
            seed: vec![1, 2, 3],
            state: State::ALL[1],
            message: "ok".into(),
            vars: vec!["DATABASE_URL".into()],
            config: every.then(|| BTreeMap::from([("DATABASE_URL".to_string(), "x".to_string())])),
            begun: every,
            cleanup: Cleanup::parse("pending").unwrap(),
            attempts: 3,
            due_at: some(10),
            deadline_at: 11,
            claim: text("t"),
            claim_until: some(12),
            created_at: 13,
            updated_at: 14,
            failure: text("f"),
            last_error: text("e"),
            last_error_permanent: every,
            labels: Default::default(),
            expires_at: some(15),
            login: Login {
                generation: 4,
                vars_generation: Some(3),
                revoke_from: every.then_some(2),
                revoke_at: some(16),
            },
            verified_at: some(17),
            drift: text("gone"),
            attachments: Vec::new(),
            source_id: text("a0"),
            server: text("default postgres 1"),
            backup_schedule: every
                .then_some(crate::backup::Schedule { every: std::time::Duration::from_secs(60), keep: Some(3) }),
            version: 5,
        }
    }

    #[test]
    fn codecs_write_and_read_every_declared_column() {
        for every in [true, false] {
            assert_codec(&addon(every));
            assert_codec(&Attachment {
                addon_id: "a1".into(),
                app: "api".into(),
                prefix: every.then(|| "API".into()),
                slot: 2,
                state: AttachmentState::ALL[1],
                login: Login {
                    generation: 5,
                    vars_generation: every.then_some(4),
                    revoke_from: every.then_some(4),
                    revoke_at: every.then_some(18),
                },
                access: Access::of(every),
                created_at: 19,
                updated_at: 20,
            });
            assert_codec(&HookRun {
                app: "web".into(),
                vars_version: 6,
                started_at: 21,
                finished_at: 22,
                result: "ok".into(),
                exit_status: every.then_some(1),
                output: "done".into(),
            });
        }
    }

    #[test]
    fn statements_come_from_the_declaration() {
        let mark: Mark = |n, _| format!("?{n}");
        let update = ATTACHMENTS.update(mark);
        assert_eq!(
            update.sql,
            "UPDATE attachments SET state = ?3, generation = ?4, revoke_from = ?5, revoke_at = ?6, updated_at = ?7, \
             vars_generation = ?8 WHERE addon_id = ?1 AND slot = ?2"
        );
        assert_eq!(update.takes.iter().map(|(index, _)| *index).collect::<Vec<_>>(), [0, 1, 4, 5, 6, 7, 9, 10]);
        assert_eq!(
            ATTACHMENTS.upsert(mark).sql,
            "INSERT INTO attachments (addon_id, slot, app, prefix, state, generation, revoke_from, revoke_at, \
             created_at, updated_at, vars_generation, read_only) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (addon_id, slot) DO UPDATE SET state = excluded.state, generation = excluded.generation, \
             revoke_from = excluded.revoke_from, revoke_at = excluded.revoke_at, updated_at = excluded.updated_at, \
             vars_generation = excluded.vars_generation"
        );
        assert_eq!(HOOK_RUNS.field_list(), "app, vars_version, started_at, finished_at, result, exit_status, output");
    }
}
