//! Inclusion and consistency proofs served by the API verify for
//! every tree size of a feed grown to a few hundred events in uneven
//! batches: against roots the test computes from the event ids itself, on
//! the author's node and on an observer; the default tree size is the
//! latest checkpoint's; bad requests get 4xx.

use std::time::Duration;

use kpl_api::paths;
use kpl_tests::{certificate, certificate_json, members, wait_until, TestNet};
use ledger_core::tlog::merkle::{
    empty_root, event_leaf_hash, root_from_leaf_hashes, verify_consistency, verify_inclusion,
};
use ledger_core::Digest;
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(60);

fn hashes(v: &Value) -> Vec<Digest> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| Digest::from_hex(h.as_str().unwrap()).unwrap())
        .collect()
}

fn digest(v: &Value) -> Digest {
    Digest::from_hex(v.as_str().unwrap()).unwrap()
}

/// Every event id of BW's feed as `label` serves it, in order.
fn feed_ids(net: &TestNet, label: &str) -> Vec<Digest> {
    let mut out = Vec::new();
    loop {
        let v = net.get(
            label,
            &format!(
                "{}?author=BW/mme&from={}&limit=1000",
                paths::FEED,
                out.len() + 1
            ),
        );
        let page = v["events"].as_array().unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page.iter().map(|e| digest(&e["id"])));
    }
}

/// Checks the inclusion proof of `seq` at `size` served by `label`.
fn check_inclusion(
    net: &TestNet,
    label: &str,
    ids: &[Digest],
    roots: &[Digest],
    seq: u64,
    size: u64,
) {
    let id = ids[seq as usize - 1];
    let v = net.get(
        label,
        &format!("{}?id={id}&size={size}", paths::PROOFS_INCLUSION),
    );
    assert_eq!(v["author"], "BW/mme");
    assert_eq!(v["seq"], seq, "{v}");
    assert_eq!(v["leaf_index"], seq - 1);
    assert_eq!(v["size"], size);
    let root = digest(&v["root"]);
    assert_eq!(root, roots[size as usize], "{label}: root of {size}");
    verify_inclusion(
        &event_leaf_hash(&id),
        seq - 1,
        size,
        &hashes(&v["proof"]),
        &root,
    )
    .unwrap_or_else(|e| panic!("{label}: inclusion of {seq} in {size}: {e}"));
}

/// Checks the consistency proof from `old` to `new` served by `label`.
fn check_consistency(net: &TestNet, label: &str, roots: &[Digest], old: u64, new: u64) {
    let v = net.get(
        label,
        &format!(
            "{}?author=BW/mme&old={old}&new={new}",
            paths::PROOFS_CONSISTENCY
        ),
    );
    assert_eq!(
        (v["old"].as_u64(), v["new"].as_u64()),
        (Some(old), Some(new))
    );
    let (o, n) = (digest(&v["old_root"]), digest(&v["new_root"]));
    assert_eq!(o, roots[old as usize], "{label}: root of {old}");
    assert_eq!(n, roots[new as usize], "{label}: root of {new}");
    verify_consistency(old, new, &o, &n, &hashes(&v["proof"]))
        .unwrap_or_else(|e| panic!("{label}: consistency {old} -> {new}: {e}"));
}

/// Roots of every prefix of `ids` (index = size).
fn prefix_roots(ids: &[Digest]) -> Vec<Digest> {
    let leaves: Vec<Digest> = ids.iter().map(event_leaf_hash).collect();
    let mut roots = vec![empty_root()];
    for n in 1..=leaves.len() {
        roots.push(root_from_leaf_hashes(&leaves[..n]));
    }
    roots
}

/// Waits until `label`'s checkpoint of BW's feed has `size`; returns it.
fn wait_checkpoint(net: &TestNet, label: &str, size: u64) -> Value {
    wait_until(WITHIN, Duration::from_millis(50), "the checkpoint", || {
        let (s, v) = net.get_status(label, &format!("{}?author=BW/mme", paths::CHECKPOINT));
        (s == 200 && v["size"] == size).then_some(v)
    })
    .unwrap()
}

