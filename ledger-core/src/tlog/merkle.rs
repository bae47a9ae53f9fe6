//! RFC 6962 Merkle trees over a feed, with the proofs of RFC 9162 §2.1.
//!
//! ```text
//! leaf hash  = SHA-256(0x00 || leaf data)        leaf data = the 32-byte event id
//! node hash  = SHA-256(0x01 || left || right)
//! MTH({})    = SHA-256("")
//! MTH(D[n])  = node hash(MTH(D[0:k]), MTH(D[k:n]))  k = largest power of two < n
//! ```
//!
//! The leaves of a feed's tree are its event ids in sequence order (leaf
//! index = seq − 1), so the root of a feed of size n commits to its first n
//! events, and the formats of this module are those of every RFC 6962 log.
//!
//! **Node store.** Node `(level, index)` is the root of the *complete*
//! subtree over leaves `[index·2^level, (index+1)·2^level)`; level 0 holds
//! the leaf hashes. These nodes never change once they exist, so a store can
//! write them as events are appended ([`Frontier::append`] returns exactly
//! the nodes an append completes: the leaf and one per carry) and never
//! rewrite them. Any tree hash of size n ≤ stored size, and every proof, is
//! then computed from at most O(log n) stored nodes through [`NodeReader`],
//! without rehashing the feed: the root of `[0, n)` folds the complete
//! subtrees of the binary decomposition of n (largest first, combined right
//! to left), and each proof needs at most one such partial subtree.
//!
//! **Proofs.** An inclusion proof (audit path) of leaf m in a tree of size n
//! is `PATH(m, D[n])`; a consistency proof from size m to size n is
//! `PROOF(m, D[n])`, both as in RFC 9162 §2.1.3.1 and §2.1.4.1 (c2sp.org/merkle-tree),
//! listed from the leaf (or the old tree) upwards. They are verified with the
//! algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.

use thiserror::Error;

use crate::bytes::Digest;
use crate::event::EventId;
use crate::hash::sha256;

/// Domain separation byte of leaf hashes.
pub const LEAF_PREFIX: u8 = 0x00;
/// Domain separation byte of interior node hashes.
pub const NODE_PREFIX: u8 = 0x01;
/// Most hashes in any valid proof: ⌈log2 n⌉ ≤ 64 for an inclusion proof,
/// one more for a consistency proof whose old size is a power of two when
/// the old root is prepended ([`full_consistency_path`]).
pub const MAX_PROOF_HASHES: usize = 65;

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Digest {
    sha256(&[])
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Digest {
    sha256(&[&[LEAF_PREFIX], data])
}

/// The leaf hash of an event: its 32-byte id is the leaf data.
pub fn event_leaf_hash(id: &EventId) -> Digest {
    leaf_hash(id.as_bytes())
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    sha256(&[&[NODE_PREFIX], left.as_bytes(), right.as_bytes()])
}

/// The largest power of two strictly smaller than `n`, for `n ≥ 2`.
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The tree hash of leaves given by their hashes, straight from the
/// recursive definition (a reference for tests; O(n) hashing).
pub fn root_from_leaf_hashes(leaves: &[Digest]) -> Digest {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(
                &root_from_leaf_hashes(&leaves[..k]),
                &root_from_leaf_hashes(&leaves[k..]),
            )
        }
    }
}

/// The tree hash of leaves given by their data (hashed with [`leaf_hash`]).
pub fn root_from_leaves<T: AsRef<[u8]>>(leaves: &[T]) -> Digest {
    let hashes: Vec<Digest> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
    root_from_leaf_hashes(&hashes)
}

// ---------------------------------------------------------------------------
// Node store
// ---------------------------------------------------------------------------

/// Read access to the hashes of complete subtrees.
///
/// `node(level, index)` is the root of the complete subtree over leaves
/// `[index·2^level, (index+1)·2^level)` (level 0: the leaf hashes). A reader
/// is asked only for nodes whose leaves all lie below the tree size a caller
/// asked about; a node it does not hold is its error.
pub trait NodeReader {
    type Error;
    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error>;
}

