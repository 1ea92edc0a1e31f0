//! Moving a whole state (`addons state copy`): what a state holds, table by table and
//! column by column, written once for every backend, and the copy itself: one read
//! snapshot of the source, one transaction on an empty target, counts compared after.

use super::backend::{StoreError, Txn};
use super::Store;

/// How a column's values are kept, so each backend reads and writes its own type
/// (a PostgreSQL `boolean` is a SQLite `INTEGER` 0 or 1; a `bytea` a `BLOB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Bool,
    Blob,
}

/// The order a table's rows are read and written in.
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
    pub columns: &'static [(&'static str, Kind)],
    pub order: Order,
    /// Written as NULL in the target: a claim belongs to a process of the source, and
    /// the target's first tick must be free to take the work.
    pub cleared: &'static [&'static str],
    /// The column whose numbers later rows continue from (PostgreSQL's identity column
    /// is set past the copied values; SQLite's INTEGER PRIMARY KEY does it itself).
    pub sequence: Option<&'static str>,
}

use Kind::{Blob, Bool, Int, Text};

/// Every table a state holds and every column of each, in an order that writes a row
/// after the rows it refers to. A table or column added by a migration must be added
/// here: `every_table_and_column_of_the_schema_is_copied` fails until it is.
pub const TABLES: &[Table] = &[
    Table {
        name: "addons",
        noun: ("addon", "addons"),
        columns: &[
            ("id", Text),
            ("name", Text),
            ("provider", Text),
            ("app", Text),
            ("prefix", Text),
            ("params", Text),
            ("seed", Blob),
            ("state", Text),
            ("message", Text),
            ("vars", Text),
            ("config", Text),
            ("begun", Bool),
            ("cleanup", Text),
            ("attempts", Int),
            ("due_at", Int),
            ("deadline_at", Int),
            ("claim", Text),
            ("claim_until", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("failure", Text),
            ("last_error", Text),
            ("last_error_permanent", Bool),
            ("labels", Text),
            ("expires_at", Int),
            ("generation", Int),
            ("vars_generation", Int),
            ("revoke_from", Int),
            ("revoke_at", Int),
            ("verified_at", Int),
            ("drift", Text),
            ("source_id", Text),
        ],
        order: Order::Made,
        cleared: &["claim", "claim_until"],
        sequence: None,
    },
    Table {
        name: "events",
        noun: ("event", "events"),
        columns: &[
            ("seq", Int),
            ("addon_id", Text),
            ("at", Int),
            ("from_state", Text),
            ("to_state", Text),
            ("event", Text),
            ("message", Text),
        ],
        order: Order::Key("seq"),
        cleared: &[],
        sequence: Some("seq"),
    },
    Table {
        name: "apps",
        noun: ("app", "apps"),
        columns: &[
            ("name", Text),
            ("vars_version", Int),
            ("env_version", Int),
            ("env_error", Text),
            ("env_error_at", Int),
            ("hook_version", Int),
            ("hook_attempts", Int),
            ("hook_due_at", Int),
            ("hook_claim", Text),
            ("hook_claim_until", Int),
        ],
        order: Order::Key("name"),
        cleared: &["hook_claim", "hook_claim_until"],
        sequence: None,
    },
    Table {
        name: "config_vars",
        noun: ("config var", "config vars"),
        columns: &[("app", Text), ("key", Text), ("value", Text), ("addon_id", Text)],
        order: Order::Key("app, key"),
        cleared: &[],
        sequence: None,
    },
    Table {
        name: "hook_runs",
        noun: ("hook run", "hook runs"),
        columns: &[
            ("seq", Int),
            ("app", Text),
            ("vars_version", Int),
            ("started_at", Int),
            ("finished_at", Int),
            ("result", Text),
            ("exit_status", Int),
            ("output", Text),
        ],
        order: Order::Key("seq"),
        cleared: &[],
        sequence: Some("seq"),
    },
    Table {
        name: "attachments",
        noun: ("attachment", "attachments"),
        columns: &[
            ("addon_id", Text),
            ("slot", Int),
            ("app", Text),
            ("prefix", Text),
            ("state", Text),
            ("generation", Int),
            ("revoke_from", Int),
            ("revoke_at", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
        order: Order::Key("addon_id, slot"),
        cleared: &[],
        sequence: None,
    },
];

/// What a state holds that the copy leaves out, as (table, column) with `*` for a
/// whole table: the target makes its own.
pub const NOT_COPIED: &[(&str, &str)] = &[
    // PostgreSQL's marker of an addons state and its version: the target's migrations wrote it.
    ("schema_meta", "*"),
    // PostgreSQL's order of addons made in the same millisecond: given anew in the copied order.
    ("addons", "seq"),
];

/// One value of a row, whatever the backend's type (a boolean is 0 or 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row's values, in its table's column order.
pub type Row = Vec<Value>;

/// How many rows of each table went over, in [`TABLES`] order.
#[derive(Debug, Clone)]
pub struct Copied {
    pub counts: Vec<(&'static Table, u64)>,
}

impl Copied {
    /// "12 addons, 40 events, 3 apps, 7 config vars": the addons always, every other
    /// table when it had rows.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .counts
            .iter()
            .filter(|(table, count)| *count > 0 || table.name == "addons")
            .map(|(table, count)| format!("{count} {}", if *count == 1 { table.noun.0 } else { table.noun.1 }))
            .collect();
        parts.join(", ")
    }
}

impl Store {
    /// Copies every row of this state into `target`, which must be empty: inside one
    /// read snapshot of this state and one transaction on the target (all or nothing),
    /// claims cleared. Then counts the target's rows and compares. A non-empty target
    /// is refused (exit 4) with nothing written.
    pub fn copy_to(&self, target: &mut Store) -> anyhow::Result<Copied> {
        let described = target.describe();
        let copied = {
            let mut source = self.backend.borrow_mut();
            let mut from = source.read()?;
            let mut into = target.backend.get_mut().write()?;
            refuse_unless_empty(&mut *into, &described)?;
            let mut counts = Vec::new();
            for table in TABLES {
                let mut rows = from.copy_rows(table)?;
                for (index, (column, _)) in table.columns.iter().enumerate() {
                    if table.cleared.contains(column) {
                        rows.iter_mut().for_each(|row| row[index] = Value::Null);
                    }
                }
                into.paste_rows(table, &rows)?;
                counts.push((table, rows.len() as u64));
            }
            from.commit()?;
            into.commit()?;
            Copied { counts }
        };
        let found = target.read(|tx| TABLES.iter().map(|table| tx.count_rows(table)).collect::<Result<Vec<_>, _>>())?;
        for ((table, copied), found) in copied.counts.iter().zip(found) {
            if *copied != found {
                return Err(StoreError::Unusable(format!(
                    "state {described}: {copied} {} were copied, but it holds {found}; \
                     another process wrote to it meanwhile, empty it and copy again",
                    table.noun.1
                ))
                .into());
            }
        }
        Ok(copied)
    }
}

/// Keeps every other writer out of the target's tables, then refuses unless they are empty.
fn refuse_unless_empty(into: &mut dyn Txn, described: &str) -> Result<(), StoreError> {
    let mut held = Vec::new();
    for table in TABLES {
        into.lock_table(table)?;
        let count = into.count_rows(table)?;
        if count > 0 {
            held.push(format!("{count} {}", if count == 1 { table.noun.0 } else { table.noun.1 }));
        }
    }
    if held.is_empty() {
        return Ok(());
    }
    Err(StoreError::Unusable(format!(
        "state {described} is not empty (it holds {}); copy only to an empty state: a new file, or an unused ?schema=",
        held.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// Every (table, column) of a schema, as the backend lists them.
    type Columns = BTreeMap<String, BTreeSet<String>>;

    fn listed() -> Columns {
        TABLES
            .iter()
            .map(|table| (table.name.to_string(), table.columns.iter().map(|(name, _)| name.to_string()).collect()))
            .collect()
    }

    /// What the copy covers must be what the schema holds, less [`NOT_COPIED`].
    fn assert_covers(backend: &str, mut found: Columns) {
        for (table, column) in NOT_COPIED {
            if *column == "*" {
                found.remove(*table);
            } else if let Some(columns) = found.get_mut(*table) {
                columns.remove(*column);
            }
        }
        assert_eq!(
            found,
            listed(),
            "the {backend} schema's tables and columns differ from store::copy::TABLES (left: the schema); \
             add the new table or column to TABLES, or to NOT_COPIED when the target makes its own"
        );
    }

    #[test]
    fn every_table_and_column_of_the_sqlite_schema_is_copied() {
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
        assert_covers("SQLite", found);
    }

    #[test]
    fn every_table_and_column_of_the_postgres_schema_is_copied() {
        let Some(admin) = std::env::var("ADDONS_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty()) else {
            let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
            assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but ADDONS_TEST_POSTGRES_URL is not set");
            eprintln!("NOTICE: skipped: ADDONS_TEST_POSTGRES_URL is not set");
            return;
        };
        let schema = format!("t_{:016x}", rand::random::<u64>());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        let mut sql = format!("BEGIN; CREATE SCHEMA {schema}; SET LOCAL search_path = {schema};");
        for migration in crate::store::postgres::MIGRATIONS {
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
        assert_covers("PostgreSQL", found);
    }
}
