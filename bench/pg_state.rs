//! Moves the state files `bench_state` makes into a PostgreSQL schema for `bench/run`,
//! and reports what such a schema holds. The schema's tables are made by the real
//! binary first (`addons --state URL?schema=S list`); this fills them with COPY, row for
//! row, so the PostgreSQL figures measure the same addons as the SQLite ones.
//!
//! ```text
//! bench_pg_state copy PATH URL SCHEMA   the addons, events, apps and config vars of PATH
//! bench_pg_state states URL SCHEMA      counts of addons by state (and cleanup), one `state=count` a line
//! ```

use anyhow::{bail, Context};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};
use rusqlite::types::ValueRef;

/// A table to copy: its name, its columns (PostgreSQL types), and the order that keeps
/// `seq` as SQLite had it.
type Table = (&'static str, &'static [(&'static str, Type)], &'static str);

/// The tables copied, in an order their references allow.
const TABLES: &[Table] = &[
    (
        "addons",
        &[
            ("id", Type::TEXT),
            ("name", Type::TEXT),
            ("provider", Type::TEXT),
            ("app", Type::TEXT),
            ("prefix", Type::TEXT),
            ("params", Type::TEXT),
            ("seed", Type::BYTEA),
            ("state", Type::TEXT),
            ("message", Type::TEXT),
            ("vars", Type::TEXT),
            ("config", Type::TEXT),
            ("begun", Type::BOOL),
            ("cleanup", Type::TEXT),
            ("attempts", Type::INT4),
            ("due_at", Type::INT8),
            ("deadline_at", Type::INT8),
            ("claim", Type::TEXT),
            ("claim_until", Type::INT8),
            ("created_at", Type::INT8),
            ("updated_at", Type::INT8),
            ("failure", Type::TEXT),
            ("last_error", Type::TEXT),
            ("last_error_permanent", Type::BOOL),
        ],
        "rowid",
    ),
    (
        "events",
        &[
            ("addon_id", Type::TEXT),
            ("at", Type::INT8),
            ("from_state", Type::TEXT),
            ("to_state", Type::TEXT),
            ("event", Type::TEXT),
            ("message", Type::TEXT),
        ],
        "seq",
    ),
    (
        "apps",
        &[
            ("name", Type::TEXT),
            ("vars_version", Type::INT8),
            ("env_version", Type::INT8),
            ("env_error", Type::TEXT),
            ("env_error_at", Type::INT8),
        ],
        "rowid",
    ),
    (
        "config_vars",
        &[("app", Type::TEXT), ("key", Type::TEXT), ("value", Type::TEXT), ("addon_id", Type::TEXT)],
        "rowid",
    ),
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["copy", path, url, schema] => copy(path, &mut connect(url, schema)?),
        ["states", url, schema] => {
            let rows = connect(url, schema)?
                .query("SELECT state || '/' || cleanup, count(*) FROM addons GROUP BY 1 ORDER BY 1", &[])?;
            for row in rows {
                println!("{}={}", row.get::<_, String>(0), row.get::<_, i64>(1));
            }
            Ok(())
        }
        _ => bail!("usage: bench_pg_state copy PATH URL SCHEMA | states URL SCHEMA"),
    }
}

fn connect(url: &str, schema: &str) -> anyhow::Result<Client> {
    let mut client = Client::connect(url, NoTls).context("connecting")?;
    client.batch_execute(&format!("SET search_path TO {schema}"))?;
    Ok(client)
}

/// Copies every row of the state file at `path` into the schema's empty tables.
fn copy(path: &str, client: &mut Client) -> anyhow::Result<()> {
    let sqlite = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut tx = client.transaction()?;
    for (table, columns, order) in TABLES {
        let names = columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ");
        let types: Vec<Type> = columns.iter().map(|(_, kind)| kind.clone()).collect();
        let sink = tx.copy_in(&format!("COPY {table} ({names}) FROM STDIN (FORMAT binary)"))?;
        let mut writer = BinaryCopyInWriter::new(sink, &types);
        let mut select = sqlite.prepare(&format!("SELECT {names} FROM {table} ORDER BY {order}"))?;
        let mut rows = select.query([])?;
        while let Some(row) = rows.next()? {
            let values = (0..types.len())
                .map(|i| value(row.get_ref(i)?, &types[i]))
                .collect::<anyhow::Result<Vec<Box<dyn ToSql + Sync>>>>()?;
            writer.write(&values.iter().map(|v| v.as_ref()).collect::<Vec<_>>())?;
        }
        writer.finish()?;
    }
    tx.commit()?;
    // As autovacuum would soon after: the planner sees the rows.
    client.batch_execute("ANALYZE addons, events, apps, config_vars")?;
    Ok(())
}

/// One SQLite value as the PostgreSQL column of type `kind` takes it.
fn value(raw: ValueRef<'_>, kind: &Type) -> anyhow::Result<Box<dyn ToSql + Sync>> {
    // A NULL is typed too: the binary format checks each value against its column.
    let null = raw == ValueRef::Null;
    Ok(match *kind {
        Type::TEXT => Box::new((!null).then(|| raw.as_str().map(str::to_string)).transpose()?),
        Type::BYTEA => Box::new((!null).then(|| raw.as_blob().map(<[u8]>::to_vec)).transpose()?),
        Type::BOOL => Box::new((!null).then(|| raw.as_i64().map(|v| v != 0)).transpose()?),
        Type::INT4 => Box::new((!null).then(|| raw.as_i64().map(|v| v as i32)).transpose()?),
        Type::INT8 => Box::new((!null).then(|| raw.as_i64()).transpose()?),
        _ => bail!("no copy for type {kind}"),
    })
}
