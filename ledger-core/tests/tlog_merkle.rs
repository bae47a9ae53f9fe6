//! Properties of the RFC 6962 Merkle tree of `ledger_core::tlog::merkle`:
//!
//! - for random sizes n in 1..=300, the root from stored nodes, from the
//!   frontier and from the recursive definition agree at every size;
//! - every inclusion proof of every leaf verifies, and fails against a wrong
//!   root, leaf, index or size, or when truncated, extended or altered;
//! - consistency proofs between random sizes (all pairs for small n) verify
//!   and fail against wrong roots or sizes, or when altered;
//! - proofs and roots read O(log n) stored nodes;
//! - for two trees that differ in one leaf, the full consistency path of the
//!   larger shows the smaller inconsistent ([`merkle::consistency_roots`]),
//!   and never does for an honest extension.

use std::cell::Cell;

use proptest::prelude::*;

use ledger_core::hash::sha256;
use ledger_core::tlog::merkle::{
    self, consistency_proof, consistency_roots, full_consistency_path, inclusion_proof, root_at,
    root_from_leaf_hashes, verify_consistency, verify_inclusion, Frontier, MemoryTree, NodeReader,
};
use ledger_core::{Digest, FixedBytes};

/// Leaf hashes of `n` pseudo event ids derived from `seed`.
fn leaves(seed: u64, n: u64) -> Vec<Digest> {
    (0..n)
        .map(|i| {
            let id = sha256(&[&seed.to_le_bytes(), &i.to_le_bytes()]);
            merkle::event_leaf_hash(&id)
        })
        .collect()
}

/// Counts the nodes read through it.
struct Counting<'a> {
    inner: &'a MemoryTree,
    reads: Cell<u64>,
}

impl NodeReader for Counting<'_> {
    type Error = merkle::MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        self.reads.set(self.reads.get() + 1);
        self.inner.node(level, index)
    }
}

fn log2_ceil(n: u64) -> u64 {
    u64::from(64 - n.saturating_sub(1).leading_zeros())
}

fn flip(d: &Digest) -> Digest {
    let mut x = *d;
    x.0[31] ^= 1;
    x
}

