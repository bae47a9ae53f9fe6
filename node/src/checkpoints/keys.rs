//! Names and keys: the origin of each feed, this node's witness name, and
//! the keys the replica knows (the log keys of each feed's history, the
//! cosignature keys of every member).

use ledger_core::tlog::checkpoint::{feed_origin, parse_feed_origin, witness_name, WitnessId};
use ledger_core::tlog::cosignature::{CosignatureVerifier, Cosigner};
use ledger_core::tlog::note::Ed25519Verifier;
use ledger_core::{AuthorId, AuthorityKey, Digest};

use super::{Checkpoints, CheckpointsError, Me};

impl Checkpoints {
    /// The origin of `author`'s feed in this network.
    pub fn origin(&self, author: &AuthorId) -> Result<String, CheckpointsError> {
        feed_origin(&self.network_name, &self.network_id, author).map_err(CheckpointsError::Name)
    }

    /// This node's cosignature key name.
    pub fn my_witness_name(&self) -> &str {
        &self.my_witness_name
    }

    /// Who this node is.
    pub fn me(&self) -> &Me {
        &self.me
    }

    /// The author of a feed origin of this network (`None` for any other
    /// origin).
    pub fn author_of(&self, origin: &str) -> Option<AuthorId> {
        let p = parse_feed_origin(origin)?;
        (p.network_name == self.network_name
            && p.is_of_network(&self.network_id)
            && self.ledger.author_entry(&p.author).is_some())
        .then_some(p.author)
    }

    pub(super) fn is_me(&self, author: &AuthorId) -> bool {
        matches!(&self.me, Me::Authority(a) if a == author)
    }

    pub(super) fn tree_size(&self, author: &AuthorId) -> Result<u64, CheckpointsError> {
        Ok(self.ledger.tree_size(author)?)
    }

    pub(super) fn tree_root(
        &self,
        author: &AuthorId,
        size: u64,
    ) -> Result<Digest, CheckpointsError> {
        Ok(self.ledger.tree_root(author, size)?)
    }

    /// The consistency path from `old` to `new` in the replica's tree, the
    /// hash of the old tree always first (`merkle::full_consistency_path`).
    pub(super) fn full_path(
        &self,
        author: &AuthorId,
        old: u64,
        new: u64,
    ) -> Result<Vec<Digest>, CheckpointsError> {
        let mut p = self.ledger.consistency_proof(author, old, new)?;
        if old > 0 && old < new && old.is_power_of_two() {
            p.insert(0, self.tree_root(author, old)?);
        }
        Ok(p)
    }

    /// The note key of `author`'s feed in force after `size` events, as the
    /// replica knows it (its latest key when the replica holds fewer).
    pub(super) fn log_verifier(
        &self,
        author: &AuthorId,
        size: u64,
    ) -> Result<Option<Ed25519Verifier>, CheckpointsError> {
        let Some(fs) = self.ledger.feed_state(author)? else {
            return Ok(None);
        };
        let key = fs.epoch_at(size.saturating_add(1)).key;
        Ok(Ed25519Verifier::new(&self.origin(author)?, &key).ok())
    }

    /// Every key `author`'s feed has had, as note keys of its origin.
    pub(super) fn all_log_verifiers(
        &self,
        author: &AuthorId,
    ) -> Result<Vec<Ed25519Verifier>, CheckpointsError> {
        let origin = self.origin(author)?;
        let Some(fs) = self.ledger.feed_state(author)? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Ed25519Verifier> = Vec::new();
        for e in &fs.keys {
            if let Ok(v) = Ed25519Verifier::new(&origin, &e.key) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        Ok(out)
    }

    /// The cosignature keys of every member: each authority's current key
    /// (as the replica knows its feed; charter authorities and those
    /// admitted by decisions) and each observer's key (charter observers and
    /// those admitted by decisions).
    pub(super) fn witness_verifiers(
        &self,
    ) -> Result<Vec<(Option<AuthorId>, CosignatureVerifier)>, CheckpointsError> {
        let charter = self.ledger.charter();
        let mut out = Vec::new();
        for author in self.ledger.authors() {
            let name = witness_name(
                &self.network_name,
                &self.network_id,
                WitnessId::Authority(&author),
            )
            .map_err(CheckpointsError::Name)?;
            if let Some(fs) = self.ledger.feed_state(&author)? {
                let key = fs.epoch_at(fs.head_seq.saturating_add(1)).key;
                if let Ok(v) = CosignatureVerifier::new(&name, &key) {
                    out.push((Some(author.clone()), v));
                }
            }
        }
        let timeline = self.ledger.timeline();
        let mut observers: std::collections::BTreeMap<_, _> = charter
            .observers
            .iter()
            .map(|o| (o.id.clone(), o.key))
            .collect();
        for (id, o) in &timeline.latest().observers {
            observers.entry(id.clone()).or_insert(o.key);
        }
        for (id, key) in &observers {
            let name = witness_name(
                &self.network_name,
                &self.network_id,
                WitnessId::Observer(id),
            )
            .map_err(CheckpointsError::Name)?;
            if let Ok(v) = CosignatureVerifier::new(&name, key) {
                out.push((None, v));
            }
        }
        Ok(out)
    }

    pub(super) fn cosigner(&self, key: &AuthorityKey) -> Result<Cosigner, CheckpointsError> {
        Cosigner::from_authority_key(&self.my_witness_name, key).map_err(|source| {
            CheckpointsError::Key {
                name: self.my_witness_name.clone(),
                source,
            }
        })
    }
}
