//! The store's primitive reads and writes as PostgreSQL statements, each prepared once
//! per connection. A write transaction is READ COMMITTED and locks the addon rows it
//! reads to change (`FOR UPDATE`); claims skip rows other hosts hold (`SKIP LOCKED`)
//! and run their leases on the server's clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;

use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

use super::location::Location;
use super::rows::{array, decode, glance, mark, param, params, sql_type};
use super::unusable;
use crate::addon::{Addon, Glance};
use crate::attachment::Attachment;
use crate::backup::Backup;
use crate::machine::State;
use crate::store::backend::{glance_sql, has_task_sql};
use crate::store::backend::{scan_sql, Scan, ScanDialect, ScanParam, SCAN_BATCH};
use crate::store::backend::{
    AppVersions, ConfigVar, EventRecord, HookRow, HookRun, NewEvent, Retired, StoreError, Trouble, Txn, VarOwner,
};
use crate::store::copy;
use crate::store::tables::{Record, Value, Write, Writes, ADDONS, ATTACHMENTS, BACKUPS, HOOK_RUNS};

/// The server's clock in milliseconds since the epoch (the time of the statement, not
/// of the transaction's start).
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// `state IN (...)` of the live states, built once from `State`.
fn live() -> &'static str {
    static LIVE: OnceLock<String> = OnceLock::new();
    LIVE.get_or_init(|| {
        let names: Vec<String> = State::ALL
            .into_iter()
            .filter(|state| !state.is_terminal())
            .map(|state| format!("'{}'", state.as_str()))
            .collect();
        format!("state IN ({})", names.join(", "))
    })
}

/// How a scan's statement reads a label here: the labels column as `jsonb`.
const DIALECT: ScanDialect = ScanDialect {
    mark: |n, int| format!("${n}::{}", if int { "bigint" } else { "text" }),
    label: |mark| format!("(labels::jsonb ->> {mark})"),
    key: str::to_string,
    distinct: "IS DISTINCT FROM",
    made: "seq",
};

/// The statements that read or write a record, built once from the tables' declarations.
struct Sql {
    /// An addon by id: as read, and locked for a write.
    by_id: [String; 2],
    by_name: String,
    /// One app's addons, then every app's: all, and live ones only.
    list_app: [String; 2],
    list_every: [String; 2],
    failing: String,
    /// Glances at the addons with work left, and at those of a list of ids.
    moving: String,
    these: String,
    claim_due: String,
    lock_addons: String,
    writes: Writes,
    attachments: String,
    live_attachments: String,
    batch_attachments: String,
    locked_attachments: String,
    hook_runs: String,
}

static SQL: LazyLock<Sql> = LazyLock::new(|| {
    let columns = ADDONS.field_list();
    let attachment = ATTACHMENTS.field_list();
    let live = live();
    let select = |rest: &str| format!("SELECT {columns} FROM addons {rest}");
    let select_attachments = |rest: &str| format!("SELECT {attachment} FROM attachments {rest}");
    Sql {
        by_id: [select("WHERE id = $1"), select("WHERE id = $1 FOR NO KEY UPDATE")],
        by_name: select(&format!("WHERE name = $1 ORDER BY {live} DESC, created_at DESC, seq DESC LIMIT 1")),
        list_app: [
            select("WHERE app = $1 ORDER BY created_at, seq"),
            select(&format!("WHERE app = $1 AND {live} ORDER BY created_at, seq")),
        ],
        list_every: [
            select("ORDER BY app, created_at, seq"),
            select(&format!("WHERE {live} ORDER BY app, created_at, seq")),
        ],
        failing: select("WHERE attempts > 0 AND last_error IS NOT NULL ORDER BY app, created_at, seq"),
        moving: format!(
            "SELECT {} FROM addons WHERE due_at IS NOT NULL AND {} ORDER BY app, created_at, seq",
            glance_sql(),
            has_task_sql()
        ),
        these: format!("SELECT {} FROM addons WHERE id = ANY($1)", glance_sql()),
        // Rows another host is claiming right now are skipped, not waited for; a row
        // claimed and committed meanwhile is seen as claimed (READ COMMITTED re-checks
        // a locked row against its newest version).
        claim_due: format!(
            "WITH clock AS (SELECT {NOW_MS} AS now), \
             claimed AS (UPDATE addons SET claim = $1, claim_until = (SELECT now FROM clock) + $2 WHERE id IN (\
               SELECT id FROM addons WHERE due_at <= $3 \
               AND (claim IS NULL OR claim_until < (SELECT now FROM clock)) \
               AND ($4::text[] IS NULL OR id = ANY($4)) \
               ORDER BY due_at, seq LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING {columns}, seq) \
             SELECT {columns} FROM claimed ORDER BY due_at, seq"
        ),
        lock_addons: format!(
            "SELECT id, claim, version, {NOW_MS} AS clock FROM addons WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"
        ),
        writes: Writes::new(mark),
        attachments: select_attachments("WHERE addon_id = $1 ORDER BY slot"),
        live_attachments: select_attachments(
            "WHERE state <> 'detached' AND ($1::text IS NULL OR app = $1) ORDER BY addon_id, slot",
        ),
        batch_attachments: select_attachments(
            "WHERE state <> 'detached' AND addon_id = ANY($1::text[]) ORDER BY addon_id, slot",
        ),
        locked_attachments: select_attachments("WHERE addon_id = ANY($1) ORDER BY addon_id, slot"),
        hook_runs: format!("SELECT {} FROM hook_runs WHERE app = $1 ORDER BY seq DESC", HOOK_RUNS.field_list()),
    }
});

