//! The PostgreSQL schema as an ordered list of migrations, and the one door to it:
//! `prepare` looks at what the schema holds, refuses what is not ours or is too new,
//! and migrates an old one under an advisory lock, so two hosts opening it at once
//! migrate it once. A shipped migration is never edited; a change is a new entry.

use postgres::Client;

use super::location::Location;
use super::{refuse, unusable};
use crate::store::backend::StoreError;

/// What `schema_meta.application` holds in an addons state: a schema with tables but
/// without it belongs to some other program.
pub const APPLICATION: &str = "addons";

/// Migrations in order; `schema_meta.version` counts how many have run. The logical
/// columns are those of the SQLite file after its migrations 1-3; times are bigint
/// milliseconds since the epoch; names and keys sort bytewise (`COLLATE "C"`) as in
/// SQLite; `seq` orders rows made in the same millisecond, as SQLite's rowid does.
pub const MIGRATIONS: &[&str] = &[
    // 1: the marker, addons, their recorded transitions, config vars and apps.
    r#"
CREATE TABLE schema_meta (
    application TEXT NOT NULL,
    version     INTEGER NOT NULL
);
INSERT INTO schema_meta (application, version) VALUES ('addons', 0);

CREATE TABLE addons (
    id          TEXT PRIMARY KEY,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
    name        TEXT COLLATE "C" NOT NULL,
    provider    TEXT NOT NULL,
    app         TEXT COLLATE "C" NOT NULL,
    prefix      TEXT,
    params      TEXT NOT NULL,
    seed        BYTEA NOT NULL,
    state       TEXT NOT NULL CHECK (state IN
                  ('waiting_for_provision', 'provisioned', 'ready', 'deprovisioned', 'error')),
    message     TEXT NOT NULL,
    vars        TEXT NOT NULL,
    config      TEXT,
    begun       BOOLEAN NOT NULL DEFAULT false,
    cleanup     TEXT NOT NULL DEFAULT 'none' CHECK (cleanup IN ('none', 'pending', 'done')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      BIGINT,
    deadline_at BIGINT NOT NULL,
    claim       TEXT,
    claim_until BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    failure     TEXT,
    last_error  TEXT,
    last_error_permanent BOOLEAN NOT NULL DEFAULT false
);
-- A name belongs to one live addon at a time; a deprovisioned addon's name can be reused.
CREATE UNIQUE INDEX addons_live_name ON addons (name)
    WHERE state IN ('waiting_for_provision', 'provisioned', 'ready');
CREATE INDEX addons_name ON addons (name, created_at);
-- Claims are found through the due index too: a claimed addon always has a task due.
CREATE INDEX addons_due ON addons (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX addons_app ON addons (app, created_at);

CREATE TABLE events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    addon_id   TEXT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    at         BIGINT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    event      TEXT NOT NULL,
    message    TEXT NOT NULL
);
CREATE INDEX events_addon ON events (addon_id, seq);

CREATE TABLE apps (
    name         TEXT COLLATE "C" PRIMARY KEY,
    vars_version BIGINT NOT NULL DEFAULT 0,
    env_version  BIGINT NOT NULL DEFAULT 0,
    env_error    TEXT,
    env_error_at BIGINT
);

-- A var with an addon_id is owned by that addon; its value is NULL until the addon is ready.
CREATE TABLE config_vars (
    app      TEXT COLLATE "C" NOT NULL REFERENCES apps (name),
    key      TEXT COLLATE "C" NOT NULL,
    value    TEXT,
    addon_id TEXT REFERENCES addons (id),
    PRIMARY KEY (app, key)
);
CREATE INDEX config_vars_addon ON config_vars (addon_id) WHERE addon_id IS NOT NULL;
"#,
    // 2 (SQLite's 4): labels (a JSON object of strings, '{}' when none) and when the addon
    // expires (NULL: never), with the index `list --expired` reads.
    r#"
ALTER TABLE addons ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE addons ADD COLUMN expires_at BIGINT;
CREATE INDEX addons_expires ON addons (expires_at) WHERE expires_at IS NOT NULL;
"#,
    // 3: as SQLite's migration 5: credential rotation of a ready addon, and drift checks.
    r#"
ALTER TABLE addons ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE addons ADD COLUMN vars_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE addons ADD COLUMN revoke_from BIGINT;
ALTER TABLE addons ADD COLUMN revoke_at BIGINT;
ALTER TABLE addons ADD COLUMN verified_at BIGINT;
ALTER TABLE addons ADD COLUMN drift TEXT;
"#,
    // 4: as SQLite's migration 6: `on_change` hooks, due while `hook_version` is below
    // `vars_version`, and their recent runs.
    r#"
ALTER TABLE apps ADD COLUMN hook_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN hook_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN hook_due_at BIGINT;
ALTER TABLE apps ADD COLUMN hook_claim TEXT;
ALTER TABLE apps ADD COLUMN hook_claim_until BIGINT;
CREATE TABLE hook_runs (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    app          TEXT COLLATE "C" NOT NULL REFERENCES apps (name),
    vars_version BIGINT NOT NULL,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL,
    result       TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'timed out', 'could not start')),
    exit_status  INTEGER,
    output       TEXT NOT NULL
);
CREATE INDEX hook_runs_app ON hook_runs (app, seq);
"#,
    // 5: as SQLite's migration 7: attachments of other apps to an addon.
    r#"