fn check_size(seed: u64, n: u64, pairs: &[(u64, u64)]) {
    // One leaf more than n, so that size n + 1 can stand for a wrong size.
    let lf = leaves(seed, n + 1);
    let tree = MemoryTree::from_leaf_hashes(&lf).expect("tree");
    let counting = Counting {
        inner: &tree,
        reads: Cell::new(0),
    };

    // Roots at every size, three ways.
    let mut roots = vec![merkle::empty_root()];
    let mut frontier = Frontier::new();
    for (i, l) in lf.iter().enumerate() {
        frontier.append(*l).expect("append");
        let size = i as u64 + 1;
        let want = root_from_leaf_hashes(&lf[..=i]);
        assert_eq!(frontier.root(), want, "frontier root at {size}");
        counting.reads.set(0);
        assert_eq!(root_at(&counting, size), Ok(want), "stored root at {size}");
        assert!(counting.reads.get() <= log2_ceil(size) + 1);
        assert_eq!(Frontier::load(&tree, size).as_ref(), Ok(&frontier));
        roots.push(want);
    }
    assert_eq!(tree.root(), roots[n as usize + 1]);

    // A proof checked against another size (with that size's true root) or
    // another index must fail, unless it is literally the proof for those.
    let inclusion_elsewhere_fails = |leaf: &Digest, proof: &[Digest], index: u64, size: u64| {
        if index < size && verify_inclusion(leaf, index, size, proof, &roots[size as usize]).is_ok()
        {
            assert_eq!(inclusion_proof(&tree, index, size).as_deref(), Ok(proof));
        }
    };

    // Every inclusion proof of every leaf.
    for index in 0..n {
        counting.reads.set(0);
        let proof = inclusion_proof(&counting, index, n).expect("prove");
        assert!(
            counting.reads.get() <= 2 * log2_ceil(n) + 1,
            "inclusion of {index} in {n}: {} reads",
            counting.reads.get()
        );
        let leaf = &lf[index as usize];
        let root = &roots[n as usize];
        assert_eq!(verify_inclusion(leaf, index, n, &proof, root), Ok(()));
        // Wrong root, wrong leaf.
        assert!(verify_inclusion(leaf, index, n, &proof, &flip(root)).is_err());
        assert!(verify_inclusion(&flip(leaf), index, n, &proof, root).is_err());
        // Wrong index (same root and size): never.
        if index + 1 < n {
            assert!(verify_inclusion(leaf, index + 1, n, &proof, root).is_err());
        }
        if index > 0 {
            assert!(verify_inclusion(leaf, index - 1, n, &proof, root).is_err());
        }
        assert!(verify_inclusion(leaf, n, n, &proof, root).is_err());
        // Wrong size.
        inclusion_elsewhere_fails(leaf, &proof, index, n + 1);
        inclusion_elsewhere_fails(leaf, &proof, index, n - 1);
        // Altered proofs.
        let mut longer = proof.clone();
        longer.push(*root);
        assert!(verify_inclusion(leaf, index, n, &longer, root).is_err());
        let mut preceded = vec![*leaf];
        preceded.extend_from_slice(&proof);
        assert!(verify_inclusion(leaf, index, n, &preceded, root).is_err());
        if let Some((_, short)) = proof.split_last() {
            assert!(verify_inclusion(leaf, index, n, short, root).is_err());
        }
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i]);
            assert!(verify_inclusion(leaf, index, n, &bad, root).is_err());
        }
    }

    // Consistency proofs.
    let consistency_elsewhere_fails = |proof: &[Digest], old: u64, new: u64| {
        if old <= new
            && new <= n + 1
            && verify_consistency(old, new, &roots[old as usize], &roots[new as usize], proof)
                .is_ok()
        {
            assert_eq!(consistency_proof(&tree, old, new).as_deref(), Ok(proof));
        }
    };
    for &(old, new) in pairs {
        counting.reads.set(0);
        let proof = consistency_proof(&counting, old, new).expect("prove");
        assert!(
            counting.reads.get() <= 2 * log2_ceil(new) + 2,
            "consistency {old}->{new}: {} reads",
            counting.reads.get()
        );
        let (r1, r2) = (&roots[old as usize], &roots[new as usize]);
        assert_eq!(
            verify_consistency(old, new, r1, r2, &proof),
            Ok(()),
            "{old}->{new}"
        );
        if old == new {
            assert!(proof.is_empty());
            assert!(verify_consistency(old, new, r1, &flip(r2), &proof).is_err());
            continue;
        }
        if old == 0 {
            // Every tree extends the empty tree.
            assert!(proof.is_empty());
            continue;
        }
        // Wrong roots.
        assert!(verify_consistency(old, new, r1, &flip(r2), &proof).is_err());
        assert!(verify_consistency(old, new, &flip(r1), r2, &proof).is_err());
        assert!(verify_consistency(old, new, r2, r1, &proof).is_err());
        assert!(verify_consistency(new, old, r2, r1, &proof).is_err());
        // Wrong sizes.
        consistency_elsewhere_fails(&proof, old - 1, new);
        consistency_elsewhere_fails(&proof, old + 1, new);
        consistency_elsewhere_fails(&proof, old, new + 1);
        consistency_elsewhere_fails(&proof, old, new - 1);
        // Altered proofs.
        for i in 0..proof.len() {
            let mut bad = proof.clone();
            bad[i] = flip(&bad[i]);
            assert!(verify_consistency(old, new, r1, r2, &bad).is_err());
        }
        let mut longer = proof.clone();
        longer.push(*r2);
        assert!(verify_consistency(old, new, r1, r2, &longer).is_err());
        let mut preceded = vec![*r1];
        preceded.extend_from_slice(&proof);
        assert!(verify_consistency(old, new, r1, r2, &preceded).is_err());
        assert!(verify_consistency(old, new, r1, r2, &proof[..proof.len() - 1]).is_err());
        assert!(verify_consistency(old, new, r1, r2, &[]).is_err());

        // The full path implies exactly the two roots: no false evidence.
        let full = full_consistency_path(&tree, old, new).expect("full path");
        assert_eq!(consistency_roots(old, new, &full), Ok((*r1, *r2)));
    }
}