impl<T: NodeReader + ?Sized> NodeReader for &T {
    type Error = T::Error;
    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        (**self).node(level, index)
    }
}

/// One complete subtree hash, as produced by [`Frontier::append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeNode {
    pub level: u8,
    pub index: u64,
    pub hash: Digest,
}

/// The complete subtrees that make up leaves `[start, end)`, largest first:
/// greedily the largest aligned power of two that fits. For every subtree of
/// the RFC 6962 tree (and every prefix `[0, n)`) this is the binary
/// decomposition of its size, and its tree hash folds these right to left.
fn decompose(mut start: u64, end: u64) -> Vec<(u8, u64)> {
    let mut out = Vec::new();
    while start < end {
        let align = start.trailing_zeros().min(63);
        let fit = 63 - (end - start).leading_zeros();
        let level = align.min(fit);
        out.push((level as u8, start >> level));
        start += 1u64 << level;
    }
    out
}

/// The tree hash of leaves `[start, end)` from stored complete subtrees:
/// at most ⌈log2(end − start)⌉ + 1 reads. `[start, end)` must be a subtree
/// of the RFC 6962 tree or a prefix `[0, n)`.
fn subtree_root<R: NodeReader + ?Sized>(
    reader: &R,
    start: u64,
    end: u64,
) -> Result<Digest, R::Error> {
    let parts = decompose(start, end);
    let mut acc: Option<Digest> = None;
    for &(level, index) in parts.iter().rev() {
        let h = reader.node(level, index)?;
        acc = Some(match acc {
            None => h,
            Some(right) => node_hash(&h, &right),
        });
    }
    Ok(acc.unwrap_or_else(empty_root))
}

/// The root of the tree of the first `size` leaves, from stored nodes
/// (at most ⌈log2 size⌉ + 1 reads, no other hashing than combining them).
pub fn root_at<R: NodeReader + ?Sized>(reader: &R, size: u64) -> Result<Digest, R::Error> {
    subtree_root(reader, 0, size)
}

/// Why a proof could not be generated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProveError<E> {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old} is larger than new size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("reading a stored tree node: {0}")]
    Read(E),
}

