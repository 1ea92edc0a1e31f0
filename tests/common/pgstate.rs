//! PostgreSQL states for tests: a fresh schema of its own per test on the test server
//! (`ADDONS_TEST_POSTGRES_URL`), dropped when the test ends, and a canonical dump of its
//! rows that stands in for a state file's bytes.

use std::fmt::Write as _;

use rand::Rng;

/// Whether the binary suites run against PostgreSQL: `ADDONS_TEST_STATE_BACKEND=postgres`.
pub fn enabled() -> bool {
    std::env::var("ADDONS_TEST_STATE_BACKEND").is_ok_and(|backend| backend == "postgres")
}

/// The test server's admin URL for a state test, or `None` (with a NOTICE) when there
/// is none and servers are not required.
pub fn server(skipping: &str) -> Option<String> {
    super::servers::server("postgres", skipping)
}

/// The admin URL of the server the binary suites put their states on; a PostgreSQL
/// run without one is a broken run, not a skipped test.
fn required_server() -> String {
    std::env::var("ADDONS_TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .expect("ADDONS_TEST_STATE_BACKEND=postgres needs ADDONS_TEST_POSTGRES_URL")
}

/// A schema of its own on the test server, dropped (with everything in it) on drop.
pub struct Schema {
    admin: String,
    pub name: String,
}

impl Schema {
    /// A name no other test uses; the schema is not made (opening the state makes it).
    pub fn fresh(admin: &str) -> Schema {
        let name = format!("t_{:016x}", rand::rng().random::<u64>());
        Schema { admin: admin.to_string(), name }
    }

    /// A schema for a binary suite's state, on the required server.
    pub fn for_state() -> Schema {
        Schema::fresh(&required_server())
    }

    /// The state URL for this schema with the admin's credentials.
    pub fn url(&self) -> String {
        with_schema(&self.admin, &self.name)
    }

    /// An admin connection to the server.
    pub fn admin(&self) -> postgres::Client {
        super::servers::connect_postgres(&self.admin).expect("connect to the test server")
    }

    /// Every row of every table of the state, in a fixed order: equal dumps mean an
    /// unchanged state. Empty when the schema does not exist.
    pub fn dump(&self) -> Vec<u8> {
        let mut client = self.admin();
        let tables: Vec<String> = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1",
                &[&self.name],
            )
            .expect("list the state's tables")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut out = String::new();
        for table in tables {
            let rows = client
                .query(&format!("SELECT t::text FROM {}.{table} t ORDER BY t::text COLLATE \"C\"", self.name), &[])
                .expect("dump a table");
            let _ = writeln!(out, "{table}:");
            for row in rows {
                let _ = writeln!(out, "  {}", row.get::<_, String>(0));
            }
        }
        out.into_bytes()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut client) = super::servers::connect_postgres(&self.admin) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// `url` with `?schema=NAME` (or `&schema=NAME`) added.
pub fn with_schema(url: &str, schema: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}schema={schema}")
}