/// One transaction on the state's connection.
///
/// Writers run side by side, locking only the rows they change, always addons before
/// apps: a write reads an addon `FOR NO KEY UPDATE` (which lets other writers record
/// its events and reserve its vars, whose foreign keys only share the row), and a
/// batch of steps locks all its addons in sorted order first ([`Txn::lock_addons`]).
/// An app's row, which many addons share, is written last: the counts of changes of
/// its vars ([`Txn::bump_version`]) are kept here and written at commit, apps in sorted
/// order, so a batch holds an app only for the moment of its commit and not for all of
/// its steps. A deadlock the server still finds undoes the transaction as a
/// [`StoreError::Collision`], which the store runs again. Claims never wait (`SKIP LOCKED`).
///
/// Round trips are what a step costs here, so a batch's steps make few: the lock of
/// the batch reads its rows, their attachments and the clock, which the steps then use
/// instead of asking again, and events, like app counts, are written at commit, all
/// in one statement.
pub struct PgTxn<'a> {
    tx: Transaction<'a>,
    statements: &'a mut HashMap<String, Statement>,
    location: &'a Location,
    /// Whether this is a write transaction (reads of addons lock their rows).
    writing: bool,
    /// Whether it changed an addon (work due, or work finished) that sleeping watchers
    /// should hear of at commit.
    work_due: bool,
    /// The connection's record of telling the watchers (see [`Notices`]).
    notices: &'a mut Notices,
    /// Changes of each app's vars not yet written to its row (see above).
    bumps: BTreeMap<String, i64>,
    /// `bumps` as they were at the savepoint, to go back to if it is rolled back.
    bumps_at_savepoint: Option<BTreeMap<String, i64>>,
    /// Events recorded and not yet written: all of them go in one statement at commit
    /// (or before anything reads or copies rows), in the order they were recorded.
    events: Vec<PendingEvent>,
    /// Steps' changes of addon rows not yet written: all of them go before the next
    /// statement this transaction sends (or its commit), those of the same columns in
    /// one statement, so a batch of steps costs one round trip for its rows, not one a step.
    updates: Vec<PendingUpdate>,
    /// The claim and version of each row [`Txn::lock_addons`] locked, as it locked
    /// it, until this transaction writes it; nothing else can change a row while it is
    /// locked. A step whose claimed copy has that version needs no more of the row.
    locked: HashMap<String, (Option<String>, i64)>,
    /// The attachments of the rows [`Txn::lock_addons`] locked, each addon's until this
    /// transaction writes one of them: every writer of an addon's attachments holds
    /// the addon's row, so no other can add or change one meanwhile.
    locked_attachments: HashMap<String, Vec<Attachment>>,
    /// The server's clock as [`Txn::lock_addons`] locked a batch's rows: the time of
    /// the batch's steps.
    clock: Option<i64>,
}

/// How often a connection tells the watchers of its writes at most. Every transaction
/// that sends a `NOTIFY` holds one lock of the whole server while it commits, so ticks
/// that told of every batch's commit took turns at committing; a watcher hears of a
/// burst of writes within this time instead, and of the last ones when the writer's tick
/// ends ([`crate::store::backend::Backend::settle`]).
const NOTICE_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// When a connection last told the watchers of its writes, and whether it owes them
/// a telling of later ones.
#[derive(Debug, Default)]
pub(super) struct Notices {
    last: Option<std::time::Instant>,
    owed: bool,
}

impl Notices {
    /// Whether a write transaction's commit (that changed an addon when `changed`)
    /// tells the watchers: when something is owed and the last telling is old enough.
    fn at_commit(&mut self, changed: bool) -> bool {
        self.owed |= changed;
        self.owed && self.last.is_none_or(|last| last.elapsed() >= NOTICE_EVERY)
    }

    pub(super) fn owed(&self) -> bool {
        self.owed
    }

    pub(super) fn told(&mut self) {
        self.owed = false;
        self.last = Some(std::time::Instant::now());
    }
}

/// A change of an addon row to be written before the next statement: the update of
/// its changed columns and that update's parameters.
struct PendingUpdate {
    write: std::sync::Arc<Write>,
    params: Vec<Value<'static>>,
}

/// An event to be written at commit.
struct PendingEvent {
    addon_id: String,
    at: i64,
    from: Option<&'static str>,
    to: &'static str,
    event: String,
    message: String,
}

impl<'a> PgTxn<'a> {
    pub fn new(
        tx: Transaction<'a>,
        statements: &'a mut HashMap<String, Statement>,
        location: &'a Location,
        writing: bool,
        notices: &'a mut Notices,
    ) -> Self {
        PgTxn {
            tx,
            statements,
            location,
            writing,
            work_due: false,
            notices,
            bumps: BTreeMap::new(),
            bumps_at_savepoint: None,
            events: Vec::new(),
            updates: Vec::new(),
            locked: HashMap::new(),
            locked_attachments: HashMap::new(),
            clock: None,
        }
    }

