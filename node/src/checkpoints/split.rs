//! Split views: two signed checkpoints of one feed that cannot both be
//! honest become a proof, stored durably (at most
//! [`MAX_SPLIT_VIEWS_PER_AUTHOR`] per feed) and gossiped.

use ledger_core::hash::sha256;
use ledger_core::store::write_atomic;
use ledger_core::tlog::note::NoteVerifier;
use ledger_core::tlog::witness::SplitViewProof;
use ledger_core::AuthorId;
use tracing::warn;

use super::{
    Actions, Checkpoints, CheckpointsError, Signed, State, StoredSplitView,
    MAX_SPLIT_VIEWS_PER_AUTHOR,
};

impl Checkpoints {
    /// The split-view proof two signed checkpoints of `author` make, if
    /// they make one: equal sizes with different roots; or different sizes
    /// where the larger matches the replica and the replica's path shows the
    /// smaller is not its prefix.
    fn build_split(&self, author: &AuthorId, x: &Signed, y: &Signed) -> Option<SplitViewProof> {
        let keys = self.all_log_verifiers(author).ok()?;
        let refs: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        if x.size() == y.size() {
            if x.root() == y.root() {
                return None;
            }
            return SplitViewProof::new(&x.note, &y.note, Vec::new(), &refs).ok();
        }
        let (small, big) = if x.size() < y.size() { (x, y) } else { (y, x) };
        if small.size() == 0 || big.size() > self.tree_size(author).ok()? {
            return None;
        }
        if self.tree_root(author, big.size()).ok()? != big.root() {
            return None;
        }
        let path = self.full_path(author, small.size(), big.size()).ok()?;
        SplitViewProof::new(&small.note, &big.note, path, &refs).ok()
    }

    /// Stores a new split-view proof durably; whether it was new.
    pub(super) fn found(
        &self,
        st: &mut State,
        author: &AuthorId,
        proof: SplitViewProof,
        out: &mut Actions,
    ) -> Result<bool, CheckpointsError> {
        let bytes = proof.encode();
        let hash = sha256(&[&bytes]);
        if st.split_views.iter().any(|s| s.hash == hash) {
            return Ok(false);
        }
        if st
            .split_views
            .iter()
            .filter(|s| &s.author == author)
            .count()
            >= MAX_SPLIT_VIEWS_PER_AUTHOR
        {
            return Ok(false);
        }
        let keys = self.all_log_verifiers(author)?;
        let refs: Vec<&dyn NoteVerifier> = keys.iter().map(|k| k as &dyn NoteVerifier).collect();
        let view = proof.verify(&refs).map_err(CheckpointsError::SplitView)?;
        let p = self
            .dir
            .join("split-views")
            .join(format!("{}.bin", hash.to_hex()));
        self.noted(write_atomic(&p, &bytes), "a split-view proof")?;
        warn!(
            %author,
            first_size = view.first.size,
            second_size = view.second.size,
            "split view: the author signed two inconsistent checkpoints; proof stored"
        );
        if bytes.len() <= crate::net::gossip::MAX_SPLIT_VIEW_GOSSIP_BYTES {
            out.split_views.push(bytes);
        }
        st.split_views.push(StoredSplitView {
            author: author.clone(),
            proof,
            view,
            hash,
        });
        st.split_views.sort_by_key(|a| a.hash);
        Ok(true)
    }

    pub(super) fn try_split(
        &self,
        st: &mut State,
        author: &AuthorId,
        x: &Signed,
        y: &Signed,
        out: &mut Actions,
    ) -> Result<bool, CheckpointsError> {
        match self.build_split(author, x, y) {
            Some(p) => self.found(st, author, p, out),
            None => Ok(false),
        }
    }
}
