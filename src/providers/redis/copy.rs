//! `provision --from` on Redis: every key under the source's prefix, in every database,
//! copied with DUMP and RESTORE (values and TTLs) under the new addon's prefix. Two admin
//! keys outside every addon's ACL patterns tell any host how the copy stands:
//! `addons-copy:<id>:alive` (a TTL the copier keeps refreshing, its value the copier's
//! pid, the keys copied and the keys to copy) and `addons-copy:<id>:done`.

use super::{Names, Redis, Session};
use crate::addon::Resource;
use crate::providers::{Copier, CopyProgress, CopyStatus, CopyUnit, ProviderError};

/// How long the copier's sign of life lasts unless refreshed (each SCAN step refreshes it).
const ALIVE_MS: u64 = 10_000;
/// Keys asked for per SCAN step of the copy.
const COPY_COUNT: usize = 200;
/// Keys asked for per SCAN step of the count of the keys to copy.
const COUNT_COUNT: usize = 1000;

/// The admin keys of one addon's copy.
pub(super) fn marks(addon: &Resource<'_>) -> (String, String) {
    (format!("addons-copy:{}:alive", addon.id), format!("addons-copy:{}:done", addon.id))
}

impl Copier for Redis {
    /// The keys are copied whatever they hold: nothing to check beforehand.
    fn check_copy(&self, _source: Resource<'_>) -> Result<(), ProviderError> {
        Ok(())
    }

    fn copy_status(&self, addon: Resource<'_>, _source: Resource<'_>) -> Result<CopyStatus, ProviderError> {
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

    /// The keys copied out of the keys to copy, as the copier last wrote them in its sign
    /// of life (`None` while it counts the keys to copy).
    fn copy_progress(&self, addon: Resource<'_>, _source: Resource<'_>) -> Result<Option<CopyProgress>, ProviderError> {
        Names::of(&addon)?;
        let (alive, _) = marks(&addon);
        let mut admin = self.admin(format!("looking up the copy into addon {}", addon.id))?;
        admin.run::<()>(redis::cmd("SELECT").arg(0))?;
        let value: Option<String> = admin.run(redis::cmd("GET").arg(&alive))?;
        let counts: Option<Vec<u64>> =
            value.and_then(|value| value.split(' ').skip(1).map(|count| count.parse().ok()).collect());
        Ok(match counts.as_deref() {
            Some(&[done, total]) => Some(CopyProgress { done, total, unit: CopyUnit::Keys }),
            _ => None,
        })
    }

    fn copy(&self, addon: Resource<'_>, source: Resource<'_>) -> Result<String, ProviderError> {
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
        let databases = databases(&mut admin)?;
        let total = count_keys(&mut admin, &databases, &from, &alive)?;
        let copied = copy_keys(&mut admin, &databases, &from, &names, (&alive, total))?;
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

/// The databases that hold keys.
fn databases(admin: &mut Session<'_>) -> Result<Vec<u32>, ProviderError> {
    let keyspace: String = admin.run(redis::cmd("INFO").arg("keyspace"))?;
    Ok(keyspace.lines().filter_map(|line| line.strip_prefix("db")?.split_once(':')?.0.parse().ok()).collect())
}

/// Refreshes the copier's sign of life, with `copied` of `total` keys in its value.
fn still_alive(admin: &mut Session<'_>, alive: &str, copied: u64, total: u64) -> Result<(), ProviderError> {
    admin.run::<()>(redis::cmd("SELECT").arg(0))?;
    let value = format!("{} {copied} {total}", std::process::id());
    admin.run::<()>(redis::cmd("SET").arg(alive).arg(value).arg("XX").arg("PX").arg(ALIVE_MS))
}

/// How many keys are under `from`'s prefix in `databases`, refreshing `alive` at each step.
fn count_keys(admin: &mut Session<'_>, databases: &[u32], from: &Names, alive: &str) -> Result<u64, ProviderError> {
    let mut count = 0u64;
    for &db in databases {
        let mut cursor = 0u64;
        loop {
            admin.run::<()>(redis::cmd("SELECT").arg(0))?;
            admin.run::<()>(redis::cmd("PEXPIRE").arg(alive).arg(ALIVE_MS))?;
            admin.run::<()>(redis::cmd("SELECT").arg(db))?;
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(from.pattern()).arg("COUNT").arg(COUNT_COUNT);
            let (next, keys): (u64, Vec<Vec<u8>>) = admin.run(&scan)?;
            count += keys.len() as u64;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(count)
}

/// Copies every key under `from`'s prefix in `databases`, renamed under `to`'s,
/// refreshing `alive` (with the count so far of `total`) at each step; returns how many
/// were copied.
fn copy_keys(
    admin: &mut Session<'_>,
    databases: &[u32],
    from: &Names,
    to: &Names,
    (alive, total): (&str, u64),
) -> Result<u64, ProviderError> {
    let mut copied = 0u64;
    let mut first = true;
    for &db in databases {
        let mut cursor = 0u64;
        loop {
            still_alive(admin, alive, copied, total)?;
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