CREATE TABLE attachments (
    addon_id   TEXT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    slot       BIGINT NOT NULL CHECK (slot > 0),
    app        TEXT COLLATE "C" NOT NULL REFERENCES apps (name),
    prefix     TEXT,
    state      TEXT NOT NULL CHECK (state IN ('attaching', 'attached', 'detaching', 'detached')),
    generation BIGINT NOT NULL DEFAULT 0,
    revoke_from BIGINT,
    revoke_at  BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (addon_id, slot)
);
CREATE UNIQUE INDEX attachments_live_app ON attachments (addon_id, app)
    WHERE state IN ('attaching', 'attached');
CREATE INDEX attachments_app ON attachments (app);
CREATE INDEX attachments_task ON attachments (addon_id)
    WHERE state IN ('attaching', 'detaching') OR revoke_from IS NOT NULL;
"#,
    // 6 (issue 13 part 3; SQLite's 8): `source_id`, the addon whose data this one was made
    // a copy of (`provision --from`); NULL for an addon made empty.
    "ALTER TABLE addons ADD COLUMN source_id TEXT;",
    // 7 (SQLite's 9): `vars_generation`: the generation of its login an attached app's vars hold,
    // as an addon's own app's does (NULL while none: being attached, or detached), so
    // both are one model of a login. Until now an attaching row after a rotation held
    // the one before its `generation`, and an attached row its `generation`.
    r#"
ALTER TABLE attachments ADD COLUMN vars_generation BIGINT;
UPDATE attachments SET vars_generation = CASE
    WHEN state = 'attached' THEN generation
    WHEN state = 'attaching' AND generation > 0 THEN generation - 1
END;
"#,
    // 8 (SQLite's 10): `hook_failed_version`: the vars version an app's counted hook failures ran
    // with. A change of the vars no longer resets the count in the same statement: the
    // hook rules (store/hooks.rs) count failures only while the vars are still those.
    // Until now a change reset the count, so every counted failure is the current vars'.
    r#"
ALTER TABLE apps ADD COLUMN hook_failed_version BIGINT;
UPDATE apps SET hook_failed_version = vars_version WHERE hook_attempts > 0;
"#,
    // 9 (SQLite's 11): `retired`: set by `state copy` on a state that no longer acts.
    r#"
CREATE TABLE retired (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    how       TEXT NOT NULL CHECK (how IN ('moved', 'snapshot')),
    elsewhere TEXT NOT NULL,
    at        BIGINT NOT NULL
);
"#,
    // 10 (SQLite's 12): `troubles`: what `tick` said of a step that keeps failing (an addon's
    // `addon:ID`, an app's hook `hook:APP`): since when it was seen failing, and when
    // it was last said, so that cron hears of it once, then hourly, then on recovery.
    r#"