/// The inclusion proof (audit path) of leaf `index` in the tree of the first
/// `size` leaves, RFC 9162 §2.1.3.1, from the leaf's sibling upwards.
/// At most ⌈log2 size⌉ + 1 node reads.
pub fn inclusion_proof<R: NodeReader + ?Sized>(
    reader: &R,
    index: u64,
    size: u64,
) -> Result<Vec<Digest>, ProveError<R::Error>> {
    if index >= size {
        return Err(ProveError::IndexOutOfRange { index, size });
    }
    // Walk down from the root: the current subtree is [start, start + n).
    let mut proof = Vec::new();
    let (mut start, mut n) = (0u64, size);
    while n > 1 {
        let k = split_point(n);
        if index - start < k {
            proof.push(subtree_root(reader, start + k, start + n).map_err(ProveError::Read)?);
            n = k;
        } else {
            proof.push(subtree_root(reader, start, start + k).map_err(ProveError::Read)?);
            start += k;
            n -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof from the tree of the first `old` leaves to that of
/// the first `new`, RFC 9162 §2.1.4.1 (`PROOF(old, D[new])`). Empty when
/// `old` is 0 or equal to `new`. At most ⌈log2 new⌉ + 2 node reads.
pub fn consistency_proof<R: NodeReader + ?Sized>(
    reader: &R,
    old: u64,
    new: u64,
) -> Result<Vec<Digest>, ProveError<R::Error>> {
    if old > new {
        return Err(ProveError::SizeOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start, start + n), b), unrolled; 1 ≤ m < n on entry.
    let mut proof = Vec::new();
    let (mut start, mut n, mut m, mut b) = (0u64, new, old, true);
    loop {
        if m == n {
            if !b {
                proof.push(subtree_root(reader, start, start + n).map_err(ProveError::Read)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(subtree_root(reader, start + k, start + n).map_err(ProveError::Read)?);
            n = k;
        } else {
            proof.push(subtree_root(reader, start, start + k).map_err(ProveError::Read)?);
            start += k;
            n -= k;
            m -= k;
            b = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof from `old` to `new` with the hash of the old tree
/// always first: when `old` is a power of two RFC 9162 omits that hash
/// (the verifier prepends the old root it holds), and this puts back the
/// one stored in the new tree. [`consistency_roots`] takes this form, which
/// is what can show two trees to be *inconsistent*.
pub fn full_consistency_path<R: NodeReader + ?Sized>(
    reader: &R,
    old: u64,
    new: u64,
) -> Result<Vec<Digest>, ProveError<R::Error>> {
    let mut proof = consistency_proof(reader, old, new)?;
    if old > 0 && old < new && old.is_power_of_two() {
        let first = root_at(reader, old).map_err(ProveError::Read)?;
        proof.insert(0, first);
    }
    Ok(proof)
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Why a proof does not verify.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifyError {
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("old size {old} is larger than new size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("the proof has the wrong number of hashes")]
    ProofLength,
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// The root that an inclusion proof of `leaf` at `index` in a tree of `size`
/// leaves implies (RFC 9162 §2.1.3.2, steps 1-5 without the comparison).
pub fn root_from_inclusion_proof(
    leaf: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
) -> Result<Digest, VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(VerifyError::ProofLength);
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(VerifyError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofLength);
    }
    Ok(r)
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size`
/// leaves whose root is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), VerifyError> {
    if root_from_inclusion_proof(leaf, index, size, proof)? == *root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// The two roots a consistency path implies: that of the first `old` leaves
/// and that of the first `new` leaves (RFC 9162 §2.1.4.2 steps 3-7, on a
/// path whose first hash is the old tree's node, see
/// [`full_consistency_path`]). Needs `0 < old < new`.
///
/// Every hash that goes into the old root also goes into the new one, at the
/// place the shape of a tree of `new` leaves gives it. So if the new root is
/// right, the old root computed here is the true root of the first `old`
/// leaves of that tree: a path that gives the right new root and a different
/// old root proves the two trees inconsistent.
pub fn consistency_roots(
    old: u64,
    new: u64,
    path: &[Digest],
) -> Result<(Digest, Digest), VerifyError> {
    if old > new {
        return Err(VerifyError::SizeOrder { old, new });
    }
    if old == 0 || old == new || path.is_empty() || path.len() > MAX_PROOF_HASHES {
        return Err(VerifyError::ProofLength);
    }
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(VerifyError::ProofLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(VerifyError::ProofLength);
    }
    Ok((fr, sr))
}

/// Verifies that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root`
/// (RFC 9162 §2.1.4.2, with the trivial cases of c2sp.org/merkle-tree:
/// equal sizes need an empty proof and equal roots; old size 0 needs an
/// empty proof).
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Digest,
    new_root: &Digest,
    proof: &[Digest],
) -> Result<(), VerifyError> {
    if old_size > new_size {
        return Err(VerifyError::SizeOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(VerifyError::ProofLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(VerifyError::ProofLength)
        };
    }
    if proof.is_empty() {
        return Err(VerifyError::ProofLength);
    }
    let (fr, sr) = if old_size.is_power_of_two() {
        let mut path = Vec::with_capacity(proof.len() + 1);
        path.push(*old_root);
        path.extend_from_slice(proof);
        consistency_roots(old_size, new_size, &path)?
    } else {
        consistency_roots(old_size, new_size, proof)?
    };
    if fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

// ---------------------------------------------------------------------------
// Incremental building
// ---------------------------------------------------------------------------

/// Why a frontier cannot be built or extended.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrontierError {
    #[error("a frontier of size {size} has {expected} hashes, found {found}")]
    WrongLength {
        size: u64,
        expected: usize,
        found: usize,
    },
    #[error("the tree is full (2^64 - 1 leaves)")]
    Full,
}

/// The right edge of a tree: the roots of the complete subtrees of the
/// binary decomposition of its size, largest (leftmost) first: one per set
/// bit of the size. Enough to append leaves and to compute the root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Digest>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// A frontier from its parts, as persisted.
    pub fn from_parts(size: u64, hashes: Vec<Digest>) -> Result<Frontier, FrontierError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(FrontierError::WrongLength {
                size,
                expected,
                found: hashes.len(),
            });
        }
        Ok(Frontier { size, hashes })
    }

    /// The positions `(level, index)` of the frontier nodes of a tree of
    /// `size` leaves, largest first.
    pub fn positions(size: u64) -> Vec<(u8, u64)> {
        decompose(0, size)
    }

    /// The frontier of the first `size` leaves, read from a node store
    /// (`size.count_ones()` reads).
    pub fn load<R: NodeReader + ?Sized>(reader: &R, size: u64) -> Result<Frontier, R::Error> {
        let hashes = Frontier::positions(size)
            .into_iter()
            .map(|(level, index)| reader.node(level, index))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier hashes, largest subtree first.
    pub fn hashes(&self) -> &[Digest] {
        &self.hashes
    }

    /// The tree hash of the whole tree.
    pub fn root(&self) -> Digest {
        let mut acc: Option<Digest> = None;
        for h in self.hashes.iter().rev() {
            acc = Some(match acc {
                None => *h,
                Some(right) => node_hash(h, &right),
            });
        }
        acc.unwrap_or_else(empty_root)
    }

    /// Appends one leaf (its leaf hash). Returns the complete nodes this
    /// append creates, for a store to persist: the leaf at level 0, then one
    /// parent per subtree it completes, bottom-up.
    pub fn append(&mut self, leaf: Digest) -> Result<Vec<TreeNode>, FrontierError> {
        let index = self.size;
        if index == u64::MAX {
            return Err(FrontierError::Full);
        }
        let mut out = vec![TreeNode {
            level: 0,
            index,
            hash: leaf,
        }];
        let (mut hash, mut level, mut idx) = (leaf, 0u8, index);
        // Each trailing one bit of the old size is a complete left sibling
        // on the frontier that the new node completes.
        while idx & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                // Unreachable: `from_parts` checks one hash per set bit.
                return Err(FrontierError::WrongLength {
                    size: self.size,
                    expected: self.size.count_ones() as usize,
                    found: self.hashes.len(),
                });
            };
            hash = node_hash(&left, &hash);
            level += 1;
            idx >>= 1;
            out.push(TreeNode {
                level,
                index: idx,
                hash,
            });
        }
        self.hashes.push(hash);
        self.size += 1;
        Ok(out)
    }
}

// ---------------------------------------------------------------------------
// In-memory node store
// ---------------------------------------------------------------------------

/// A node that a [`MemoryTree`] does not hold.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("no complete subtree node at level {level}, index {index}")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

/// Every complete subtree hash of a tree, in memory (for tests and tools).
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Digest>>,
    frontier: Frontier,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// A tree over leaf hashes.
    pub fn from_leaf_hashes(leaves: &[Digest]) -> Result<MemoryTree, FrontierError> {
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(*l)?;
        }
        Ok(t)
    }

    /// Appends a leaf hash and stores the nodes it completes.
    pub fn push(&mut self, leaf: Digest) -> Result<(), FrontierError> {
        for node in self.frontier.append(leaf)? {
            let level = usize::from(node.level);
            if self.levels.len() <= level {
                self.levels.resize_with(level + 1, Vec::new);
            }
            // Nodes of a level are completed in index order.
            self.levels[level].push(node.hash);
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    pub fn root(&self) -> Digest {
        self.frontier.root()
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }
}

impl NodeReader for MemoryTree {
    type Error = MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Digest, MissingNode> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytes::FixedBytes;

    fn h(hex: &str) -> Digest {
        Digest::from_hex(hex).expect("hex")
    }

    /// The eight leaves of the RFC 6962 / Certificate Transparency / Trillian
    /// test data (transparency-dev/merkle `proof/verify_test.go`).
    fn ct_leaves() -> Vec<Vec<u8>> {
        [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|x| hex::decode(x).expect("hex"))
        .collect()
    }

    /// Their published roots for sizes 1..=8.
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_tree() -> MemoryTree {
        let hashes: Vec<Digest> = ct_leaves().iter().map(|l| leaf_hash(l)).collect();
        MemoryTree::from_leaf_hashes(&hashes).expect("tree")
    }

    #[test]
    fn empty_tree_hash() {
        assert_eq!(
            empty_root(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        assert_eq!(root_from_leaf_hashes(&[]), empty_root());
        assert_eq!(Frontier::new().root(), empty_root());
        assert_eq!(root_at(&MemoryTree::new(), 0), Ok(empty_root()));
    }

    #[test]
    fn ct_roots_every_way() {
        let leaves = ct_leaves();
        let tree = ct_tree();
        let mut frontier = Frontier::new();
        for n in 1..=8usize {
            let want = h(CT_ROOTS[n - 1]);
            assert_eq!(root_from_leaves(&leaves[..n]), want, "reference, size {n}");
            assert_eq!(root_at(&tree, n as u64), Ok(want), "from nodes, size {n}");
            frontier.append(leaf_hash(&leaves[n - 1])).expect("append");
            assert_eq!(frontier.root(), want, "frontier, size {n}");
            assert_eq!(Frontier::load(&tree, n as u64).as_ref(), Ok(&frontier));
        }
    }

    /// (leaf index, tree size, audit path) from the CT/Trillian test data
    /// (their `leaf` is 1-based; here it is the 0-based index).
    fn ct_inclusion_vectors() -> Vec<(u64, u64, Vec<Digest>)> {
        vec![
            (0, 1, vec![]),
            (
                0,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                5,
                8,
                vec![
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                3,
                vec![h(
                    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                )],
            ),
            (
                1,
                5,
                vec![
                    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
        ]
    }

    /// (old size, new size, proof) from the same test data.
    fn ct_consistency_vectors() -> Vec<(u64, u64, Vec<Digest>)> {
        vec![
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
                ],
            ),
            (
                6,
                8,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
            (
                2,
                5,
                vec![
                    h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                ],
            ),
            (
                6,
                7,
                vec![
                    h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                    h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
                ],
            ),
        ]
    }

    #[test]
    fn ct_inclusion_proofs() {
        let leaves = ct_leaves();
        let tree = ct_tree();
        for (index, size, want) in ct_inclusion_vectors() {
            let proof = inclusion_proof(&tree, index, size).expect("prove");
            assert_eq!(proof, want, "generated proof of {index} in {size}");
            let leaf = leaf_hash(&leaves[index as usize]);
            let root = h(CT_ROOTS[size as usize - 1]);
            assert_eq!(verify_inclusion(&leaf, index, size, &want, &root), Ok(()));
            // The corruptions of the Go test suite.
            let some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
            assert!(verify_inclusion(&leaf, index.wrapping_sub(1), size, &want, &root).is_err());
            assert!(verify_inclusion(&leaf, index + 1, size, &want, &root).is_err());
            assert!(verify_inclusion(&leaf, index ^ 2, size, &want, &root).is_err());
            assert!(verify_inclusion(&leaf, index, size * 2, &want, &root).is_err());
            assert!(verify_inclusion(&leaf, index, size / 2, &want, &root).is_err());
            assert!(verify_inclusion(&some, index, size, &want, &root).is_err());
            assert!(verify_inclusion(&leaf, index, size, &want, &empty_root()).is_err());
            assert!(verify_inclusion(&leaf, index, size, &want, &some).is_err());
            let mut longer = want.clone();
            longer.push(root);
            assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
            let mut preceded = vec![root];
            preceded.extend_from_slice(&want);
            assert!(verify_inclusion(&leaf, index, size, &preceded, &root).is_err());
            for i in 0..want.len() {
                let mut bad = want.clone();
                bad[i].0[0] ^= 8;
                assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
            }
            if !want.is_empty() {
                let short = &want[..want.len() - 1];
                assert!(verify_inclusion(&leaf, index, size, short, &root).is_err());
            }
        }
    }

    #[test]
    fn ct_consistency_proofs() {
        let tree = ct_tree();
        for (old, new, want) in ct_consistency_vectors() {
            let proof = consistency_proof(&tree, old, new).expect("prove");
            assert_eq!(proof, want, "generated proof {old} -> {new}");
            let r1 = h(CT_ROOTS[old as usize - 1]);
            let r2 = h(CT_ROOTS[new as usize - 1]);
            assert_eq!(verify_consistency(old, new, &r1, &r2, &want), Ok(()));
            if want.is_empty() {
                continue;
            }
            let wrong = FixedBytes([0x42; 32]);
            let bad = |o: u64, n: u64, a: &Digest, b: &Digest, p: &[Digest]| {
                assert!(
                    verify_consistency(o, n, a, b, p).is_err(),
                    "{old}->{new} corrupted as {o}->{n}"
                )
            };
            bad(old - 1, new, &r1, &r2, &want);
            bad(old + 1, new, &r1, &r2, &want);
            bad(old ^ 2, new, &r1, &r2, &want);
            bad(old, new * 2, &r1, &r2, &want);
            bad(old, new / 2, &r1, &r2, &want);
            bad(old, new, &wrong, &r2, &want);
            bad(old, new, &r1, &wrong, &want);
            bad(old, new, &r2, &r1, &want);
            bad(old, new, &r1, &r2, &[]);
            for extra in [empty_root(), r1, r2] {
                let mut p = want.clone();
                p.push(extra);
                bad(old, new, &r1, &r2, &p);
                let mut p = vec![extra];
                p.extend_from_slice(&want);
                bad(old, new, &r1, &r2, &p);
            }
            let mut p = vec![want[0]];
            p.extend_from_slice(&want);
            bad(old, new, &r1, &r2, &p);
            bad(old, new, &r1, &r2, &want[..want.len() - 1]);
            for i in 0..want.len() {
                let mut p = want.clone();
                p[i].0[0] ^= 16;
                bad(old, new, &r1, &r2, &p);
            }
        }
    }

    #[test]
    fn trivial_consistency_cases() {
        let (a, b) = (FixedBytes([1u8; 32]), FixedBytes([2u8; 32]));
        let e = empty_root();
        assert!(verify_consistency(0, 0, &a, &b, &[]).is_err());
        assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
        assert_eq!(verify_consistency(0, 0, &a, &a, &[]), Ok(()));
        assert_eq!(verify_consistency(0, 1, &a, &b, &[]), Ok(()));
        assert_eq!(verify_consistency(1, 1, &b, &b, &[]), Ok(()));
        assert!(verify_consistency(1, 0, &a, &b, &[]).is_err());
        assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
        assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
        assert!(verify_consistency(0, 0, &e, &e, &[e]).is_err());
        assert!(verify_consistency(0, 1, &e, &e, &[e]).is_err());
        assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
    }

    /// The worked example of c2sp.org/merkle-tree: a 7-leaf tree with nodes
    /// labelled a..g (leaves), h, i, j, k, l (interior).
    #[test]
    fn c2sp_seven_leaf_example() {
        let leaves = ct_leaves();
        let lf: Vec<Digest> = leaves[..7].iter().map(|l| leaf_hash(l)).collect();
        let (a, b, c, d, e, f, g) = (lf[0], lf[1], lf[2], lf[3], lf[4], lf[5], lf[6]);
        let hh = node_hash(&a, &b);
        let i = node_hash(&c, &d);
        let j = node_hash(&e, &f);
        let k = node_hash(&hh, &i);
        let l = node_hash(&j, &g);
        let root = node_hash(&k, &l);
        assert_eq!(root, h(CT_ROOTS[6]));
        let tree = MemoryTree::from_leaf_hashes(&lf).expect("tree");
        assert_eq!(tree.root(), root);

        for (index, want) in [
            (0u64, vec![b, i, l]),
            (3, vec![c, hh, l]),
            (4, vec![f, g, k]),
            (6, vec![j, k]),
        ] {
            assert_eq!(
                inclusion_proof(&tree, index, 7),
                Ok(want.clone()),
                "leaf {index}"
            );
            assert_eq!(
                verify_inclusion(&lf[index as usize], index, 7, &want, &root),
                Ok(())
            );
        }
        for (old, want) in [(3u64, vec![c, d, hh, l]), (4, vec![l]), (6, vec![j, g, k])] {
            assert_eq!(
                consistency_proof(&tree, old, 7),
                Ok(want.clone()),
                "{old} -> 7"
            );
            let r1 = root_at(&tree, old).expect("root");
            assert_eq!(verify_consistency(old, 7, &r1, &root, &want), Ok(()));
        }
        // Size 4 is a power of two: the full path puts back k, the old root.
        assert_eq!(full_consistency_path(&tree, 4, 7), Ok(vec![k, l]));
        assert_eq!(consistency_roots(4, 7, &[k, l]), Ok((k, root)));
    }

    #[test]
    fn frontier_emits_every_complete_node_once() {
        let mut f = Frontier::new();
        let mut emitted = Vec::new();
        for n in 0..16u64 {
            let nodes = f.append(leaf_hash(&n.to_be_bytes())).expect("append");
            // One leaf plus one node per trailing one bit of the old size.
            assert_eq!(nodes.len(), 1 + n.trailing_ones() as usize);
            emitted.extend(nodes.iter().map(|x| (x.level, x.index)));
        }
        emitted.sort();
        let mut want = Vec::new();
        for level in 0..=4u8 {
            for index in 0..(16u64 >> level) {
                want.push((level, index));
            }
        }
        want.sort();
        assert_eq!(emitted, want);
        assert!(Frontier::from_parts(3, vec![empty_root()]).is_err());
        let mut full = Frontier::from_parts(u64::MAX, vec![empty_root(); 64]).expect("parts");
        assert_eq!(full.append(empty_root()), Err(FrontierError::Full));
    }

    #[test]
    fn errors_not_panics() {
        let tree = ct_tree();
        assert!(matches!(
            inclusion_proof(&tree, 8, 8),
            Err(ProveError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            inclusion_proof(&tree, 3, 9),
            Err(ProveError::Read(_))
        ));
        assert!(matches!(
            consistency_proof(&tree, 9, 8),
            Err(ProveError::SizeOrder { .. })
        ));
        assert!(matches!(
            consistency_proof(&tree, 3, 1000),
            Err(ProveError::Read(_))
        ));
        assert!(root_at(&tree, u64::MAX).is_err());
        assert!(verify_inclusion(&empty_root(), 0, 0, &[], &empty_root()).is_err());
        assert!(
            verify_inclusion(&empty_root(), u64::MAX - 1, u64::MAX, &[], &empty_root()).is_err()
        );
        assert!(consistency_roots(u64::MAX - 1, u64::MAX, &[empty_root()]).is_err());
        let long = vec![empty_root(); MAX_PROOF_HASHES + 1];
        assert_eq!(
            verify_inclusion(&empty_root(), 0, u64::MAX, &long, &empty_root()),
            Err(VerifyError::ProofLength)
        );
    }
}
