//! PostgreSQL states for tests: a fresh schema of its own per test on the test server
//! (`ADDONS_TEST_POSTGRES_URL`), dropped when the test ends, and a canonical dump of its
//! rows that stands in for a state file's bytes.

use std::fmt::Write as _;
use std::path::Path;

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

    /// Runs SQL (no parameters) on the state's tables; every row, every value as text.
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut client = self.admin();
        client.batch_execute(&format!("SET search_path = {}", self.name)).expect("set search_path");
        let messages = client.simple_query(sql).unwrap_or_else(|err| panic!("{sql}: {err}"));
        messages
            .iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect())
                }
                _ => None,
            })
            .collect()
    }

    /// Copies every row of a SQLite state file of the current schema into this state,
    /// which must exist and be empty: how a test that starts from a committed state file
    /// fixture runs on PostgreSQL. Rows keep their order (`seq` is given anew).
    pub fn load_sqlite(&self, file: &Path) {
        let sqlite = rusqlite::Connection::open(file).expect("open the SQLite state");
        let mut client = self.admin();
        let mut batch = format!("SET search_path = {};\n", self.name);
        for table in ["apps", "addons", "config_vars", "events", "hook_runs", "attachments"] {
            let columns: Vec<(String, String)> = client
                .query(
                    "SELECT column_name::text, data_type::text FROM information_schema.columns \
                     WHERE table_schema = $1 AND table_name = $2 AND is_identity = 'NO' ORDER BY ordinal_position",
                    &[&self.name, &table],
                )
                .expect("list the columns")
                .iter()
                .map(|row| (row.get(0), row.get(1)))
                .collect();
            let names = columns.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(", ");
            let mut statement =
                sqlite.prepare(&format!("SELECT {names} FROM {table} ORDER BY rowid")).expect("read the SQLite state");
            let mut rows = statement.query([]).expect("read the SQLite state");
            while let Some(row) = rows.next().expect("read the SQLite state") {
                let values: Vec<String> = columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| literal(row.get_ref(i).expect("a column"), kind))
                    .collect();
                let _ = writeln!(batch, "INSERT INTO {table} ({names}) VALUES ({});", values.join(", "));
            }
        }
        client.batch_execute(&batch).expect("load the rows into the PostgreSQL state");
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

/// A SQLite value as a PostgreSQL literal of the column's type.
fn literal(value: rusqlite::types::ValueRef<'_>, kind: &str) -> String {
    use rusqlite::types::ValueRef;
    match (value, kind) {
        (ValueRef::Null, _) => "NULL".into(),
        (ValueRef::Integer(n), "boolean") => (n != 0).to_string(),
        (ValueRef::Integer(n), _) => n.to_string(),
        (ValueRef::Real(x), _) => x.to_string(),
        (ValueRef::Blob(bytes), "bytea") | (ValueRef::Text(bytes), "bytea") => {
            format!("'\\x{}'::bytea", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
        }
        (ValueRef::Text(text) | ValueRef::Blob(text), _) => {
            format!("'{}'", String::from_utf8_lossy(text).replace('\'', "''"))
        }
    }
}