CREATE TABLE troubles (
    subject   TEXT PRIMARY KEY,
    since     BIGINT NOT NULL,
    warned_at BIGINT
);
CREATE INDEX addons_failing ON addons (attempts) WHERE attempts > 0;
"#,
    // 11 (SQLite's 13): `server`: the server an addon was made on (its provider
    // section's server name and the server's own identity); NULL for an addon made
    // before, until its next step records where it went.
    "ALTER TABLE addons ADD COLUMN server TEXT;",
    // 12 (SQLite's 14): `read_only`: an attached app's login only reads the addon's
    // resource (`attach --read-only`); every attachment made before has the owner's rights.
    "ALTER TABLE attachments ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT false;",
    // 13 (SQLite's 16): `backups`: each backup of an addon's data and each restore of one: requested
    // (pending, a worker's claim on it), then done (a backup's file whole, its size and
    // checksum recorded) or failed. At most one pending per addon.
    r#"
CREATE TABLE backups (
    id           TEXT PRIMARY KEY,
    addon_id     TEXT NOT NULL,
    addon_name   TEXT NOT NULL,
    provider     TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('backup', 'restore')),
    source       TEXT,
    file         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    size         BIGINT,
    checksum     TEXT,
    generation   BIGINT,
    requested_at BIGINT NOT NULL,
    finished_at  BIGINT,
    claim        TEXT,
    claim_until  BIGINT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    scheduled    BOOLEAN NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX backups_one_pending ON backups (addon_id) WHERE status = 'pending';
CREATE INDEX backups_of_addon ON backups (addon_id, requested_at);
"#,
    // 14 (SQLite's 17): an addon's own backup schedule (an apply file's `backup_every`,
    // in ms, and `backup_keep`), in place of its app's; NULL: its app's. The index is
    // what a tick reads them by.
    r#"
ALTER TABLE addons ADD COLUMN backup_every BIGINT;
ALTER TABLE addons ADD COLUMN backup_keep BIGINT;
CREATE INDEX addons_backup_scheduled ON addons (app) WHERE backup_every IS NOT NULL;
"#,
    // 15 (SQLite's 18): `version`: counted up by every write of an addon's row, so a
    // step that finds the row as its claim left it commits from what it claimed and
    // writes only what it changed.
    r#"
ALTER TABLE addons ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
"#,
];

/// The tables a state user must be able to read and write.
const TABLES: &[&str] = &[
    "schema_meta",
    "addons",
    "events",
    "apps",
    "config_vars",
    "hook_runs",
    "attachments",
    "retired",
    "troubles",
    "backups",
];

/// What the schema holds, as seen by the connecting user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No schema of that name.
    Missing,
    /// The schema exists and holds no table.
    Empty,
    /// An addons state at this version (a schema with tables but no marker is refused).
    Ours(i64),
}

/// Makes the location's schema an addons state at the latest version, or refuses
/// (exit 4, nothing changed): a newer or foreign schema, a user without the privileges
/// it needs.
pub fn prepare(client: &mut Client, location: &Location) -> Result<(), StoreError> {
    let latest = MIGRATIONS.len() as i64;
    // The common case first, in one short statement: an addons state of this version
    // (the catalog look of `inspect` took 17 of a `list`'s 31 ms on a server with many
    // schemas). Anything else, an error included, goes the whole way.
    if marker(client, location) == Some(latest) || inspect(client, location)? == Found::Ours(latest) {
        return check_privileges(client, location);
    }
    let mut tx = client.transaction().map_err(|err| unusable(location, &err))?;
    // Keyed by the schema: hosts opening other schemas on the server do not wait.
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('addons state ' || $1, 0))", &[&location.schema()])
        .map_err(|err| unusable(location, &err))?;
    // Another host may have migrated while this one waited for the lock.
    let version = match inspect(&mut tx, location)? {
        Found::Missing => {
            require(&mut tx, location, "has_database_privilege(current_database(), 'CREATE')", || {
                format!(
                    "user {user} may not create schema {schema} in database {db}; \
                     GRANT CREATE ON DATABASE {db} TO {user}, or create it for the user: \
                     CREATE SCHEMA {schema} AUTHORIZATION {user}",
                    user = location.user(),
                    schema = location.schema(),
                    db = location.dbname()
                )
            })?;
            tx.batch_execute(&format!("CREATE SCHEMA {}", location.schema()))
                .map_err(|err| unusable(location, &err))?;
            0
        }
        Found::Empty => {
            require(&mut tx, location, "has_schema_privilege($1, 'USAGE, CREATE')", || {
                format!(
                    "user {user} may not create tables in schema {schema}; \
                     GRANT USAGE, CREATE ON SCHEMA {schema} TO {user}",
                    user = location.user(),
                    schema = location.schema()
                )
            })?;
            0
        }
        Found::Ours(version) => version,
    };
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = index as i64 + 1;
        tx.batch_execute(sql)
            .and_then(|()| tx.execute("UPDATE schema_meta SET version = $1", &[&(target as i32)]))
            .map_err(|err| refuse(location, format!("migration {target} failed: {}", super::reason(&err))))?;
    }
    tx.commit().map_err(|err| unusable(location, &err))?;
    check_privileges(client, location)
}