    /// Writes the steps' pending changes of addon rows, in order: a run of changes of
    /// the same columns, each of another row, as one statement.
    fn write_updates(&mut self) -> Result<(), StoreError> {
        if self.updates.is_empty() {
            return Ok(());
        }
        let updates = std::mem::take(&mut self.updates);
        let mut rest = &updates[..];
        while let Some(first) = rest.first() {
            let mut keys: Vec<&Value<'static>> = Vec::new();
            let run = rest
                .iter()
                .take_while(|update| {
                    let key = &update.params[0];
                    let fits = std::sync::Arc::ptr_eq(&update.write, &first.write) && !keys.contains(&key);
                    keys.push(key);
                    fits
                })
                .count();
            let (these, next) = rest.split_at(run);
            rest = next;
            let takes = &first.write.takes;
            let params: Vec<Box<dyn ToSql + Sync>> = if these.len() == 1 {
                takes.iter().zip(&first.params).map(|(&(_, kind), value)| param(value, kind)).collect()
            } else {
                (0..takes.len()).map(|n| array(takes[n].1, these.iter().map(|update| &update.params[n]))).collect()
            };
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|value| &**value as &(dyn ToSql + Sync)).collect();
            if these.len() == 1 {
                self.execute(&first.write.sql, &params)?;
            } else {
                let arrays: Vec<String> = takes
                    .iter()
                    .enumerate()
                    .map(|(n, &(_, kind))| format!("${}::{}[]", n + 1, sql_type(kind)))
                    .collect();
                let sql = ADDONS.update_rows_of(&first.write, &format!("unnest({})", arrays.join(", ")));
                self.execute(&sql, &params)?;
            }
        }
        Ok(())
    }

    /// Writes the recorded events, in order, as one statement.
    fn write_events(&mut self) -> Result<(), StoreError> {
        if self.events.is_empty() {
            return Ok(());
        }
        let events = std::mem::take(&mut self.events);
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for event in events {
            columns.0.push(event.addon_id);
            columns.1.push(event.at);
            columns.2.push(event.from);
            columns.3.push(event.to);
            columns.4.push(event.event);
            columns.5.push(event.message);
        }
        // The identity numbers follow the order of the rows inserted: the recorded order.
        self.execute(
            "INSERT INTO events (addon_id, at, from_state, to_state, event, message) \
             SELECT addon_id, at, from_state, to_state, event, message FROM \
             unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[]) \
             WITH ORDINALITY AS e (addon_id, at, from_state, to_state, event, message, n) ORDER BY n",
            &[&columns.0, &columns.1, &columns.2, &columns.3, &columns.4, &columns.5],
        )?;
        Ok(())
    }

    /// Forgets what [`Txn::lock_addons`] read: a statement changed addons.
    fn forget_locked(&mut self) {
        self.locked.clear();
    }

    /// Writes the counted changes of apps' vars, apps in sorted order, as one statement.
    fn write_bumps(&mut self) -> Result<(), StoreError> {
        if self.bumps.is_empty() {
            return Ok(());
        }
        let (apps, counts): (Vec<String>, Vec<i64>) = std::mem::take(&mut self.bumps).into_iter().unzip();
        self.execute(
            "INSERT INTO apps (name, vars_version) SELECT * FROM unnest($1::text[], $2::bigint[]) ORDER BY 1 \
             ON CONFLICT (name) DO UPDATE SET vars_version = apps.vars_version + excluded.vars_version",
            &[&apps, &counts],
        )?;
        Ok(())
    }

    /// The statement for `sql`, prepared on first use.
    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        self.prepared(sql)
    }

    /// The statement for `sql`, prepared on first use.
    fn prepared(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).map_err(|err| unusable(self.location, &err))?;
        self.statements.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        self.write_updates()?;
        let statement = self.statement(sql)?;
        self.tx.query(&statement, params).map_err(|err| unusable(self.location, &err))
    }

    fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, StoreError> {
        self.write_updates()?;
        let statement = self.statement(sql)?;
        self.tx.query_opt(&statement, params).map_err(|err| unusable(self.location, &err))
    }

    fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        self.write_updates()?;
        let statement = self.statement(sql)?;
        self.tx.query_one(&statement, params).map_err(|err| unusable(self.location, &err))
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.write_updates()?;
        let statement = self.statement(sql)?;
        self.tx.execute(&statement, params).map_err(|err| unusable(self.location, &err))
    }

    /// Runs transaction control that takes no parameters and is not worth preparing.
    fn control(&mut self, sql: &str) -> Result<(), StoreError> {
        self.write_updates()?;
        self.tx.batch_execute(sql).map_err(|err| unusable(self.location, &err))
    }

    fn addons(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Addon>, StoreError> {
        let rows = self.query(sql, params)?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    /// Runs a statement that writes a record.
    fn write<T: Record>(&mut self, statement: &Write, record: &T) -> Result<u64, StoreError> {
        let values = params(statement, record);
        let values: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| &**value as &(dyn ToSql + Sync)).collect();
        self.execute(&statement.sql, &values)
    }

    fn strings(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<String>, StoreError> {
        Ok(self.query(sql, params)?.iter().map(|row| row.get(0)).collect())
    }
}

fn count(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl Txn for PgTxn<'_> {
    fn now(&mut self) -> Result<i64, StoreError> {
        if let Some(clock) = self.clock {
            return Ok(clock);
        }
        let statement = self.prepared(&format!("SELECT {NOW_MS}"))?;
        let row = self.tx.query_one(&statement, &[]).map_err(|err| unusable(self.location, &err))?;
        Ok(row.get(0))
    }

    fn addon(&mut self, id: &str) -> Result<Option<Addon>, StoreError> {
        let row = self.query_opt(&SQL.by_id[usize::from(self.writing)], &[&id])?;
        row.map(|row| decode(self.location, &row)).transpose()
    }

    fn addon_by_name(&mut self, name: &str) -> Result<Option<Addon>, StoreError> {
        Ok(self.addons(&SQL.by_name, &[&name])?.into_iter().next())
    }

    fn live_name_taken(&mut self, name: &str) -> Result<bool, StoreError> {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM addons WHERE name = $1 AND {})", live());
        Ok(self.query_one(&sql, &[&name])?.get(0))
    }

    fn addon_names(&mut self, live_only: bool) -> Result<Vec<String>, StoreError> {
        let visible = if live_only { format!("WHERE {}", live()) } else { String::new() };
        self.strings(&format!("SELECT DISTINCT name FROM addons {visible} ORDER BY name"), &[])
    }

    fn list_addons(&mut self, app: Option<&str>, all: bool) -> Result<Vec<Addon>, StoreError> {
        let live = usize::from(!all);
        match app {
            Some(app) => self.addons(&SQL.list_app[live], &[&app]),
            None => self.addons(&SQL.list_every[live], &[]),
        }
    }

    fn scan_addons(&mut self, scan: &Scan<'_>, visit: &mut dyn FnMut(Vec<Addon>) -> bool) -> Result<(), StoreError> {
        let (sql, params) = scan_sql(scan, &DIALECT);
        let params: Vec<Box<dyn ToSql + Sync>> = params
            .into_iter()
            .map(|param| -> Box<dyn ToSql + Sync> {
                match param {
                    ScanParam::Text(text) => Box::new(text),
                    ScanParam::Int(n) => Box::new(n),
                }
            })
            .collect();
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|param| &**param as &(dyn ToSql + Sync)).collect();
        self.write_updates()?;
        let statement = self.statement(&sql)?;
        // A portal hands the rows over a batch at a time, so neither side holds them all.
        let portal = self.tx.bind(&statement, &params).map_err(|err| unusable(self.location, &err))?;
        loop {
            let rows = self.tx.query_portal(&portal, SCAN_BATCH as i32).map_err(|err| unusable(self.location, &err))?;
            if rows.is_empty() {
                return Ok(());
            }
            let last = rows.len() < SCAN_BATCH;
            let mut batch =
                rows.iter().map(|row| decode::<Addon>(self.location, row)).collect::<Result<Vec<_>, _>>()?;
            drop(rows);
            let ids: Vec<&str> = batch.iter().map(|addon| addon.id.as_str()).collect();
            let attachments = self.query(&SQL.batch_attachments, &[&ids])?;
            for row in &attachments {
                let attachment: Attachment = decode(self.location, row)?;
                if let Some(addon) = batch.iter_mut().find(|addon| addon.id == attachment.addon_id) {
                    addon.attachments.push(attachment);
                }
            }
            if !visit(batch) || last {
                return Ok(());
            }
        }
    }

    fn moving_glances(&mut self) -> Result<Vec<Glance>, StoreError> {
        let rows = self.query(&SQL.moving, &[])?;
        rows.iter().map(|row| glance(self.location, row)).collect()
    }

    fn glances(&mut self, ids: &[String]) -> Result<Vec<Glance>, StoreError> {
        let rows = self.query(&SQL.these, &[&ids])?;
        rows.iter().map(|row| glance(self.location, row)).collect()
    }

    fn due_checks(&mut self, before: i64) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        let rows = self.query(
            "SELECT id, verified_at FROM addons WHERE state = 'ready' AND coalesce(verified_at, updated_at) <= $1 \
             ORDER BY app, created_at, seq",
            &[&before],
        )?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn hidden_counts(&mut self, app: Option<&str>) -> Result<(usize, usize), StoreError> {
        let row = self.query_one(
            "SELECT count(*) FILTER (WHERE state = 'error'), \
             count(*) FILTER (WHERE state = 'deprovisioned' AND cleanup = 'pending') \
             FROM addons WHERE ($1::text IS NULL OR app = $1) AND state IN ('error', 'deprovisioned')",
            &[&app],
        )?;
        let (errors, pending): (i64, i64) = (row.get(0), row.get(1));
        Ok((errors as usize, pending as usize))
    }

    fn apps_of(&mut self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        self.strings("SELECT DISTINCT app FROM addons WHERE id = ANY($1) ORDER BY app", &[&ids])
    }

    fn insert_addon(&mut self, addon: &Addon) -> Result<(), StoreError> {
        self.write(&SQL.writes.insert_addon, addon)?;
        // Work now due wakes a watcher; so does work finished (a `wait` settles, a
        // `watch` whose last work another process did ends).
        self.work_due = true;
        Ok(())
    }

    fn update_addon(&mut self, addon: &Addon) -> Result<(), StoreError> {
        self.locked.remove(&addon.id);
        self.write(&SQL.writes.update_addon, addon)?;
        // Work now due wakes a watcher; so does work finished (a `wait` settles, a
        // `watch` whose last work another process did ends).
        self.work_due = true;
        Ok(())
    }

    fn update_addon_from(&mut self, stored: &Addon, addon: &Addon) -> Result<(), StoreError> {
        self.locked.remove(&addon.id);
        let values = addon.to_values();
        let write = SQL.writes.addon_updates.of(&stored.to_values(), &values);
        let params = write.params(&values).map(|(value, _)| value.clone().into_owned()).collect();
        self.updates.push(PendingUpdate { write, params });
        self.work_due = true;
        Ok(())
    }

    fn claim_of(&mut self, id: &str) -> Result<Option<(Option<String>, i64)>, StoreError> {
        if let Some(locked) = self.locked.get(id) {
            return Ok(Some(locked.clone()));
        }
        Ok(self.addon(id)?.map(|addon| (addon.claim, addon.version)))
    }

    /// Kept here; written at commit (or before a read of events).
    fn record_event(&mut self, event: &NewEvent<'_>) -> Result<(), StoreError> {
        self.events.push(PendingEvent {
            addon_id: event.addon_id.to_string(),
            at: event.at,
            from: event.from.map(State::as_str),
            to: event.to.as_str(),
            event: event.event.to_string(),
            message: event.message.to_string(),
        });
        Ok(())
    }

    fn events(&mut self, addon_id: &str) -> Result<Vec<EventRecord>, StoreError> {
        self.write_events()?;
        let rows = self.query(
            "SELECT at, from_state, to_state, event, message FROM events WHERE addon_id = $1 ORDER BY seq",
            &[&addon_id],
        )?;
        Ok(rows
            .iter()
            .map(|row| EventRecord {
                at: row.get(0),
                from: row.get(1),
                to: row.get(2),
                event: row.get(3),
                message: row.get(4),
            })
            .collect())
    }

    fn claim_due(
        &mut self,
        token: &str,
        due_by: i64,
        lease: Duration,
        limit: usize,
        only: Option<&[String]>,
    ) -> Result<Vec<Addon>, StoreError> {
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let only = only.map(<[String]>::to_vec);
        self.forget_locked();
        self.addons(&SQL.claim_due, &[&token, &lease, &due_by, &only, &limit])
    }

    fn release_claim(&mut self, addon_id: &str, token: &str) -> Result<bool, StoreError> {
        self.forget_locked();
        let released = self.execute(
            "UPDATE addons SET claim = NULL, claim_until = NULL WHERE id = $1 AND claim = $2",
            &[&addon_id, &token],
        )?;
        self.work_due |= released > 0;
        Ok(released > 0)
    }

    fn claim_holders(&mut self) -> Result<Vec<String>, StoreError> {
        // Every claimed addon has a task due, so the due index finds the claims.
        self.strings(
            &format!(
                "SELECT claim FROM addons WHERE due_at IS NOT NULL AND claim IS NOT NULL AND claim_until >= {NOW_MS} \
                 UNION SELECT hook_claim FROM apps WHERE hook_claim IS NOT NULL AND hook_claim_until >= {NOW_MS}"
            ),
            &[],
        )
    }

    fn expire_claims_of(&mut self, token: &str) -> Result<usize, StoreError> {
        self.forget_locked();
        let expired =
            self.execute("UPDATE addons SET claim_until = 0 WHERE due_at IS NOT NULL AND claim = $1", &[&token])?;
        self.work_due |= expired > 0;
        let hooks = self.execute("UPDATE apps SET hook_claim_until = 0 WHERE hook_claim = $1", &[&token])?;
        Ok(count(expired + hooks))
    }

    fn pending_count(&mut self, only: Option<&[String]>) -> Result<usize, StoreError> {
        let only = only.map(<[String]>::to_vec);
        let row = self.query_one(
            &format!(
                "SELECT count(*) FROM addons WHERE due_at IS NOT NULL AND {} AND ($1::text[] IS NULL OR id = ANY($1))",
                has_task_sql()
            ),
            &[&only],
        )?;
        Ok(row.get::<_, i64>(0) as usize)
    }

    fn next_due(&mut self, only: Option<&[String]>) -> Result<Option<i64>, StoreError> {
        let only = only.map(<[String]>::to_vec);
        let row = self.query_one(
            "SELECT min(CASE WHEN claim IS NOT NULL THEN greatest(due_at, claim_until) ELSE due_at END) \
             FROM addons WHERE due_at IS NOT NULL AND ($1::text[] IS NULL OR id = ANY($1))",
            &[&only],
        )?;
        Ok(row.get(0))
    }

    fn ensure_app(&mut self, app: &str) -> Result<(), StoreError> {
        self.execute("INSERT INTO apps (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", &[&app])?;
        Ok(())
    }

    fn app_exists(&mut self, app: &str) -> Result<bool, StoreError> {
        Ok(self.query_one("SELECT EXISTS (SELECT 1 FROM apps WHERE name = $1)", &[&app])?.get(0))
    }

    fn app_names(&mut self) -> Result<Vec<String>, StoreError> {
        self.strings("SELECT name FROM apps ORDER BY name", &[])
    }

    fn var_owner(&mut self, app: &str, key: &str) -> Result<Option<VarOwner>, StoreError> {
        let row = self.query_opt(
            "SELECT v.addon_id, a.name FROM config_vars v LEFT JOIN addons a ON a.id = v.addon_id \
             WHERE v.app = $1 AND v.key = $2",
            &[&app, &key],
        )?;
        Ok(row.map(|row| match (row.get::<_, Option<String>>(0), row.get::<_, Option<String>>(1)) {
            (Some(id), Some(name)) => VarOwner::Addon { id, name },
            _ => VarOwner::Hand,
        }))
    }

    fn reserve_var(&mut self, app: &str, key: &str, addon_id: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO config_vars (app, key, value, addon_id) VALUES ($1, $2, NULL, $3)",
            &[&app, &key, &addon_id],
        )?;
        Ok(())
    }

    fn fill_var(&mut self, app: &str, key: &str, addon_id: &str, value: &str) -> Result<bool, StoreError> {
        let filled = self.execute(
            "UPDATE config_vars SET value = $4 WHERE app = $1 AND key = $2 AND addon_id = $3",
            &[&app, &key, &addon_id, &value],
        )?;
        Ok(filled > 0)
    }

    fn release_vars(&mut self, addon_id: &str) -> Result<usize, StoreError> {
        Ok(count(self.execute("DELETE FROM config_vars WHERE addon_id = $1", &[&addon_id])?))
    }

    fn set_var(&mut self, app: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO config_vars (app, key, value, addon_id) VALUES ($1, $2, $3, NULL) \
             ON CONFLICT (app, key) DO UPDATE SET value = excluded.value",
            &[&app, &key, &value],
        )?;
        Ok(())
    }

    fn delete_var(&mut self, app: &str, key: &str) -> Result<bool, StoreError> {
        Ok(self.execute("DELETE FROM config_vars WHERE app = $1 AND key = $2", &[&app, &key])? > 0)
    }

    fn vars(&mut self, app: &str) -> Result<Vec<ConfigVar>, StoreError> {
        let rows = self.query(
            "SELECT v.key, v.value, a.name FROM config_vars v LEFT JOIN addons a ON a.id = v.addon_id \
             WHERE v.app = $1 AND v.value IS NOT NULL ORDER BY v.key",
            &[&app],
        )?;
        Ok(rows.iter().map(|row| ConfigVar { key: row.get(0), value: row.get(1), addon: row.get(2) }).collect())
    }

    /// Counted here; written at commit (or before a read of the app's versions).
    fn bump_version(&mut self, app: &str) -> Result<(), StoreError> {
        *self.bumps.entry(app.to_string()).or_default() += 1;
        Ok(())
    }

    fn app_versions(&mut self, app: &str) -> Result<Option<AppVersions>, StoreError> {
        self.write_bumps()?;
        let row = self.query_opt("SELECT vars_version, env_version FROM apps WHERE name = $1", &[&app])?;
        Ok(row.map(|row| AppVersions { vars: row.get(0), env: row.get(1) }))
    }

    fn mark_env_written(&mut self, app: &str, version: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE apps SET env_version = $2, env_error = NULL, env_error_at = NULL WHERE name = $1",
            &[&app, &version],
        )?;
        Ok(())
    }

    fn record_env_error(&mut self, app: &str, why: &str, at: i64) -> Result<(), StoreError> {
        self.execute("UPDATE apps SET env_error = $2, env_error_at = $3 WHERE name = $1", &[&app, &why, &at])?;
        Ok(())
    }

    fn env_errors(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = self.query("SELECT name, env_error FROM apps WHERE env_error IS NOT NULL ORDER BY name", &[])?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn hook_row(&mut self, app: &str) -> Result<Option<HookRow>, StoreError> {
        // Counted changes of vars are written first: the row holds `vars_version`.
        self.write_bumps()?;
        let lock = if self.writing { " FOR UPDATE" } else { "" };
        let row = self.query_opt(
            &format!(
                "SELECT vars_version, hook_version, hook_attempts, hook_failed_version, hook_due_at, hook_claim, \
                 hook_claim_until, {NOW_MS} FROM apps WHERE name = $1{lock}"
            ),
            &[&app],
        )?;
        Ok(row.map(|row| HookRow {
            vars_version: row.get(0),
            hook_version: row.get(1),
            attempts: row.get::<_, i32>(2).max(0) as u32,
            failed_version: row.get(3),
            due_at: row.get(4),
            claim: row.get(5),
            claim_until: row.get(6),
            now: row.get(7),
        }))
    }

    fn put_hook_row(&mut self, app: &str, row: &HookRow) -> Result<(), StoreError> {
        let attempts = i32::try_from(row.attempts).unwrap_or(i32::MAX);
        self.execute(
            "UPDATE apps SET hook_version = $2, hook_attempts = $3, hook_failed_version = $4, hook_due_at = $5, \
             hook_claim = $6, hook_claim_until = $7 WHERE name = $1",
            &[&app, &row.hook_version, &attempts, &row.failed_version, &row.due_at, &row.claim, &row.claim_until],
        )?;
        Ok(())
    }

    fn add_hook_run(&mut self, run: &HookRun, keep: usize) -> Result<(), StoreError> {
        self.write(&SQL.writes.insert_hook_run, run)?;
        self.execute(
            "DELETE FROM hook_runs WHERE app = $1 AND seq NOT IN \
             (SELECT seq FROM hook_runs WHERE app = $1 ORDER BY seq DESC LIMIT $2)",
            &[&run.app, &(keep as i64)],
        )?;
        Ok(())
    }

    fn hook_runs(&mut self, app: &str) -> Result<Vec<HookRun>, StoreError> {
        let rows = self.query(&SQL.hook_runs, &[&app])?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    fn backups(&mut self, addon_id: Option<&str>) -> Result<Vec<Backup>, StoreError> {
        let sql = format!(
            "SELECT {} FROM backups WHERE ($1::text IS NULL OR addon_id = $1) ORDER BY requested_at, id",
            BACKUPS.field_list()
        );
        let rows = self.query(&sql, &[&addon_id])?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    fn failing_backups(&mut self) -> Result<Vec<Backup>, StoreError> {
        let sql = format!(
            "SELECT {} FROM backups b WHERE b.scheduled AND b.status = 'failed' AND b.requested_at = \
             (SELECT max(l.requested_at) FROM backups l WHERE l.addon_id = b.addon_id AND l.scheduled AND l.status <> 'pending') ORDER BY b.addon_id",
            BACKUPS.field_list().split(", ").map(|c| format!("b.{c}")).collect::<Vec<_>>().join(", ")
        );
        let rows = self.query(&sql, &[])?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    fn pending_backups(&mut self) -> Result<Vec<Backup>, StoreError> {
        let sql =
            format!("SELECT {} FROM backups WHERE status = 'pending' ORDER BY requested_at, id", BACKUPS.field_list());
        let rows = self.query(&sql, &[])?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    /// In a write transaction the row is locked until it ends: its claim is read and
    /// written by one writer at a time.
    fn backup(&mut self, id: &str) -> Result<Option<Backup>, StoreError> {
        let lock = if self.writing { " FOR UPDATE" } else { "" };
        let sql = format!("SELECT {} FROM backups WHERE id = $1{lock}", BACKUPS.field_list());
        let row = self.query_opt(&sql, &[&id])?;
        row.map(|row| decode(self.location, &row)).transpose()
    }

    fn put_backup(&mut self, backup: &Backup) -> Result<(), StoreError> {
        self.write(&SQL.writes.put_backup, backup)?;
        Ok(())
    }

    fn delete_backup(&mut self, id: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM backups WHERE id = $1", &[&id])?;
        Ok(())
    }

    fn attachments(&mut self, addon_id: &str) -> Result<Vec<Attachment>, StoreError> {
        if let Some(attachments) = self.locked_attachments.get(addon_id) {
            return Ok(attachments.clone());
        }
        let rows = self.query(&SQL.attachments, &[&addon_id])?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    fn live_attachments(&mut self, app: Option<&str>) -> Result<Vec<Attachment>, StoreError> {
        let rows = self.query(&SQL.live_attachments, &[&app])?;
        rows.iter().map(|row| decode(self.location, row)).collect()
    }

    fn put_attachment(&mut self, attachment: &Attachment) -> Result<(), StoreError> {
        self.locked_attachments.remove(&attachment.addon_id);
        self.write(&SQL.writes.put_attachment, attachment)?;
        // An attachment to make or revoke is work a sleeping watcher should hear of.
        self.work_due = true;
        Ok(())
    }

    fn release_app_vars(&mut self, addon_id: &str, app: &str) -> Result<usize, StoreError> {
        Ok(count(self.execute("DELETE FROM config_vars WHERE addon_id = $1 AND app = $2", &[&addon_id, &app])?))
    }

    fn copy_rows(
        &mut self,
        table: &copy::Table,
        visit: &mut dyn FnMut(Vec<copy::Row>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.write_updates()?;
        self.write_events()?;
        super::copy::rows(&mut self.tx, self.location, table, visit)
    }

    fn paste_rows(&mut self, table: &copy::Table, rows: &[copy::Row]) -> Result<(), StoreError> {
        self.write_updates()?;
        self.write_events()?;
        self.forget_locked();
        self.locked_attachments.clear();
        super::copy::paste(&mut self.tx, self.location, table, rows)
    }

    fn count_rows(&mut self, table: &copy::Table) -> Result<u64, StoreError> {
        self.write_updates()?;
        self.write_events()?;
        super::copy::count(&mut self.tx, self.location, table)
    }

    /// Also reads the rows as it locks them, for the steps' [`Txn::addon`], and the
    /// server's clock, which is then the `now` of every step of the batch.
    fn lock_addons(&mut self, addon_ids: &[String]) -> Result<(), StoreError> {
        let ids = addon_ids.to_vec();
        let rows = self.query(&SQL.lock_addons, &[&ids])?;
        for row in &rows {
            let id: String = row.get("id");
            self.clock = Some(row.get("clock"));
            self.locked_attachments.insert(id.clone(), Vec::new());
            self.locked.insert(id, (row.get("claim"), row.get("version")));
        }
        // Read after the rows are locked, by a statement of its own: its snapshot sees
        // what a writer that held one of them committed before this lock was had.
        let rows = self.query(&SQL.locked_attachments, &[&ids])?;
        for row in &rows {
            let attachment: Attachment = decode(self.location, row)?;
            self.locked_attachments.entry(attachment.addon_id.clone()).or_default().push(attachment);
        }
        Ok(())
    }

    fn lock_table(&mut self, table: &copy::Table) -> Result<(), StoreError> {
        self.write_updates()?;
        super::copy::lock(&mut self.tx, self.location, table)
    }

    fn failing_addons(&mut self) -> Result<Vec<Addon>, StoreError> {
        self.addons(&SQL.failing, &[])
    }

    fn failing_hooks(&mut self) -> Result<Vec<String>, StoreError> {
        // Counted changes of vars are written first: these read `vars_version`.
        self.write_bumps()?;
        let rows = self.query(
            "SELECT name FROM apps WHERE hook_attempts > 0 AND hook_failed_version = vars_version \
             AND hook_version < vars_version ORDER BY name",
            &[],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn troubles(&mut self) -> Result<Vec<Trouble>, StoreError> {
        let lock = if self.writing { " FOR UPDATE" } else { "" };
        let rows =
            self.query(&format!("SELECT subject, since, warned_at FROM troubles ORDER BY subject{lock}"), &[])?;
        Ok(rows.iter().map(|row| Trouble { subject: row.get(0), since: row.get(1), warned_at: row.get(2) }).collect())
    }

    fn put_trouble(&mut self, trouble: &Trouble) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO troubles (subject, since, warned_at) VALUES ($1, $2, $3) \
             ON CONFLICT (subject) DO UPDATE SET since = excluded.since, warned_at = excluded.warned_at",
            &[&trouble.subject, &trouble.since, &trouble.warned_at],
        )?;
        Ok(())
    }

    fn drop_trouble(&mut self, subject: &str) -> Result<(), StoreError> {
        self.execute("DELETE FROM troubles WHERE subject = $1", &[&subject])?;
        Ok(())
    }

    fn retired(&mut self) -> Result<Option<Retired>, StoreError> {
        let row = self.query_opt("SELECT how, elsewhere, at FROM retired", &[])?;
        Ok(row.map(|row| Retired::from_columns(row.get(0), row.get(1), row.get(2))))
    }

    fn retire(&mut self, how: &Retired) -> Result<(), StoreError> {
        let (kind, elsewhere, at) = how.columns();
        self.execute(
            "INSERT INTO retired (id, how, elsewhere, at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET how = excluded.how, elsewhere = excluded.elsewhere, at = excluded.at",
            &[&kind, &elsewhere, &at],
        )?;
        Ok(())
    }

    fn savepoint(&mut self) -> Result<(), StoreError> {
        self.bumps_at_savepoint = Some(self.bumps.clone());
        // Events from before the savepoint are written before it, so that rolling it
        // back drops exactly the ones recorded since.
        self.write_events()?;
        self.control("SAVEPOINT step")
    }

    fn release_savepoint(&mut self) -> Result<(), StoreError> {
        self.bumps_at_savepoint = None;
        self.control("RELEASE SAVEPOINT step")
    }

    fn rollback_savepoint(&mut self) -> Result<(), StoreError> {
        if let Some(bumps) = self.bumps_at_savepoint.take() {
            self.bumps = bumps;
        }
        self.events.clear();
        self.updates.clear();
        self.control("ROLLBACK TO SAVEPOINT step; RELEASE SAVEPOINT step")
    }

    /// Tells the watchers of this schema, once, as the transaction commits (PostgreSQL
    /// delivers the notification only if it does), unless the connection told them
    /// within [`NOTICE_EVERY`]: then it owes them the telling (see [`Notices`]).
    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.write_updates()?;
        self.write_events()?;
        self.write_bumps()?;
        let location = self.location;
        let tell = self.writing && self.notices.at_commit(self.work_due);
        if tell {
            super::wakeups::notify(&mut self.tx, location.schema()).map_err(|err| unusable(location, &err))?;
        }
        self.tx.commit().map_err(|err| unusable(location, &err))?;
        if tell {
            self.notices.told();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Notices, NOTICE_EVERY};

    #[test]
    fn a_connection_tells_at_once_then_at_most_once_a_while_and_owes_what_it_held_back() {
        let mut notices = Notices::default();
        assert!(!notices.at_commit(false), "nothing changed, nothing to tell");
        assert!(notices.at_commit(true), "the first change is told at its commit");
        notices.told();
        assert!(!notices.at_commit(true), "a change soon after is held back");
        assert!(notices.owed(), "and owed");
        std::thread::sleep(NOTICE_EVERY);
        assert!(notices.at_commit(false), "a later commit tells what was held back, changed or not");
        notices.told();
        assert!(!notices.owed());
    }
}
