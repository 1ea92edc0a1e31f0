//! Checks a stored SCRAM-SHA-256 verifier (`pg_authid.rolpassword`) against a password, so
//! a changed password is found even where the server lets logins in without one (trust).

use sha2::{Digest, Sha256};

/// HMAC-SHA-256 (RFC 2104).
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    match key.len() > 64 {
        true => block[..32].copy_from_slice(&Sha256::digest(key)),
        false => block[..key.len()].copy_from_slice(key),
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// PBKDF2-HMAC-SHA-256 for one 32-byte block: SCRAM's `SaltedPassword`.
fn salted(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        out.iter_mut().zip(u).for_each(|(o, b)| *o ^= b);
    }
    out
}

/// Whether `verifier` (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64)
/// was made from `password`. Anything else (md5, none, damaged) does not match.
pub fn matches(verifier: &str, password: &str) -> bool {
    use base64::Engine as _;
    let decode = |text: &str| base64::engine::general_purpose::STANDARD.decode(text).ok();
    let check = || -> Option<bool> {
        let (iterations, rest) = verifier.strip_prefix("SCRAM-SHA-256$")?.split_once(':')?;
        let (salt, keys) = rest.split_once('$')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok().filter(|n| (1..=10_000_000).contains(n))?;
        let salted = salted(password.as_bytes(), &decode(salt)?, iterations);
        let stored_key = Sha256::digest(hmac(&salted, b"Client Key"));
        Some(decode(stored)? == stored_key.as_slice() && decode(server)? == hmac(&salted, b"Server Key"))
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_matches_its_password_only() {
        let verifier = postgres_protocol::password::scram_sha_256(b"Abc123");
        assert!(matches(&verifier, "Abc123"));
        assert!(!matches(&verifier, "Abc124"));
        assert!(!matches("md5abc", "Abc123"));
        assert!(!matches("", "Abc123"));
    }
}