/// Whether the location's schema is there at all (the marker first: the common case
/// in one short statement).
pub fn exists(client: &mut Client, location: &Location) -> Result<bool, StoreError> {
    Ok(marker(client, location).is_some() || inspect(client, location)? != Found::Missing)
}

/// Whether the schema is an addons state of this binary's version, that the user may use.
pub fn is_current(client: &mut Client, location: &Location) -> bool {
    matches!(inspect(client, location), Ok(Found::Ours(version)) if version == MIGRATIONS.len() as i64)
        && check_privileges(client, location).is_ok()
}

/// The version of an addons state (0 when it has none yet).
pub fn version(client: &mut Client, location: &Location) -> Result<i64, StoreError> {
    let row = client.query_one("SELECT version FROM schema_meta", &[]).map_err(|err| unusable(location, &err))?;
    Ok(i64::from(row.get::<_, i32>(0)))
}

/// The statements that, sent with the session settings right after the login, tell
/// whether the state can be used as it is (see [`opened`]): the marker, the privileges
/// on every table, and whether the state was retired. A schema that is missing, foreign,
/// older or newer makes one of them fail or answer otherwise, and the opening goes the
/// whole way ([`prepare`]).
pub fn opening(location: &Location) -> String {
    let schema = location.schema();
    let tables = format!("{{{}}}", TABLES.join(","));
    format!(
        "SELECT application, version FROM {schema}.schema_meta LIMIT 1; \
         SELECT has_schema_privilege(n.oid, 'USAGE') AND NOT EXISTS (SELECT 1 FROM unnest('{tables}'::text[]) t(name) \
           LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name \
           WHERE c.oid IS NULL OR NOT has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE')) \
           FROM pg_namespace n WHERE n.nspname = '{schema}'; \
         SELECT how, elsewhere, at FROM {schema}.retired"
    )
}

/// What the answer to [`opening`] (after the two session settings) says: `Some` of
/// whether the state was retired when it is an addons state of this version that the
/// user may read and write, else `None`.
pub fn opened(messages: &[postgres::SimpleQueryMessage]) -> Option<Option<super::Retired>> {
    use postgres::SimpleQueryMessage::{CommandComplete, Row};
    // The rows of each statement, in order: SET, SET, marker, privileges, retired.
    let mut answers: Vec<Vec<&postgres::SimpleQueryRow>> = vec![Vec::new()];
    for message in messages {
        match message {
            Row(row) => answers.last_mut()?.push(row),
            CommandComplete(_) => answers.push(Vec::new()),
            _ => {}
        }
    }
    let [_, _, marker, privileges, retired, ..] = &answers[..] else { return None };
    let marker = marker.first()?;
    let current = marker.get(0) == Some(APPLICATION)
        && marker.get(1).and_then(|version| version.parse::<i64>().ok()) == Some(MIGRATIONS.len() as i64);
    let usable = privileges.first()?.get(0) == Some("t");
    if !(current && usable) {
        return None;
    }
    Some(match retired.first() {
        None => None,
        Some(row) => Some(super::Retired::from_columns(
            row.get(0)?.to_string(),
            row.get(1)?.to_string(),
            row.get(2)?.parse().ok()?,
        )),
    })
}

/// The version in the schema's addons marker, read straight from it; `None` when it
/// can't be read as one (no schema, no table, another program's, no privilege).
fn marker(client: &mut Client, location: &Location) -> Option<i64> {
    let sql = format!("SELECT application, version FROM {}.schema_meta LIMIT 1", location.schema());
    let messages = client.simple_query(&sql).ok()?;
    messages.iter().find_map(|message| match message {
        postgres::SimpleQueryMessage::Row(row) if row.get(0) == Some(APPLICATION) => row.get(1)?.parse().ok(),
        _ => None,
    })
}

