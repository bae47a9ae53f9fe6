//! Key files: an authority's (or observer's) signing key, with the next key
//! already generated and committed to (pre-rotation), stored as JSON that
//! only its owner can read (mode 0600).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::bytes::{Digest, FixedBytes, PublicKeyBytes};
use crate::event::AuthorityKey;
use crate::hash::sha256;
use crate::model::{AuthorId, ObserverId};

pub const KEY_FILE_KIND: &str = "kp-ledger-key/v1";
/// Largest key file accepted, in bytes.
const MAX_KEY_FILE: u64 = 16 * 1024;

/// Who a key belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyOwner {
    Authority(AuthorId),
    Observer(ObserverId),
    /// Not yet assigned (a key made before its charter entry).
    Unassigned,
}

/// The JSON key file.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub kind: String,
    pub owner: KeyOwner,
    /// RFC 8032 secret seed of the current key.
    pub secret_seed: FixedBytes<32>,
    pub public_key: PublicKeyBytes,
    /// Secret seed of the next key (pre-rotation): kept offline in practice.
    pub next_secret_seed: FixedBytes<32>,
    /// SHA-256 of the next public key: the commitment published in the
    /// charter or in the last rotation event.
    pub next_key_digest: Digest,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFile({:?}, public {})", self.owner, self.public_key)
    }
}

/// The commitment to a public key: SHA-256 of its 32 bytes.
pub fn key_digest(public: &PublicKeyBytes) -> Digest {
    sha256(&[public.as_bytes()])
}

impl KeyFile {
    /// A fresh key and a fresh next key.
    pub fn generate(owner: KeyOwner) -> Result<KeyFile, String> {
        let current = AuthorityKey::generate()?;
        let next = AuthorityKey::generate()?;
        Ok(KeyFile::from_keys(owner, &current, &next))
    }

    pub fn from_keys(owner: KeyOwner, current: &AuthorityKey, next: &AuthorityKey) -> KeyFile {
        KeyFile {
            kind: KEY_FILE_KIND.into(),
            owner,
            secret_seed: FixedBytes(current.seed()),
            public_key: current.public(),
            next_secret_seed: FixedBytes(next.seed()),
            next_key_digest: key_digest(&next.public()),
        }
    }

    pub fn key(&self) -> AuthorityKey {
        AuthorityKey::from_seed(*self.secret_seed.as_bytes())
    }

    pub fn next_key(&self) -> AuthorityKey {
        AuthorityKey::from_seed(*self.next_secret_seed.as_bytes())
    }

    /// The key file after a rotation: the next key becomes current and a new
    /// next key is generated.
    pub fn rotated(&self) -> Result<KeyFile, String> {
        let new_next = AuthorityKey::generate()?;
        Ok(KeyFile::from_keys(
            self.owner.clone(),
            &self.next_key(),
            &new_next,
        ))
    }

    /// Checks internal consistency (the public key and digest match the seeds).
    pub fn check(&self) -> Result<(), String> {
        if self.kind != KEY_FILE_KIND {
            return Err(format!("not a KP Ledger key file (kind `{}`)", self.kind));
        }
        if self.key().public() != self.public_key {
            return Err("public_key does not match secret_seed".into());
        }
        if key_digest(&self.next_key().public()) != self.next_key_digest {
            return Err("next_key_digest does not match next_secret_seed".into());
        }
        Ok(())
    }

    /// Reads and checks a key file, bounded in size.
    pub fn load(path: &Path) -> Result<KeyFile, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.len() > MAX_KEY_FILE {
            return Err(format!("{}: too large for a key file", path.display()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        KeyFile::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks a key file's text (what [`KeyFile::load`] reads).
    pub fn from_json(text: &str) -> Result<KeyFile, String> {
        if text.len() as u64 > MAX_KEY_FILE {
            return Err("too large for a key file".into());
        }
        let kf: KeyFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        kf.check()?;
        Ok(kf)
    }

    /// Writes the key file with mode 0600; refuses to overwrite unless
    /// `overwrite` (then it is replaced atomically).
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())? + "\n";
        let target = if overwrite {
            path.with_extension("tmp")
        } else {
            path.to_owned()
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target)
            .map_err(|e| format!("{}: {e}", target.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("{}: {e}", target.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("{}: {e}", target.display()))?;
        if overwrite {
            std::fs::rename(&target, path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Ok(())
    }
}
