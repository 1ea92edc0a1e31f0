//! Wake-ups for a PostgreSQL state: a connection of its own that `LISTEN`s on the
//! state's [`channel`]. Every write transaction that leaves work due (a new addon, a
//! deprovision, a step with more to do, a released or expired claim) sends one
//! `pg_notify(channel, schema)` ([`notify`]) as it commits, or, within 200 ms of the
//! connection's last one, leaves it owed to a later commit or the end of the tick (see
//! `txn::Notices`), so a sleeping `watch` on any host wakes within milliseconds of a
//! write, or of the end of a burst of them, and an idle one costs no CPU. Each schema has a
//! channel of its own: the writes of states in other schemas of the same database
//! (other fleets, or a test suite's many states) never wake it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::location::Location;
use super::{connect, unusable};
use crate::store::backend::{left_until, Sleep, StoreError, Wakeups, Woken, STOP_CHECK};

/// The notification channel of the state in `schema`: `addons_work_` and 16 hex digits
/// of the schema name's SHA-256 (a schema name may be too long for a channel's 63
/// bytes). The payload names the schema.
pub fn channel(schema: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(schema.as_bytes());
    let hex: String = digest[..8].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("addons_work_{hex}")
}

/// Tells the watchers of the state in `schema`, through `client` (in a transaction:
/// as it commits).
pub fn notify(client: &mut impl postgres::GenericClient, schema: &str) -> Result<u64, postgres::Error> {
    client.execute("SELECT pg_notify($1, $2)", &[&channel(schema), &schema])
}

/// A listening connection, made again after the server dropped it.
pub struct PgWakeups {
    location: Location,
    /// `None` after the connection failed: the next wait connects again.
    client: Option<Client>,
}

/// Starts listening before the caller's first look at the state, so that no write
/// after that look goes unseen.
pub fn listen(location: &Location) -> Result<PgWakeups, StoreError> {
    Ok(PgWakeups { client: Some(listening(location)?), location: location.clone() })
}

fn listening(location: &Location) -> Result<Client, StoreError> {
    let mut client = connect(location)?;
    let listen = format!("LISTEN {}", channel(location.schema()));
    client.batch_execute(&listen).map_err(|err| unusable(location, &err))?;
    Ok(client)
}

impl Wakeups for PgWakeups {
    fn wait(&mut self, until: i64, stop: &AtomicBool) -> Result<Woken, StoreError> {
        let Some(client) = &mut self.client else {
            return match listening(&self.location) {
                // Listening again: something may have been written meanwhile.
                Ok(client) => {
                    self.client = Some(client);
                    Ok(Woken::Changed)
                }
                // The server is still away (the engine's own reads say so): sleep.
                Err(_) => Sleep.wait(until, stop),
            };
        };
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(Woken::Stopped);
            }
            let Some(left) = left_until(until) else { return Ok(Woken::Due) };
            match heard(client, self.location.schema(), left.min(STOP_CHECK)) {
                Ok(false) => {}
                Ok(true) => return Ok(Woken::Changed),
                // The connection broke: the next wait listens again.
                Err(()) => {
                    self.client = None;
                    return Ok(Woken::Changed);
                }
            }
        }
    }
}

/// Whether a notification for `schema` came within `limit` (one of another schema whose
/// channel's digits are the same ends the wait early, as nothing); a burst counts once:
/// what else has arrived is taken too.
fn heard(client: &mut Client, schema: &str, limit: Duration) -> Result<bool, ()> {
    let mut notifications = client.notifications();
    let Some(first) = notifications.timeout_iter(limit).next().map_err(|_| ())? else { return Ok(false) };
    let mut heard = first.payload() == schema;
    while let Some(note) = notifications.iter().next().map_err(|_| ())? {
        heard |= note.payload() == schema;
    }
    Ok(heard)
}
