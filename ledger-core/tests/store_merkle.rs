//! The store keeps each feed's RFC 6962 tree: roots, inclusion proofs and
//! consistency proofs come from stored nodes and verify for every size,
//! also after reopening and after the index is rebuilt from the log.

use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key};
use ledger_core::tlog::merkle::{
    event_leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion,
};
use ledger_core::{AuthorId, CountryCode, Digest, EventBody};

fn check_all(l: &Ledger, author: &AuthorId, ids: &[Digest]) {
    let leaves: Vec<Digest> = ids.iter().map(event_leaf_hash).collect();
    let n = ids.len() as u64;
    assert_eq!(l.tree_size(author).unwrap(), n);
    for size in 1..=n {
        let root = l.tree_root(author, size).unwrap();
        assert_eq!(
            root,
            root_from_leaf_hashes(&leaves[..size as usize]),
            "root of size {size}"
        );
        for seq in 1..=size {
            let proof = l.inclusion_proof(author, seq, size).unwrap();
            verify_inclusion(&leaves[seq as usize - 1], seq - 1, size, &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion of {seq} in {size}: {e}"));
        }
        for old in 1..=size {
            let proof = l.consistency_proof(author, old, size).unwrap();
            let old_root = l.tree_root(author, old).unwrap();
            verify_consistency(old, size, &old_root, &root, &proof)
                .unwrap_or_else(|e| panic!("consistency {old} -> {size}: {e}"));
        }
    }
    // Beyond the feed: refused, not invented.
    assert!(l.tree_root(author, n + 1).is_err());
    assert!(l.inclusion_proof(author, n + 1, n + 1).is_err());
}

#[test]
fn proofs_from_stored_nodes_verify_for_every_size() {
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU"]);
    let author = AuthorId::new("BW", "mme").unwrap();
    let key = test_key(&author);
    let eu = CountryCode::new("EU").unwrap();
    let mut ids = Vec::new();
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        // Appended in uneven batches, so group commits split the tree anywhere.
        let mut n = 0u64;
        for batch in [1usize, 2, 3, 5, 8, 13, 1, 1, 21] {
            let bodies = (0..batch)
                .map(|k| {
                    EventBody::CertificateIssued(sample_certificate(
                        author.participant,
                        eu,
                        n + k as u64,
                    ))
                })
                .collect();
            for (id, _) in l.append_own(&key, &author, bodies, 1_000 + n).unwrap() {
                ids.push(id);
            }
            n += batch as u64;
        }
        check_all(&l, &author, &ids);
    }
    // After reopening.
    {
        let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
        check_all(&l, &author, &ids);
    }
    // After losing the index: rebuilt from the log.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    check_all(&l, &author, &ids);
}

/// Proofs served for feeds of 1, 2, 3, ..., 1,000 events all verify: for
/// every size, the first, middle and last leaves' inclusion proofs and the
/// consistency proofs from size 1 and from the previous size.
#[test]
fn proofs_for_every_feed_size_up_to_1000_verify() {
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU"]);
    let author = AuthorId::new("BW", "mme").unwrap();
    let eu = CountryCode::new("EU").unwrap();
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let bodies = (0..1000u64)
        .map(|n| EventBody::CertificateIssued(sample_certificate(author.participant, eu, n)))
        .collect();
    let ids: Vec<Digest> = l
        .append_own(&test_key(&author), &author, bodies, 1)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let leaves: Vec<Digest> = ids.iter().map(event_leaf_hash).collect();
    let mut prev_root = None;
    for size in 1..=1000u64 {
        let root = l.tree_root(&author, size).unwrap();
        assert_eq!(root, root_from_leaf_hashes(&leaves[..size as usize]));
        for seq in [1, size.div_ceil(2), size] {
            let proof = l.inclusion_proof(&author, seq, size).unwrap();
            verify_inclusion(&leaves[seq as usize - 1], seq - 1, size, &proof, &root)
                .unwrap_or_else(|e| panic!("inclusion of {seq} in {size}: {e}"));
        }
        let first = l.tree_root(&author, 1).unwrap();
        verify_consistency(
            1,
            size,
            &first,
            &root,
            &l.consistency_proof(&author, 1, size).unwrap(),
        )
        .unwrap();
        if let Some(prev) = prev_root {
            verify_consistency(
                size - 1,
                size,
                &prev,
                &root,
                &l.consistency_proof(&author, size - 1, size).unwrap(),
            )
            .unwrap_or_else(|e| panic!("consistency {} -> {size}: {e}", size - 1));
        }
        prev_root = Some(root);
    }
}

/// The proofs a store serves are exactly those of the in-memory reference
/// tree, for every size of two feeds of 1 to 300 events written in uneven
/// group commits, and their digest is the one the store's earlier layout
/// (Merkle nodes in sled entries) served for the same deterministic ledger:
/// a change of where nodes are kept changes no proof.
#[test]
fn proofs_match_the_reference_tree_and_the_earlier_layout() {
    use ledger_core::tlog::merkle::{self, MemoryTree};
    let dir = tempfile::tempdir().unwrap();
    let c = test_charter(&["BW", "EU"]);
    let eu = CountryCode::new("EU").unwrap();
    let authors = [
        AuthorId::new("BW", "mme").unwrap(),
        AuthorId::new("EU", "mme").unwrap(),
    ];
    let l = Ledger::open(dir.path(), &c, StoreOptions::default()).unwrap();
    let mut trees = [MemoryTree::new(), MemoryTree::new()];
    let mut n = 0u64;
    for (k, batch) in [7usize, 1, 64, 3, 100, 2, 55, 68].into_iter().enumerate() {
        let a = &authors[k % 2];
        let bodies = (0..batch)
            .map(|j| {
                EventBody::CertificateIssued(sample_certificate(a.participant, eu, n + j as u64))
            })
            .collect();
        for (id, _) in l.append_own(&test_key(a), a, bodies, 1_000 + n).unwrap() {
            trees[k % 2].push(event_leaf_hash(&id)).unwrap();
        }
        n += batch as u64;
    }
    let mut all = Vec::new();
    for (a, t) in authors.iter().zip(&trees) {
        let size = t.size();
        assert_eq!(l.tree_size(a).unwrap(), size);
        for s in 1..=size {
            let root = l.tree_root(a, s).unwrap();
            assert_eq!(root, merkle::root_at(t, s).unwrap(), "{a} root {s}");
            all.extend_from_slice(root.as_bytes());
            for seq in (1..=s).step_by(7).chain([s]) {
                let p = l.inclusion_proof(a, seq, s).unwrap();
                assert_eq!(p, merkle::inclusion_proof(t, seq - 1, s).unwrap());
                verify_inclusion(
                    &merkle::NodeReader::node(t, 0, seq - 1).unwrap(),
                    seq - 1,
                    s,
                    &p,
                    &root,
                )
                .unwrap();
                p.iter().for_each(|d| all.extend_from_slice(d.as_bytes()));
            }
            for old in (1..=s).step_by(5).chain([s]) {
                let p = l.consistency_proof(a, old, s).unwrap();
                assert_eq!(p, merkle::consistency_proof(t, old, s).unwrap());
                let old_root = l.tree_root(a, old).unwrap();
                verify_consistency(old, s, &old_root, &root, &p).unwrap();
                p.iter().for_each(|d| all.extend_from_slice(d.as_bytes()));
            }
        }
    }
    let digest = hex::encode(ledger_core::hash::sha256(&[&all]).as_bytes());
    assert_eq!(
        digest,
        "5b5e5bbfff17c6ea5bdf508ce70377e953bd63146604b3c8c752f87dd979856e"
    );
}