/// All pairs for small trees, random pairs for larger ones.
fn pairs_for(n: u64, picks: &[(u64, u64)]) -> Vec<(u64, u64)> {
    if n <= 40 {
        (0..=n)
            .flat_map(|new| (0..=new).map(move |old| (old, new)))
            .collect()
    } else {
        picks
            .iter()
            .map(|&(a, b)| {
                let new = 1 + b % n;
                (a % (new + 1), new)
            })
            .chain([(1, n), (n - 1, n), (n, n), (0, n)])
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn proofs_of_random_trees(
        seed in any::<u64>(),
        n in 1u64..=300,
        picks in prop::collection::vec((any::<u64>(), any::<u64>()), 40),
    ) {
        check_size(seed, n, &pairs_for(n, &picks));
    }

    #[test]
    fn a_changed_leaf_is_caught(
        seed in any::<u64>(),
        new in 2u64..=300,
        old_pick in any::<u64>(),
        changed_pick in any::<u64>(),
    ) {
        let old = 1 + old_pick % (new - 1);
        let changed = changed_pick % old;
        let honest = leaves(seed, new);
        let mut forked = honest.clone();
        forked[changed as usize] = FixedBytes([0x55; 32]);
        let forked_tree = MemoryTree::from_leaf_hashes(&forked).expect("tree");
        let honest_old_root = root_from_leaf_hashes(&honest[..old as usize]);
        let forked_new_root = forked_tree.root();

        // No RFC proof can make the honest old tree a prefix of the fork.
        let proof = consistency_proof(&forked_tree, old, new).expect("proof");
        prop_assert!(
            verify_consistency(old, new, &honest_old_root, &forked_new_root, &proof).is_err()
        );
        // The full path from the fork's nodes is evidence of inconsistency.
        let full = full_consistency_path(&forked_tree, old, new).expect("full");
        let (fr, sr) = consistency_roots(old, new, &full).expect("roots");
        prop_assert_eq!(sr, forked_new_root);
        prop_assert_ne!(fr, honest_old_root);
    }
}

#[test]
fn sizes_at_the_edges_of_u64() {
    // A virtual tree of equal leaves, whose every node at a level has the
    // same hash: proofs for huge trees need few reads and never overflow or
    // panic.
    struct Fake;
    impl NodeReader for Fake {
        type Error = ();
        fn node(&self, level: u8, _index: u64) -> Result<Digest, ()> {
            let mut h = merkle::leaf_hash(b"same");
            for _ in 0..level {
                h = merkle::node_hash(&h, &h);
            }
            Ok(h)
        }
    }
    for (index, size) in [
        (0, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (1 << 62, (1 << 63) + 1),
        (12345, u64::MAX / 3),
    ] {
        let proof = inclusion_proof(&Fake, index, size).expect("prove");
        assert!(proof.len() <= 64);
        let leaf = Fake.node(0, index).expect("leaf");
        let root = root_at(&Fake, size).expect("root");
        assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
    }
    for (old, new) in [
        (1, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (1 << 63, u64::MAX),
        ((1 << 63) - 1, 1 << 63),
    ] {
        let proof = consistency_proof(&Fake, old, new).expect("prove");
        let (r1, r2) = (
            root_at(&Fake, old).expect("r1"),
            root_at(&Fake, new).expect("r2"),
        );
        assert_eq!(
            verify_consistency(old, new, &r1, &r2, &proof),
            Ok(()),
            "{old}->{new}"
        );
        let full = full_consistency_path(&Fake, old, new).expect("full");
        assert!(full.len() <= merkle::MAX_PROOF_HASHES);
    }
}
