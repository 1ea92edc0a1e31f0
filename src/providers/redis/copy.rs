//! `provision --from` on Redis: every key under the source's prefix, in every database,
//! copied with DUMP and RESTORE (values and TTLs) under the new addon's prefix. Two admin
//! keys outside every addon's ACL patterns tell any host how the copy stands:
//! `addons-copy:<id>:alive` (a TTL the copier keeps refreshing) and `addons-copy:<id>:done`.

use super::{Names, Redis, Session};
use crate::addon::Resource;
use crate::providers::{CopyStatus, ProviderError};

/// How long the copier's sign of life lasts unless refreshed (each SCAN step refreshes it).
const ALIVE_MS: u64 = 10_000;
/// Keys asked for per SCAN step of the copy.
const COPY_COUNT: usize = 200;

/// The admin keys of one addon's copy.
pub(super) fn marks(addon: &Resource<'_>) -> (String, String) {
    (format!("addons-copy:{}:alive", addon.id), format!("addons-copy:{}:done", addon.id))
}

impl Redis {
    pub(super) fn copy_status_of(&self, addon: Resource<'_>) -> Result<CopyStatus, ProviderError> {
        Names::of(&addon)?;
        let (alive, done) = marks(&addon);
        let mut admin = self.admin(format!("looking up the copy into addon {}", addon.id))?;
        admin.run::<()>(redis::cmd("SELECT").arg(0))?;
        if admin.run::<bool>(redis::cmd("EXISTS").arg(&done))? {
            return Ok(CopyStatus::Done);
        }
        Ok(match admin.run::<bool>(redis::cmd("EXISTS").arg(&alive))? {
            true => CopyStatus::Running,
            false => CopyStatus::Stopped,
        })
    }

    pub(super) fn copy_into(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
        let (names, from) = (Names::of(&addon)?, Names::of(&source)?);
        let (alive, done) = marks(&addon);
        let mut admin = self.admin(format!("copying the keys under {} to {}", from.prefix, names.prefix))?;
        admin.run::<()>(redis::cmd("SELECT").arg(0))?;
        if admin.run::<bool>(redis::cmd("EXISTS").arg(&done))? {
            return Ok(format!("the keys under {} are already a copy", names.prefix));
        }
        let set = redis::cmd("SET").arg(&alive).arg(std::process::id()).arg("NX").arg("PX").arg(ALIVE_MS).clone();
        if admin.run::<Option<String>>(&set)?.is_none() {
            return Ok(format!("another copier is at work on {}", names.prefix));
        }
        // A dead copier's partial copy goes first.
        admin.delete_keys(&names.pattern())?;
        let copied = copy_keys(&mut admin, &from, &names, &alive)?;
        admin.run::<()>(redis::cmd("SELECT").arg(0))?;
        let user: Option<Vec<redis::Value>> = admin.run(redis::cmd("ACL").arg("GETUSER").arg(&from.user))?;
        if user.is_none() {
            return Err(admin.permanent(&format!("the source's ACL user {} is gone: it was deprovisioned", from.user)));
        }
        crate::failpoint!("after-copy-before-mark");
        admin.run::<()>(redis::cmd("SET").arg(&done).arg(&from.prefix))?;
        admin.run::<()>(redis::cmd("DEL").arg(&alive))?;
        let keys = crate::names::plural(copied, "key");
        Ok(format!("copied {keys} under {} to {}", from.prefix, names.prefix))
    }
}

/// Copies every key under `from`'s prefix in every database that holds keys, renamed under
/// `to`'s, refreshing `alive` at each step; returns how many were copied.
fn copy_keys(admin: &mut Session<'_>, from: &Names, to: &Names, alive: &str) -> Result<u64, ProviderError> {
    let keyspace: String = admin.run(redis::cmd("INFO").arg("keyspace"))?;
    let databases: Vec<u32> =
        keyspace.lines().filter_map(|line| line.strip_prefix("db")?.split_once(':')?.0.parse().ok()).collect();
    let mut copied = 0u64;
    let mut first = true;
    for db in databases {
        let mut cursor = 0u64;
        loop {
            admin.run::<()>(redis::cmd("SELECT").arg(0))?;
            admin.run::<()>(redis::cmd("PEXPIRE").arg(alive).arg(ALIVE_MS))?;
            admin.run::<()>(redis::cmd("SELECT").arg(db))?;
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(from.pattern()).arg("COUNT").arg(COPY_COUNT);
            let (next, keys): (u64, Vec<Vec<u8>>) = admin.run(&scan)?;
            for key in keys {
                let ttl: i64 = admin.run(redis::cmd("PTTL").arg(&key))?;
                let dump: Option<Vec<u8>> = admin.run(redis::cmd("DUMP").arg(&key))?;
                let (Some(dump), true) = (dump, ttl != -2) else { continue };
                let mut renamed = to.prefix.as_bytes().to_vec();
                renamed.extend_from_slice(&key[from.prefix.len()..]);
                let restore = redis::cmd("RESTORE").arg(&renamed).arg(ttl.max(0)).arg(dump).arg("REPLACE").clone();
                admin.run::<()>(&restore)?;
                copied += 1;
            }
            if std::mem::take(&mut first) {
                crate::failpoint!("copy-started");
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(copied)
}
