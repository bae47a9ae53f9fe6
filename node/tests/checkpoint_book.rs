//! The checkpoint book in process, without a network: an author's
//! node signs only when its feed grew; a witness keeps a checkpoint its
//! replica cannot check yet and cosigns it once the feed arrives; a
//! checkpoint that contradicts the replica becomes a split-view proof as soon
//! as a checkpoint of the replica's tree anchors it; `add-checkpoint` refuses
//! what contradicts the replica; and everything survives reopening.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kpl_node::checkpoints::{Checkpoints, Me, Verdict};
use ledger_core::hash::sha256;
use ledger_core::store::{Ledger, StoreOptions};
use ledger_core::testkit::{sample_certificate, test_charter, test_key};
use ledger_core::tlog::checkpoint::{feed_origin, Checkpoint};
use ledger_core::tlog::merkle::{consistency_proof, event_leaf_hash, leaf_hash, MemoryTree};
use ledger_core::tlog::note::Ed25519Signer;
use ledger_core::tlog::witness::AddCheckpointRequest;
use ledger_core::{AuthorId, Charter, CountryCode, EventBody};

const NOW: u64 = 1_800_000_000;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("kpl-book-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &Path, charter: &Charter) -> Arc<Ledger> {
    Arc::new(Ledger::open(&dir.join("store"), charter, StoreOptions::default()).unwrap())
}

/// Appends `n` events of `author` to `l`.
fn write(l: &Ledger, author: &AuthorId, n: u64) {
    let start = l.tree_size(author).unwrap();
    let eu = CountryCode::new("EU").unwrap();
    let bodies = (start..start + n)
        .map(|k| EventBody::CertificateIssued(sample_certificate(author.participant, eu, k)))
        .collect();
    l.append_own(&test_key(author), author, bodies, 1_000)
        .unwrap();
}

/// Copies `author`'s feed from `from` to `to` up to `size`.
fn copy(from: &Ledger, to: &Ledger, author: &AuthorId, size: u64) {
    let have = to.tree_size(author).unwrap();
    let evs = from
        .feed_range(author, have + 1, (size - have) as usize)
        .unwrap();
    to.append_batch(evs).unwrap();
    assert_eq!(to.tree_size(author).unwrap(), size);
}