#[test]
fn proofs_verify_for_every_size() {
    let mut net = TestNet::create(EXE, "kp-cp-proofs", &members(&["BW", "ZA"], &["wdc"]));
    net.start_all(&["BW", "wdc"], WITHIN);

    // Feeds of 1, 2, 3, 4, 5: the default size is the checkpoint's.
    let mut n = 0u64;
    for size in 1..=5u64 {
        n += 1;
        net.issue("BW", "ZA", n);
        for l in ["BW", "wdc"] {
            let cp = wait_checkpoint(&net, l, size);
            let ids = feed_ids(&net, l);
            let roots = prefix_roots(&ids);
            assert_eq!(digest(&cp["root"]), roots[size as usize]);
            for seq in 1..=size {
                let id = ids[seq as usize - 1];
                let v = net.get(l, &format!("{}?id={id}", paths::PROOFS_INCLUSION));
                assert_eq!(v["size"], size, "{l}: default size = the checkpoint's");
                assert_eq!(v["root"], cp["root"]);
                check_inclusion(&net, l, &ids, &roots, seq, size);
            }
            for old in 0..=size {
                let v = net.get(
                    l,
                    &format!("{}?author=BW/mme&old={old}", paths::PROOFS_CONSISTENCY),
                );
                assert_eq!(v["new"], size, "{l}");
                check_consistency(&net, l, &roots, old, size);
            }
        }
    }

    // Grow to a few hundred events in uneven batches (group commits split
    // the tree anywhere).
    let token = net.token("BW");
    for batch in [1usize, 2, 3, 5, 8, 13, 21, 34, 55, 89, 1, 1, 62] {
        let body: Vec<Value> = (0..batch)
            .map(|_| {
                n += 1;
                certificate_json(&certificate("BW", "ZA", n))
            })
            .collect();
        let (s, v) = net.post(
            "BW",
            paths::CERTIFICATES_BATCH,
            Some(&token),
            &Value::Array(body),
        );
        assert_eq!(s, 200, "{v}");
    }
    assert_eq!(n, 300);
    net.wait_heads_equal(&["BW", "wdc"], n, WITHIN);
    let ids = feed_ids(&net, "BW");
    assert_eq!(ids.len() as u64, n);
    assert_eq!(feed_ids(&net, "wdc"), ids);
    let roots = prefix_roots(&ids);
    for size in 1..=n {
        // The author's node answers for every size; the observer for a
        // sample (same store code, another replica).
        let labels: &[&str] = if size % 7 == 0 || size <= 8 || size == n {
            &["BW", "wdc"]
        } else {
            &["BW"]
        };
        for l in labels {
            let mut seqs = vec![1, size, size / 2 + 1, (size * 7919) % size + 1];
            seqs.dedup();
            for seq in seqs {
                check_inclusion(&net, l, &ids, &roots, seq, size);
            }
            for old in [0, 1, size / 2, size - 1, (size * 31) % size, size] {
                check_consistency(&net, l, &roots, old, size);
            }
        }
    }
    // Every inclusion in the largest tree, and the checkpoint's defaults.
    for seq in 1..=n {
        check_inclusion(&net, "BW", &ids, &roots, seq, n);
    }
    let cp = wait_checkpoint(&net, "wdc", n);
    assert_eq!(digest(&cp["root"]), roots[n as usize]);
    let v = net.get(
        "wdc",
        &format!("{}?id={}", paths::PROOFS_INCLUSION, ids[99]),
    );
    assert_eq!(v["size"], n);

    // Refusals.
    let bad = [
        (
            format!("{}?id={}", paths::PROOFS_INCLUSION, "00".repeat(32)),
            404,
        ),
        (format!("{}?id=zz", paths::PROOFS_INCLUSION), 422),
        (
            format!("{}?id={}&size=5", paths::PROOFS_INCLUSION, ids[9]),
            422,
        ),
        (
            format!("{}?id={}&size={}", paths::PROOFS_INCLUSION, ids[9], n + 1),
            422,
        ),
        (
            format!("{}?author=BW/mme&old=5&new=4", paths::PROOFS_CONSISTENCY),
            422,
        ),
        (
            format!(
                "{}?author=BW/mme&old=1&new={}",
                paths::PROOFS_CONSISTENCY,
                n + 1
            ),
            422,
        ),
        (
            format!("{}?author=XX/mme&old=0&new=1", paths::PROOFS_CONSISTENCY),
            404,
        ),
        (
            format!("{}?author=bw&old=0&new=1", paths::PROOFS_CONSISTENCY),
            422,
        ),
        // ZA's feed is empty: no checkpoint to default to.
        (
            format!("{}?author=ZA/mme&old=0", paths::PROOFS_CONSISTENCY),
            409,
        ),
    ];
    for (path, want) in bad {
        let (s, v) = net.get_status("BW", &path);
        assert_eq!(s, want, "{path}: {v}");
    }
}
