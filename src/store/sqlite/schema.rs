//! The schema as an ordered list of migrations. A shipped migration is never edited;
//! a change is a new entry at the end.

/// `PRAGMA application_id` of an addons state file ("adds").
pub const APPLICATION_ID: i64 = 0x6164_6473;

/// Migrations in order; the state file's `user_version` counts how many have run.
pub const MIGRATIONS: &[&str] = &[
    // 1: addons, their recorded transitions, config vars and apps.
    r#"
CREATE TABLE addons (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    app         TEXT NOT NULL,
    prefix      TEXT,
    params      TEXT NOT NULL,
    seed        BLOB NOT NULL,
    state       TEXT NOT NULL CHECK (state IN
                  ('waiting_for_provision', 'provisioned', 'ready', 'deprovisioned', 'error')),
    message     TEXT NOT NULL,
    vars        TEXT NOT NULL,
    config      TEXT,
    begun       INTEGER NOT NULL DEFAULT 0,
    cleanup     TEXT NOT NULL DEFAULT 'none' CHECK (cleanup IN ('none', 'pending', 'done')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER,
    deadline_at INTEGER NOT NULL,
    claim       TEXT,
    claim_until INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
-- A name belongs to one live addon at a time; a deprovisioned addon's name can be reused.
CREATE UNIQUE INDEX addons_live_name ON addons (name)
    WHERE state IN ('waiting_for_provision', 'provisioned', 'ready');
CREATE INDEX addons_name ON addons (name, created_at);
CREATE INDEX addons_due ON addons (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX addons_app ON addons (app, created_at);
CREATE INDEX addons_claim ON addons (claim) WHERE claim IS NOT NULL;

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    addon_id   TEXT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    event      TEXT NOT NULL,
    message    TEXT NOT NULL
);
CREATE INDEX events_addon ON events (addon_id, seq);

CREATE TABLE apps (
    name         TEXT PRIMARY KEY,
    vars_version INTEGER NOT NULL DEFAULT 0,
    env_version  INTEGER NOT NULL DEFAULT 0
);

-- A var with an addon_id is owned by that addon; its value is NULL until the addon is ready.
CREATE TABLE config_vars (
    app      TEXT NOT NULL REFERENCES apps (name),
    key      TEXT NOT NULL,
    value    TEXT,
    addon_id TEXT REFERENCES addons (id),
    PRIMARY KEY (app, key)
);
CREATE INDEX config_vars_addon ON config_vars (addon_id) WHERE addon_id IS NOT NULL;
"#,
    // 2: claims are found through the due index (a claimed addon always has a task
    // due), so the claim index only cost a write per claim and per release.
    "DROP INDEX IF EXISTS addons_claim;",
    // 3: failures kept where people look for them. `failure`: why the addon went to
    // error (NULL unless it did), never overwritten by the cleanup's messages.
    // `last_error`: the provider's message for the latest failed attempt at the current
    // task (NULL once a task succeeds), with whether the provider called it permanent.
    // `env_error`: why the app's env file could not be written the last time it was
    // tried (NULL once a write succeeds), and when.
    r#"
ALTER TABLE addons ADD COLUMN failure TEXT;
ALTER TABLE addons ADD COLUMN last_error TEXT;
ALTER TABLE addons ADD COLUMN last_error_permanent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN env_error TEXT;
ALTER TABLE apps ADD COLUMN env_error_at INTEGER;
"#,
    // 4: labels (a JSON object of strings, `{}` when none) and when the addon expires
    // (NULL: never). `list --expired` finds overdue addons through the expiry index.
    r#"
ALTER TABLE addons ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE addons ADD COLUMN expires_at INTEGER;
CREATE INDEX addons_expires ON addons (expires_at) WHERE expires_at IS NOT NULL;
"#,
    // 5: credential rotation of a ready addon. `generation`: the one its app should
    // use; `vars_generation`: the one the app's vars hold; `revoke_from`/`revoke_at`:
    // the generations from `revoke_from` below `generation` are revoked at `revoke_at`.
    // `verified_at`: when a check of its resource last began; `drift`: what a check found
    // and could not repair (NULL when nothing), left for a person.
    r#"
ALTER TABLE addons ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE addons ADD COLUMN vars_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE addons ADD COLUMN revoke_from INTEGER;
ALTER TABLE addons ADD COLUMN revoke_at INTEGER;
ALTER TABLE addons ADD COLUMN verified_at INTEGER;
ALTER TABLE addons ADD COLUMN drift TEXT;
"#,
    // 6: `on_change` hooks. An app's hook is due while `hook_version` (the vars version
    // its hook last succeeded for) is below `vars_version` (bumped in the same
    // transaction as every change of its vars), and `hook_due_at` (the next try after a
    // failure; NULL: at once) has come. `hook_claim`/`hook_claim_until`: the tick running
    // it. `hook_runs`: its recent runs (a few kept per app), with the last lines they printed.
    r#"
ALTER TABLE apps ADD COLUMN hook_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN hook_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN hook_due_at INTEGER;
ALTER TABLE apps ADD COLUMN hook_claim TEXT;
ALTER TABLE apps ADD COLUMN hook_claim_until INTEGER;
CREATE TABLE hook_runs (
    seq          INTEGER PRIMARY KEY,
    app          TEXT NOT NULL REFERENCES apps (name),
    vars_version INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER NOT NULL,
    result       TEXT NOT NULL CHECK (result IN ('ok', 'failed', 'timed out', 'could not start')),
    exit_status  INTEGER,
    output       TEXT NOT NULL
);
CREATE INDEX hook_runs_app ON hook_runs (app, seq);
"#,
    // 7: attachments: other apps given an addon's vars (`addons attach`), each with a
    // credential slot of its own (never reused: a detached row stays) and a small
    // lifecycle a tick runs under the addon's claim. One live attachment per app.
    // `generation`: its credential's; `revoke_from`/`revoke_at`: after a rotation of it,
    // the generations from `revoke_from` below `generation` are revoked at `revoke_at`.
    r#"
CREATE TABLE attachments (
    addon_id   TEXT NOT NULL REFERENCES addons (id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL CHECK (slot > 0),
    app        TEXT NOT NULL REFERENCES apps (name),
    prefix     TEXT,
    state      TEXT NOT NULL CHECK (state IN ('attaching', 'attached', 'detaching', 'detached')),
    generation INTEGER NOT NULL DEFAULT 0,
    revoke_from INTEGER,
    revoke_at  INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (addon_id, slot)
);
CREATE UNIQUE INDEX attachments_live_app ON attachments (addon_id, app)
    WHERE state IN ('attaching', 'attached');
CREATE INDEX attachments_app ON attachments (app);
CREATE INDEX attachments_task ON attachments (addon_id)
    WHERE state IN ('attaching', 'detaching') OR revoke_from IS NOT NULL;
"#,
    // 8 (issue 13 part 3): `source_id`: the addon whose data this one was made a copy of
    // (`provision --from`); NULL for an addon made empty. Set once, at creation.
    "ALTER TABLE addons ADD COLUMN source_id TEXT;",
    // 9: `vars_generation`: the generation of its login an attached app's vars hold,
    // as an addon's own app's does (NULL while none: being attached, or detached), so
    // both are one model of a login. Until now an attaching row after a rotation held
    // the one before its `generation`, and an attached row its `generation`.
    r#"
ALTER TABLE attachments ADD COLUMN vars_generation INTEGER;
UPDATE attachments SET vars_generation = CASE
    WHEN state = 'attached' THEN generation
    WHEN state = 'attaching' AND generation > 0 THEN generation - 1
END;
"#,
    // 10: `hook_failed_version`: the vars version an app's counted hook failures ran
    // with. A change of the vars no longer resets the count in the same statement: the
    // hook rules (store/hooks.rs) count failures only while the vars are still those.
    // Until now a change reset the count, so every counted failure is the current vars'.
    r#"
ALTER TABLE apps ADD COLUMN hook_failed_version INTEGER;
UPDATE apps SET hook_failed_version = vars_version WHERE hook_attempts > 0;
"#,
    // 11: `retired`: set by `state copy` on a state that no longer acts (moved to
    // another, or a read-only snapshot of one); no row while the state acts.
    r#"
CREATE TABLE retired (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    how       TEXT NOT NULL CHECK (how IN ('moved', 'snapshot')),
    elsewhere TEXT NOT NULL,
    at        INTEGER NOT NULL
);
"#,
    // 12: `troubles`: what `tick` said of a step that keeps failing (an addon's
    // `addon:ID`, an app's hook `hook:APP`): since when it was seen failing, and when
    // it was last said, so that cron hears of it once, then hourly, then on recovery.
    r#"
CREATE TABLE troubles (
    subject   TEXT PRIMARY KEY,
    since     INTEGER NOT NULL,
    warned_at INTEGER
);
CREATE INDEX addons_failing ON addons (attempts) WHERE attempts > 0;
"#,
    // 13: `server`: the server an addon was made on (its provider section's server name
    // and the server's own identity, "default pg:6543210"); every later step goes there
    // alone. NULL for an addon made before, until its next step records where it went.
    "ALTER TABLE addons ADD COLUMN server TEXT;",
    // 14: `read_only`: an attached app's login only reads the addon's resource
    // (`attach --read-only`); every attachment made before has the owner's rights.
    "ALTER TABLE attachments ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;",
    // 15: the states a row may hold, and the live states of the live-name index, said as
    // comparisons, not IN lists: SQLite checks an IN list of three or more through a
    // temporary table it builds afresh each time, four times in every write of an addon.
    // The same rules, so no row is checked again: the CHECK constraints are rewritten in
    // the stored table definitions (SQLite's documented way to change a CHECK in place;
    // the runner bumps the schema version after every migration, so other connections
    // read the schema again), the index is made again.
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(replace(sql,
    'CHECK (state IN' || char(10) || '                  (''waiting_for_provision'', ''provisioned'', ''ready'', ''deprovisioned'', ''error''))',
    'CHECK (state = ''waiting_for_provision'' OR state = ''provisioned'' OR state = ''ready'' OR state = ''deprovisioned'' OR state = ''error'')'),
    'CHECK (cleanup IN (''none'', ''pending'', ''done''))',
    'CHECK (cleanup = ''none'' OR cleanup = ''pending'' OR cleanup = ''done'')')
  WHERE type = 'table' AND name = 'addons';
UPDATE sqlite_master SET sql = replace(sql,
    'CHECK (state IN (''attaching'', ''attached'', ''detaching'', ''detached''))',
    'CHECK (state = ''attaching'' OR state = ''attached'' OR state = ''detaching'' OR state = ''detached'')')
  WHERE type = 'table' AND name = 'attachments';
UPDATE sqlite_master SET sql = replace(sql,
    'CHECK (result IN (''ok'', ''failed'', ''timed out'', ''could not start''))',
    'CHECK (result = ''ok'' OR result = ''failed'' OR result = ''timed out'' OR result = ''could not start'')')
  WHERE type = 'table' AND name = 'hook_runs';
PRAGMA writable_schema = RESET;
DROP INDEX addons_live_name;
CREATE UNIQUE INDEX addons_live_name ON addons (name)
    WHERE state = 'waiting_for_provision' OR state = 'provisioned' OR state = 'ready';
"#,
    // 16: `backups`: each backup of an addon's data and each restore of one: requested
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
    status       TEXT NOT NULL CHECK (status = 'pending' OR status = 'done' OR status = 'failed'),
    size         INTEGER,
    checksum     TEXT,
    generation   INTEGER,
    requested_at INTEGER NOT NULL,
    finished_at  INTEGER,
    claim        TEXT,
    claim_until  INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    message      TEXT NOT NULL DEFAULT '',
    scheduled    INTEGER NOT NULL DEFAULT 0 CHECK (scheduled IN (0, 1))
);
CREATE UNIQUE INDEX backups_one_pending ON backups (addon_id) WHERE status = 'pending';
CREATE INDEX backups_of_addon ON backups (addon_id, requested_at);
"#,
    // 17: an addon's own backup schedule (an apply file's `backup_every`, in ms, and
    // `backup_keep`), in place of its app's; NULL: its app's. The index is what a tick
    // reads them by.
    r#"
ALTER TABLE addons ADD COLUMN backup_every INTEGER;
ALTER TABLE addons ADD COLUMN backup_keep INTEGER;
CREATE INDEX addons_backup_scheduled ON addons (app) WHERE backup_every IS NOT NULL;
"#,
    // 18: `version`: counted up by every write of an addon's row, so a step that finds
    // the row as its claim left it commits from what it claimed and writes only what it
    // changed (an update that sets every column rewrites every index of the table).
    r#"
ALTER TABLE addons ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
"#,
];
