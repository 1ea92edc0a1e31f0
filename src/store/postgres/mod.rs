//! The state on a PostgreSQL server, shared by many hosts: connecting (TLS, a bounded
//! login), the schema's checks and migrations, and the mapping of the client's errors
//! to the one-line exit-4 refusals. The SQL of each store operation is in `txn`.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, SimpleQueryMessage, Statement};

use super::backend::{Backend, BackendKind, Conflict, Retired, StoreError, Txn, Wakeups};

mod copy;
mod location;
mod rows;
pub mod schema;
#[cfg(test)]
pub(crate) mod testing;
mod tls;
mod txn;
mod wakeups;

pub use location::{Location, PostgresLocation};

/// An open PostgreSQL state: one connection, and the statements prepared on it.
pub struct PgBackend {
    client: Client,
    location: Location,
    /// Prepared statements by SQL text: each is parsed and planned once per connection.
    statements: HashMap<String, Statement>,
    /// Whether the state was retired, as the opening batch read it (taken once).
    retired: Option<Option<Retired>>,
    /// When this connection last told the watchers of its writes, and whether it owes them.
    notices: txn::Notices,
}

impl Drop for PgBackend {
    /// A wake-up held back is sent before the connection closes (best effort: a
    /// watcher that misses it still finds the work at its next look).
    fn drop(&mut self) {
        let _ = self.settle();
    }
}

/// Connects to the state's server, refuses a schema that is not ours or is too new or a
/// user without the privileges the state needs, and migrates an old schema.
///
/// A state of this version that the user may use, the common case, costs the login and
/// one round trip: the session settings, the marker, the privileges and whether the
/// state was retired go in one batch ([`schema::opening`]). Anything else goes the
/// whole way.
pub fn open(state: &PostgresLocation) -> Result<Box<dyn Backend>, StoreError> {
    Ok(open_made(state, true)?.expect("a state that may be made is there once opened"))
}

/// Opens the state only when its schema is there (made by an earlier command, or by
/// hand): `None` when there is none, so a read-only command makes nothing.
pub fn open_existing(state: &PostgresLocation) -> Result<Option<Box<dyn Backend>>, StoreError> {
    open_made(state, false)
}

/// Opens the state as [`open`] does; a missing schema is made when `make`, else `None`.
fn open_made(state: &PostgresLocation, make: bool) -> Result<Option<Box<dyn Backend>>, StoreError> {
    let location =
        Location::new(state).map_err(|why| StoreError::Unusable(format!("state {}: {why}", state.describe())))?;
    let (mut client, opened) = connect_opening(&location)?;
    if opened.is_none() {
        if !make && !schema::exists(&mut client, &location)? {
            return Ok(None);
        }
        schema::prepare(&mut client, &location)?;
    }
    let mut backend = PgBackend::new(client, location)?;
    backend.retired = opened;
    Ok(Some(Box::new(backend)))
}

/// Logs in and sends the opening batch: the client, and what the batch found when the
/// state is of this version and the user may use it (whether it was retired), else
/// `None` (the session settings made again: the caller goes the whole way).
fn connect_opening(location: &Location) -> Result<(Client, Option<Option<Retired>>), StoreError> {
    let (mut client, answered) = connect_then(location, &schema::opening(location))?;
    let opened = answered.ok().and_then(|messages| schema::opened(&messages));
    if opened.is_none() {
        client.batch_execute(&session_settings(location)).map_err(|err| unusable(location, &err))?;
    }
    Ok((client, opened))
}

impl PgBackend {
    fn new(client: Client, location: Location) -> Result<PgBackend, StoreError> {
        Ok(PgBackend { client, location, statements: HashMap::new(), retired: None, notices: Default::default() })
    }
}

/// Opens an existing state for shell completion: within 2 s, and never creating or
/// migrating a schema. `None` when the state can't be used as it is.
pub fn peek(state: &PostgresLocation) -> Option<Box<dyn Backend>> {
    let mut location = Location::new(state).ok()?;
    location.config.connect_timeout(location.connect_timeout().min(PEEK_TIMEOUT));
    let mut client = connect(&location).ok()?;
    if !schema::is_current(&mut client, &location) {
        return None;
    }
    Some(Box::new(PgBackend::new(client, location).ok()?))
}

/// How long completion waits for the server.
const PEEK_TIMEOUT: Duration = Duration::from_secs(2);

impl Backend for PgBackend {
    fn write(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .map_err(|err| unusable(&self.location, &err))?;
        Ok(Box::new(txn::PgTxn::new(tx, &mut self.statements, &self.location, true, &mut self.notices)))
    }

    fn read(&mut self) -> Result<Box<dyn Txn + '_>, StoreError> {
        // One snapshot for every statement of the transaction, as SQLite's reader has.
        let tx = self
            .client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(|err| unusable(&self.location, &err))?;
        Ok(Box::new(txn::PgTxn::new(tx, &mut self.statements, &self.location, false, &mut self.notices)))
    }

    fn reopen(&self) -> Result<Box<dyn Backend>, StoreError> {
        Ok(Box::new(PgBackend::new(connect(&self.location)?, self.location.clone())?))
    }

    fn describe(&self) -> String {
        self.location.describe().to_string()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Postgres
    }

    fn schema_version(&mut self) -> Result<i64, StoreError> {
        schema::version(&mut self.client, &self.location)
    }

    fn retired_when_opened(&mut self) -> Option<Option<Retired>> {
        self.retired.take()
    }

    fn settle(&mut self) -> Result<(), StoreError> {
        if !self.notices.owed() {
            return Ok(());
        }
        wakeups::notify(&mut self.client, self.location.schema()).map_err(|err| unusable(&self.location, &err))?;
        self.notices.told();
        Ok(())
    }

    /// A connection of its own that `LISTEN`s for the writes of every host.
    fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError> {
        Ok(Box::new(wakeups::listen(&self.location)?))
    }
}

