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
