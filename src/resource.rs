//! What a provider sees of an addon: its immutable id, its params and the secret seed
//! that its passwords derive from.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// Provider parameters given with `--param KEY=VALUE`.
pub type Params = BTreeMap<String, String>;

/// The view of an addon a provider gets: its immutable id, its params and its secret seed.
#[derive(Debug, Clone, Copy)]
pub struct Resource<'a> {
    pub id: &'a str,
    pub params: &'a Params,
    seed: &'a [u8],
    /// The id of the addon whose data the resource is to be a copy of (`provision --from`):
    /// `begin_provision` then leaves the data to the copier and makes only the rest.
    pub source: Option<&'a str>,
}

impl<'a> Resource<'a> {
    /// Builds a resource view (tests and the store use this).
    pub fn new(id: &'a str, params: &'a Params, seed: &'a [u8]) -> Self {
        Resource { id, params, seed, source: None }
    }

    /// The same view, of a resource to be made as a copy of addon `source`'s.
    pub fn copying(self, source: Option<&'a str>) -> Self {
        Resource { source, ..self }
    }

    /// A secret string of `length` characters from `alphabet`, derived from the
    /// addon's seed and `purpose`: the same every time it is asked for.
    pub fn derive_secret(&self, purpose: &str, length: usize, alphabet: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.seed);
        hasher.update(purpose.as_bytes());
        let mut rng = ChaCha20Rng::from_seed(hasher.finalize().into());
        (0..length).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
    }

    /// The password for the resource's login (role, user or ACL user): 32 alphanumerics.
    pub fn password(&self) -> String {
        self.derive_secret("password", 32, ALNUM)
    }
}

/// `[A-Za-z0-9]`.
pub const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// 32 fresh bytes from the OS's CSPRNG for a new addon's seed.
pub fn new_seed() -> Vec<u8> {
    use rand::TryRngCore;
    let mut seed = vec![0u8; 32];
    rand::rngs::OsRng.try_fill_bytes(&mut seed).expect("the OS random number generator failed");
    seed
}
