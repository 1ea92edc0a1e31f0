//! Backups of a redis addon: every key under its prefix, in every database, with DUMP
//! and its PTTL, written to a file as records (database, key without the prefix, the
//! time to live it had, the dump). The restore is one MULTI/EXEC on the admin's
//! connection: the keys under the prefix now are deleted and the backup's RESTOREd in
//! one transaction, which a worker killed before EXEC leaves unsent: the server
//! discards it with the connection, and the old keys stay.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use super::{Names, Redis, Session};
use crate::addon::Resource;
use crate::credential::Credential;
use crate::providers::{Backer, ProviderError};

/// The first bytes of a redis backup file, with its format's version.
const MAGIC: &[u8] = b"addons-redis-backup 1\n";
/// Keys asked for per SCAN step.
const SCAN_COUNT: usize = 500;

/// One key of a backup.
struct Record {
    db: u32,
    /// The key without the addon's prefix.
    key: Vec<u8>,
    /// Its time to live in ms, 0 for none.
    ttl: i64,
    dump: Vec<u8>,
}

impl Record {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.db.to_le_bytes())?;
        out.write_all(&(self.key.len() as u64).to_le_bytes())?;
        out.write_all(&self.key)?;
        out.write_all(&self.ttl.to_le_bytes())?;
        out.write_all(&(self.dump.len() as u64).to_le_bytes())?;
        out.write_all(&self.dump)
    }

    /// The next record, `None` at the end of the file.
    fn read(input: &mut impl Read) -> std::io::Result<Option<Record>> {
        let mut db = [0u8; 4];
        match input.read_exact(&mut db) {
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other?,
        }
        let key = read_bytes(input)?;
        let mut ttl = [0u8; 8];
        input.read_exact(&mut ttl)?;
        let dump = read_bytes(input)?;
        Ok(Some(Record { db: u32::from_le_bytes(db), key, ttl: i64::from_le_bytes(ttl), dump }))
    }
}

fn read_bytes(input: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

/// The databases that hold keys.
fn databases(admin: &mut Session<'_>) -> Result<Vec<u32>, ProviderError> {
    let keyspace: String = admin.run(redis::cmd("INFO").arg("keyspace"))?;
    Ok(keyspace.lines().filter_map(|line| line.strip_prefix("db")?.split_once(':')?.0.parse().ok()).collect())
}

/// Every key under `names`' prefix in database `db`.
fn keys_in(admin: &mut Session<'_>, db: u32, names: &Names) -> Result<Vec<Vec<u8>>, ProviderError> {
    admin.run::<()>(redis::cmd("SELECT").arg(db))?;
    let mut keys = Vec::new();
    let mut cursor = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor).arg("MATCH").arg(names.pattern()).arg("COUNT").arg(SCAN_COUNT);
        let (next, found): (u64, Vec<Vec<u8>>) = admin.run(&scan)?;
        keys.extend(found);
        cursor = next;
        if cursor == 0 {
            return Ok(keys);
        }
    }
}

impl Backer for Redis {
    fn backup_suffix(&self) -> &'static str {
        "redis"
    }

    fn backup(&self, addon: Resource<'_>, file: &Path) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let mut admin = self.admin(format!("backing up the keys under {}", names.prefix))?;
        let io = |err: std::io::Error| ProviderError::Permanent(format!("can't write {}: {err}", file.display()));
        let made =
            std::os::unix::fs::OpenOptionsExt::mode(std::fs::OpenOptions::new().write(true).create_new(true), 0o600)
                .open(file)
                .map_err(io)?;
        let mut out = BufWriter::new(made);
        out.write_all(MAGIC).map_err(io)?;
        let mut count = 0u64;
        let mut first = true;
        for db in databases(&mut admin)? {
            for key in keys_in(&mut admin, db, &names)? {
                let ttl: i64 = admin.run(redis::cmd("PTTL").arg(&key))?;
                let dump: Option<Vec<u8>> = admin.run(redis::cmd("DUMP").arg(&key))?;
                // Gone since the scan (deleted, or expired).
                let (Some(dump), true) = (dump, ttl != -2) else { continue };
                let record = Record { db, key: key[names.prefix.len()..].to_vec(), ttl: ttl.max(0), dump };
                record.write(&mut out).map_err(io)?;
                count += 1;
                if std::mem::take(&mut first) {
                    crate::failpoint!("backup-started");
                }
            }
        }
        let file_handle = out.into_inner().map_err(|err| io(err.into_error()))?;
        file_handle.sync_all().map_err(io)?;
        Ok(format!("backed up {} under {}", crate::names::plural(count, "key"), names.prefix))
    }

    fn restore(&self, addon: Resource<'_>, _login: Credential, file: &Path) -> Result<String, ProviderError> {
        let names = Names::of(&addon)?;
        let bad = |why: String| ProviderError::Permanent(format!("can't read the backup {}: {why}", file.display()));
        let mut input = BufReader::new(std::fs::File::open(file).map_err(|err| bad(err.to_string()))?);
        let mut magic = vec![0u8; MAGIC.len()];
        input.read_exact(&mut magic).map_err(|err| bad(err.to_string()))?;
        if magic != MAGIC {
            return Err(bad("it is not a redis backup of addons".to_string()));
        }
        let mut admin = self.admin(format!("restoring the keys under {}", names.prefix))?;
        // What is there now, to delete in the same transaction.
        let mut now = Vec::new();
        for db in databases(&mut admin)? {
            now.push((db, keys_in(&mut admin, db, &names)?));
        }
        admin.run::<()>(&redis::cmd("MULTI"))?;
        for (db, keys) in &now {
            admin.run::<()>(redis::cmd("SELECT").arg(db))?;
            for chunk in keys.chunks(500) {
                admin.run::<()>(redis::cmd("DEL").arg(chunk))?;
            }
        }
        let mut count = 0u64;
        while let Some(record) = Record::read(&mut input).map_err(|err| bad(err.to_string()))? {
            let mut key = names.prefix.as_bytes().to_vec();
            key.extend_from_slice(&record.key);
            admin.run::<()>(redis::cmd("SELECT").arg(record.db))?;
            admin.run::<()>(redis::cmd("RESTORE").arg(&key).arg(record.ttl).arg(&record.dump).arg("REPLACE"))?;
            count += 1;
            if count == 1 {
                crate::failpoint!("restore-started");
            }
        }
        crate::failpoint!("restore-before-commit");
        let answers: Vec<redis::Value> = admin.run(&redis::cmd("EXEC"))?;
        if let Some(err) = answers.iter().find_map(|answer| match answer {
            redis::Value::ServerError(err) => Some(err.details().unwrap_or("").to_string()),
            _ => None,
        }) {
            return Err(admin.permanent(&format!("a key of the backup was refused: {err}")));
        }
        admin.run::<()>(redis::cmd("SELECT").arg(0))?;
        Ok(format!("restored {} under {} in one transaction", crate::names::plural(count, "key"), names.prefix))
    }
}