#[test]
fn sign_wait_cosign_prove_and_reopen() {
    let charter = test_charter(&["BW", "EU"]);
    let bw = AuthorId::new("BW", "mme").unwrap();
    let eu = AuthorId::new("EU", "mme").unwrap();
    let (da, dw) = (Dir::new("a"), Dir::new("w"));
    let la = open(&da.0, &charter);
    let lw = open(&dw.0, &charter);
    let author = Checkpoints::open(&da.0, la.clone(), Me::Authority(bw.clone())).unwrap();
    let bw_key = test_key(&bw);
    let eu_key = test_key(&eu);

    // Nothing to sign for an empty feed; one checkpoint per growth.
    assert!(author
        .tick(Some(&bw_key), NOW)
        .unwrap()
        .checkpoints
        .is_empty());
    write(&la, &bw, 3);
    let a = author.tick(Some(&bw_key), NOW).unwrap();
    assert_eq!(a.checkpoints.len(), 1);
    assert!(author
        .tick(Some(&bw_key), NOW)
        .unwrap()
        .checkpoints
        .is_empty());
    let c3 = a.checkpoints[0].clone();
    // A key that is not the one in force signs nothing.
    write(&la, &bw, 2);
    assert!(author
        .tick(Some(&eu_key), NOW)
        .unwrap()
        .checkpoints
        .is_empty());
    let c5 = author.tick(Some(&bw_key), NOW).unwrap().checkpoints[0].clone();
    assert_eq!(author.latest(&bw).unwrap().checkpoint.size, 5);

    // The witness holds none of BW's feed: it keeps the checkpoint, asks for
    // a sync, and cosigns nothing yet.
    {
        let w = Checkpoints::open(&dw.0, lw.clone(), Me::Authority(eu.clone())).unwrap();
        let (v, out) = w
            .on_gossip_checkpoint(c3.as_bytes(), Some(&eu_key), NOW)
            .unwrap();
        assert_eq!(v, Verdict::Accept);
        assert!(out.sync && out.checkpoints.is_empty());
        assert!(w.latest(&bw).is_none());
        // The feed arrives: the next tick checks and cosigns it.
        copy(&la, &lw, &bw, 3);
        let out = w.tick(Some(&eu_key), NOW).unwrap();
        assert_eq!(out.checkpoints.len(), 1, "cosigned");
        assert_eq!(w.witnessed(&bw).unwrap().checkpoint().size, 3);
        let held = w.latest(&bw).unwrap();
        assert_eq!(held.checkpoint.size, 3);
        assert_eq!(
            held.note.signatures().len(),
            2,
            "log signature and cosignature"
        );
        // The author merges the cosignature it receives back.
        let (v, _) = author
            .on_gossip_checkpoint(out.checkpoints[0].as_bytes(), Some(&bw_key), NOW)
            .unwrap();
        assert_eq!(
            v,
            Verdict::Ignore,
            "older than the author's latest: nothing to keep"
        );
        // The same message again is nothing new.
        let (v, out) = w
            .on_gossip_checkpoint(c3.as_bytes(), Some(&eu_key), NOW)
            .unwrap();
        assert_eq!((v, out.checkpoints.len()), (Verdict::Ignore, 0));
        // Garbage is rejected; a forged signature too.
        assert_eq!(
            w.on_gossip_checkpoint(b"hello", Some(&eu_key), NOW)
                .unwrap()
                .0,
            Verdict::Reject
        );
        let origin = feed_origin(&charter.network, &charter.network_id(), &bw).unwrap();
        let forged = Checkpoint::new(&origin, 3, sha256(&[b"x"]))
            .unwrap()
            .sign(&Ed25519Signer::from_seed(&origin, [1; 32]).unwrap())
            .unwrap();
        // (An unknown key of the right name is not checkable: ignored.)
        assert_eq!(
            w.on_gossip_checkpoint(forged.encode().as_bytes(), Some(&eu_key), NOW)
                .unwrap()
                .0,
            Verdict::Ignore
        );

        // BW signs a tree of 4 that is not its feed's: the witness holds 5
        // events, but no checkpoint of its tree at 4 or more yet, so it
        // keeps it as a suspect...
        copy(&la, &lw, &bw, 5);
        let signer = Ed25519Signer::from_authority_key(&origin, &bw_key).unwrap();
        let bogus = Checkpoint::new(&origin, 4, sha256(&[b"not the tree"]))
            .unwrap()
            .sign(&signer)
            .unwrap();
        let (v, out) = w
            .on_gossip_checkpoint(bogus.encode().as_bytes(), Some(&eu_key), NOW)
            .unwrap();
        assert_eq!(v, Verdict::Accept);
        assert!(out.split_views.is_empty());
        assert_eq!(w.split_view_count(), 0);
        // ...until the genuine checkpoint of 5 anchors the proof.
        let (_, out) = w
            .on_gossip_checkpoint(c5.as_bytes(), Some(&eu_key), NOW)
            .unwrap();
        assert_eq!(out.split_views.len(), 1);
        assert_eq!(out.checkpoints.len(), 1, "5 is still cosigned");
        assert_eq!(w.split_view_count(), 1);
        let sv = &w.split_views()[0];
        assert_eq!((sv.view.first.size, sv.view.second.size), (4, 5));

        // add-checkpoint: a checkpoint of 6 consistent with the state (size 5)
        // by its proof, but not the replica's tree at 6, is refused.
        write(&la, &bw, 1);
        copy(&la, &lw, &bw, 6);
        let wrong6 = Checkpoint::new(&origin, 6, sha256(&[b"six"]))
            .unwrap()
            .sign(&signer)
            .unwrap();
        let body = AddCheckpointRequest::new(5, vec![sha256(&[b"p"])], wrong6)
            .unwrap()
            .encode();
        let (ans, _) = w
            .add_checkpoint_http(body.as_bytes(), &eu_key, NOW)
            .unwrap();
        assert_eq!(ans.status, 422, "{}", ans.body);
        // The genuine 6 with the replica's proof: 200.
        let good6 = Checkpoint::new(&origin, 6, la.tree_root(&bw, 6).unwrap())
            .unwrap()
            .sign(&signer)
            .unwrap();
        let proof = la.consistency_proof(&bw, 5, 6).unwrap();
        let body = AddCheckpointRequest::new(5, proof, good6).unwrap().encode();
        let (ans, out) = w
            .add_checkpoint_http(body.as_bytes(), &eu_key, NOW)
            .unwrap();
        assert_eq!(ans.status, 200, "{}", ans.body);
        assert_eq!(out.checkpoints.len(), 1, "gossiped as well");
        assert_eq!(w.latest(&bw).unwrap().checkpoint.size, 6);
        // A tree of 7 that extends the state (its consistency proof from 6
        // verifies) but is not the replica's tree at 7: refused with 409
        // (beyond the spec), not cosigned.
        write(&la, &bw, 1);
        copy(&la, &lw, &bw, 7);
        let mut leaves: Vec<_> = la
            .feed_range(&bw, 1, 6)
            .unwrap()
            .iter()
            .map(|e| event_leaf_hash(&e.id()))
            .collect();
        leaves.push(leaf_hash(b"not BW's seventh event"));
        let fake = MemoryTree::from_leaf_hashes(&leaves).unwrap();
        let fake7 = Checkpoint::new(&origin, 7, fake.root())
            .unwrap()
            .sign(&signer)
            .unwrap();
        let proof = consistency_proof(&fake, 6, 7).unwrap();
        let body = AddCheckpointRequest::new(6, proof, fake7).unwrap().encode();
        let (ans, _) = w
            .add_checkpoint_http(body.as_bytes(), &eu_key, NOW)
            .unwrap();
        assert_eq!(ans.status, 409, "{}", ans.body);
        assert_eq!(w.witnessed(&bw).unwrap().checkpoint().size, 6);
        assert_eq!(w.split_view_count(), 1);
        // BW's genuine checkpoint of 7 then proves that one a split view too.
        let c7 = author.tick(Some(&bw_key), NOW).unwrap().checkpoints[0].clone();
        let (_, out) = w
            .on_gossip_checkpoint(c7.as_bytes(), Some(&eu_key), NOW)
            .unwrap();
        assert_eq!(out.split_views.len(), 1);
        assert_eq!(w.split_view_count(), 2);
        let own = Checkpoint::new(
            &feed_origin(&charter.network, &charter.network_id(), &eu).unwrap(),
            1,
            sha256(&[b"own"]),
        )
        .unwrap()
        .sign(
            &Ed25519Signer::from_authority_key(
                &feed_origin(&charter.network, &charter.network_id(), &eu).unwrap(),
                &eu_key,
            )
            .unwrap(),
        )
        .unwrap();
        let body = AddCheckpointRequest::new(0, vec![], own).unwrap().encode();
        let (ans, _) = w
            .add_checkpoint_http(body.as_bytes(), &eu_key, NOW)
            .unwrap();
        assert_eq!(ans.status, 404, "its own feed: not a log it witnesses");
        w.flush().unwrap();
    }

    // Reopened: witness state, latest checkpoint and proofs are all back.
    let w = Checkpoints::open(&dw.0, lw.clone(), Me::Authority(eu.clone())).unwrap();
    assert_eq!(w.witnessed(&bw).unwrap().checkpoint().size, 7);
    assert_eq!(w.latest(&bw).unwrap().checkpoint.size, 7);
    assert_eq!(w.split_view_count(), 2);
    author.flush().unwrap();
    drop(author);
    let author = Checkpoints::open(&da.0, la.clone(), Me::Authority(bw.clone())).unwrap();
    assert_eq!(author.latest(&bw).unwrap().checkpoint.size, 7);
    assert!(author
        .tick(Some(&bw_key), NOW)
        .unwrap()
        .checkpoints
        .is_empty());
    write(&la, &bw, 1);
    assert_eq!(
        author.tick(Some(&bw_key), NOW).unwrap().checkpoints.len(),
        1
    );
    assert_eq!(author.latest(&bw).unwrap().checkpoint.size, 8);
}