/// Logs in within the connect timeout, the settings every session pins included: the
/// named time is the whole wait. `connect_timeout` bounds each TCP connect (a host with
/// several addresses tries each); a server that accepts connections but never answers
/// would still hang the login, so it runs on a thread of its own that is abandoned when
/// the time is up (it ends when the server answers or the process exits).
fn connect(location: &Location) -> Result<Client, StoreError> {
    let (client, answered) = connect_then(location, "")?;
    answered.map_err(|err| unusable(location, &err))?;
    Ok(client)
}

/// Tables are named without their schema; a lock held by another host's transaction is
/// waited for as long as a SQLite state file's lock is.
fn session_settings(location: &Location) -> String {
    format!("SET search_path = {}; SET lock_timeout = {}", location.schema(), super::sqlite::busy_timeout().as_millis())
}

/// As [`connect`], sending `then` (simple-query statements) in the same round trip as
/// the session settings: the client, and what `then` answered. When `then` fails, the
/// settings did not hold either (one batch is one transaction).
#[allow(clippy::type_complexity)]
fn connect_then(
    location: &Location,
    then: &str,
) -> Result<(Client, Result<Vec<SimpleQueryMessage>, postgres::Error>), StoreError> {
    let tls =
        tls::connector(location).map_err(|why| refuse(location, format!("{why}; fix sslrootcert in the state URL")))?;
    let config = location.config.clone();
    let batch = format!("{}; {then}", session_settings(location));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let login = config.connect(tls).map(|mut client| {
            let answered = client.simple_query(&batch);
            (client, answered)
        });
        // Nobody is listening any more when the login took too long: the client just closes.
        let _ = sender.send(login);
    });
    let waited = location.connect_timeout();
    receiver
        .recv_timeout(waited)
        .map_err(|_| {
            refuse(
                location,
                format!(
                    "the server did not answer within {}; check that it is up and not overloaded",
                    humantime::format_duration(waited)
                ),
            )
        })?
        .map_err(|err| unusable(location, &err))
}

/// An exit-4 refusal naming the state.
fn refuse(location: &Location, why: impl std::fmt::Display) -> StoreError {
    StoreError::Unusable(format!("state {}: {why}", location.describe()))
}

/// The one mapping of the client's errors: a broken uniqueness rule is a
/// [`StoreError::Conflict`]; anything else makes the state unusable (exit 4) with what to fix.
fn unusable(location: &Location, err: &postgres::Error) -> StoreError {
    if let Some(conflict) = conflict(err) {
        return StoreError::Conflict(conflict);
    }
    let (user, db) = (location.user(), location.dbname());
    let why = match err.code() {
        Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => format!(
            "locked by another process for more than {}s; try again when it has finished",
            super::sqlite::busy_timeout().as_secs_f32()
        ),
        Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => format!(
            "user {user} lacks a privilege the state needs ({}); see \"Many hosts, one state on PostgreSQL\" in the README",
            reason(err)
        ),
        Some(code) if *code == SqlState::INVALID_PASSWORD => {
            format!("the server refused the password of user {user}; fix the password in the state URL")
        }
        Some(code) if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => format!(
            "the server refused user {user} ({}); fix the user in the state URL or the server's pg_hba.conf",
            reason(err)
        ),
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => {
            format!("database {db} does not exist; create it or fix the database in the state URL")
        }
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED => {
            return StoreError::Collision(format!(
                "state {}: a write collided with another process's ({}); try again",
                location.describe(),
                reason(err)
            ));
        }
        Some(code) if code.code().starts_with("08") || code.code().starts_with("57") => {
            format!("the server stopped serving ({}); check that it is up, then try again", reason(err))
        }
        Some(_) => reason(err),
        None if reason(err).contains("TLS") => format!(
            "TLS with the server failed ({}); check sslmode and sslrootcert in the state URL",
            reason(err)
        ),
        None if err.is_closed() => {
            "the connection to the server was lost; check that it is up, then try again".to_string()
        }
        None => format!(
            "can't reach the server ({}); check that it is up and that the host and port in the state URL are right",
            reason(err)
        ),
    };
    refuse(location, why)
}

/// Which uniqueness rule a failed write broke, by the constraint's name.
fn conflict(err: &postgres::Error) -> Option<Conflict> {
    let db = err.as_db_error().filter(|db| *db.code() == SqlState::UNIQUE_VIOLATION)?;
    match db.constraint()? {
        "addons_live_name" => Some(Conflict::LiveName),
        "config_vars_pkey" => Some(Conflict::VarKey),
        _ => None,
    }
}

/// The client's own words for an error: the server's message, or the connection
/// failure with its causes. Neither quotes the URL.
fn reason(err: &postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        return db.message().to_string();
    }
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = inner.source();
    }
    text
}
