//! Moving a whole state (`addons state copy`), table by table and column by column as
//! [`TABLES`] declares them: one read snapshot of the source, one transaction on an
//! empty target, rows moved a batch at a time, counts compared after.

use super::backend::{Retired, StoreError, Txn};
use super::base::Store;
use super::refused::Refused;

pub use super::tables::{Row, Table, Value, TABLES};

/// How many rows of each table went over, in [`TABLES`] order.
#[derive(Debug, Clone)]
pub struct Copied {
    pub counts: Vec<(&'static Table, u64)>,
    /// Whether the source was marked as moved (not when it is a snapshot, or kept).
    pub source_moved: bool,
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

/// What a copy leaves acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyAs {
    /// A move: the copy acts, and this state is marked as moved to it (refusing
    /// every change from then on).
    Move,
    /// A backup: this state goes on acting, and the copy is a read-only snapshot of it.
    Snapshot,
}

impl Store {
    /// Copies every row of this state into `target`, which must be empty: one
    /// transaction on each (all or nothing), claims cleared; then counts the target's
    /// rows and compares. A move holds every writer of this state out meanwhile (nothing
    /// written after the copy's rows were read is lost) and marks it moved in the same
    /// transaction, after the target's rows were committed and counted; a snapshot marks
    /// the target. A snapshot copied stays as it was (the copy acts, unless it is a
    /// snapshot too). A non-empty target, or a source moved already, is refused (exit
    /// 4) with nothing written.
    pub fn copy_to(&self, target: &mut Store, how: CopyAs) -> anyhow::Result<Copied> {
        let described = target.describe();
        let source_described = self.describe();
        let mut source = self.backend.borrow_mut();
        let mut from = match how {
            CopyAs::Move => source.write()?,
            CopyAs::Snapshot => source.read()?,
        };
        // A snapshot stays one: copied to make a state that acts again, it is kept as it was.
        let retired = from.retired()?;
        if let Some(moved @ Retired::Moved { .. }) = retired {
            return Err(Refused::Retired { state: source_described, how: moved }.into());
        }
        let moving = how == CopyAs::Move && retired.is_none();
        let copied = {
            let mut into = target.backend.get_mut().write()?;
            refuse_unless_empty(&mut *into, &described)?;
            let mut counts = Vec::new();
            for table in TABLES {
                if moving {
                    from.lock_table(table)?;
                }
                let mut count = 0;
                from.copy_rows(table, &mut |mut rows| {
                    for (index, column) in table.columns.iter().enumerate() {
                        if table.cleared.contains(&column.name) {
                            rows.iter_mut().for_each(|row| row[index] = Value::Null);
                        }
                    }
                    count += rows.len() as u64;
                    into.paste_rows(table, &rows)
                })?;
                counts.push((table, count));
            }
            if how == CopyAs::Snapshot {
                let at = from.now()?;
                into.retire(&Retired::Snapshot { of: source_described, at })?;
            }
            into.commit()?;
            Copied { counts, source_moved: moving }
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
        if moving {
            let at = from.now()?;
            from.retire(&Retired::Moved { to: described, at })?;
        }
        from.commit()?;
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
