//! Fresh PostgreSQL states for the store suite: a schema of its own per test on the test
//! server (`ADDONS_TEST_POSTGRES_URL`), dropped when the test's thread ends.

use std::cell::RefCell;

use crate::store::{StateLocation, Store};

/// A schema to drop when the thread that made it ends (libtest runs each test on a
/// thread of its own, and the test has dropped its store by then).
struct DropSchema {
    admin: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        // On a thread of its own: the client's runtime can't start on a thread that is
        // tearing down its thread-locals.
        let (admin, drop) = (self.admin.clone(), format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        let dropping = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
                let _ = client.batch_execute(&drop);
            }
        });
        let _ = dropping.join();
    }
}

thread_local! {
    static SCHEMAS: RefCell<Vec<DropSchema>> = const { RefCell::new(Vec::new()) };
}

/// A store on a fresh schema of the test server. Without one (and with
/// `ADDONS_TEST_REQUIRE_SERVERS` not `1`) it says so and gives an in-memory SQLite store.
pub fn store() -> Store {
    let admin = std::env::var("ADDONS_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty());
    let Some(admin) = admin else {
        let required = std::env::var("ADDONS_TEST_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
        assert!(!required, "ADDONS_TEST_REQUIRE_SERVERS=1 but ADDONS_TEST_POSTGRES_URL is not set");
        eprintln!("NOTICE: the PostgreSQL store suite runs on SQLite: ADDONS_TEST_POSTGRES_URL is not set");
        return Store::open_in_memory().expect("in-memory state");
    };
    let schema = format!("t_{:016x}", rand::random::<u64>());
    let joiner = if admin.contains('?') { '&' } else { '?' };
    let Ok(StateLocation::Postgres(location)) = StateLocation::parse(&format!("{admin}{joiner}schema={schema}"), None)
    else {
        panic!("ADDONS_TEST_POSTGRES_URL is not a PostgreSQL URL");
    };
    SCHEMAS.with(|schemas| schemas.borrow_mut().push(DropSchema { admin, schema }));
    match super::open(&location) {
        Ok(backend) => Store::new(backend),
        Err(err) => panic!("{err}"),
    }
}