/// Looks at the schema without changing anything; refuses a foreign or newer one.
fn inspect(client: &mut impl postgres::GenericClient, location: &Location) -> Result<Found, StoreError> {
    let schema = location.schema();
    let row = client
        .query_one(
            // Catalogs only: `to_regclass` on a schema the user may not use is an error.
            "SELECT n.oid IS NOT NULL, \
             (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')), \
             (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = meta.oid \
                AND a.attname IN ('application', 'version') AND NOT a.attisdropped), \
             n.oid IS NOT NULL AND has_schema_privilege(n.oid, 'USAGE') \
               AND coalesce(has_table_privilege(meta.oid, 'SELECT'), true) \
             FROM (SELECT $1::text AS name) wanted LEFT JOIN pg_namespace n ON n.nspname = wanted.name \
             LEFT JOIN pg_class meta ON meta.relnamespace = n.oid AND meta.relname = 'schema_meta'",
            &[&schema],
        )
        .map_err(|err| unusable(location, &err))?;
    let (exists, tables, marker_columns, readable): (bool, i64, i64, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if exists && !readable {
        // Says which grant is missing.
        check_privileges(client, location)?;
    }
    let version = match (exists, tables, marker_columns) {
        (false, _, _) => return Ok(Found::Missing),
        (true, 0, _) => return Ok(Found::Empty),
        (true, _, 2) => {
            let marker = client
                .query_opt(&format!("SELECT application, version FROM {schema}.schema_meta LIMIT 1"), &[])
                .map_err(|err| unusable(location, &err))?;
            marker.filter(|row| row.get::<_, String>(0) == APPLICATION).map(|row| i64::from(row.get::<_, i32>(1)))
        }
        (true, _, _) => None,
    };
    let latest = MIGRATIONS.len() as i64;
    match version {
        None => Err(refuse(
            location,
            format!(
                "schema {schema} holds tables that are not an addons state; \
                 pass another ?schema= in the state URL (or [state] schema in the config file)"
            ),
        )),
        Some(version) if version > latest => Err(refuse(
            location,
            format!(
                "written by a newer addons (schema {version}, this binary knows up to {latest}); upgrade addons to use it"
            ),
        )),
        Some(version) => Ok(Found::Ours(version)),
    }
}

/// Refuses, before any command runs, a user that could open the state but not use it.
fn check_privileges(client: &mut impl postgres::GenericClient, location: &Location) -> Result<(), StoreError> {
    let schema = location.schema();
    let tables: Vec<&str> = TABLES.to_vec();
    // By oid: a name lookup in a schema the user may not use is an error, not a false.
    let row = client
        .query_opt(
            "SELECT has_schema_privilege(n.oid, 'USAGE'), coalesce(array_agg(t.name::text) FILTER \
               (WHERE c.oid IS NULL OR NOT has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE')), '{}') \
             FROM pg_namespace n CROSS JOIN unnest($2::text[]) t(name) \
             LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = t.name \
             WHERE n.nspname = $1 GROUP BY n.oid",
            &[&schema, &tables],
        )
        .map_err(|err| unusable(location, &err))?;
    let (usage, missing): (bool, Vec<String>) = row.map_or((false, Vec::new()), |row| (row.get(0), row.get(1)));
    let user = location.user();
    if !usage {
        return Err(refuse(
            location,
            format!("user {user} may not use schema {schema}; GRANT USAGE ON SCHEMA {schema} TO {user}"),
        ));
    }
    if !missing.is_empty() {
        return Err(refuse(
            location,
            format!(
                "user {user} may not read and write {}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {user}",
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Refuses with `why` unless the privilege check `test` (on the schema name, `$1`) holds.
fn require(
    client: &mut impl postgres::GenericClient,
    location: &Location,
    test: &str,
    why: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    let sql = format!("SELECT {test} FROM (SELECT $1::text) schema_name");
    let row = client.query_one(&sql, &[&location.schema()]).map_err(|err| unusable(location, &err))?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(refuse(location, why()))
    }
}
