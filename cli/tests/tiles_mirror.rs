//! `kpl mirror` against real node processes, checked by a tiles client
//! written from the specs alone (c2sp.org/tlog-tiles, tlog-checkpoint,
//! signed-note, RFC 6962 / RFC 9162, docs/FORMAT.md §5 and §13): its own
//! SHA-256 (sha2), Ed25519 (ed25519-dalek), base64, path encoding, tree
//! hashing and inclusion proofs; nothing of the project's tile, note or
//! Merkle code. It reads the mirror's files from disk, compares them with
//! what the node serves over HTTP, checks a second mirror run only adds
//! and replaces what changed, and that tampering is caught.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use kpl_tests::{certificate, certificate_json, members, wait_until, TestNet};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const KPL: &str = env!("CARGO_BIN_EXE_kpl");
const WITHIN: Duration = Duration::from_secs(60);
const FEED: &str = "BW/mme";

type Hash = [u8; 32];

// ------------------------------------------------------------ the client

fn sha(parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn leaf(data: &[u8]) -> Hash {
    sha(&[&[0u8], data])
}

fn node(l: &Hash, r: &Hash) -> Hash {
    sha(&[&[1u8], l, r])
}

/// RFC 6962 MTH over leaf hashes.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => sha(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// RFC 9162 §2.1.3.2.
fn verify_inclusion(index: u64, size: u64, leaf_hash: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

/// `<N>` in three-digit groups, `x` before all but the last.
fn index_path(mut n: u64) -> String {
    let mut g = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        g.insert(0, format!("x{:03}", n % 1000));
        n /= 1000;
    }
    g.join("/")
}

fn tile_name(dir: &str, n: u64, w: u64) -> String {
    if w == 256 {
        format!("{dir}/{}", index_path(n))
    } else {
        format!("{dir}/{}.p/{w}", index_path(n))
    }
}

/// A verifier key `name+hex(id)+base64(0x01 || key)`.
struct Vkey {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

fn parse_vkey(s: &str) -> Vkey {
    let mut it = s.splitn(3, '+');
    let name = it.next().unwrap().to_owned();
    let id_hex = it.next().unwrap();
    let raw = B64.decode(it.next().unwrap()).unwrap();
    assert_eq!(raw.len(), 33);
    assert_eq!(raw[0], 0x01, "Ed25519 key type");
    let pk: [u8; 32] = raw[1..].try_into().unwrap();
    let id: [u8; 4] = sha(&[name.as_bytes(), b"\n", &[0x01], &pk])[..4]
        .try_into()
        .unwrap();
    assert_eq!(
        id_hex,
        id.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    Vkey {
        name,
        id,
        key: VerifyingKey::from_bytes(&pk).unwrap(),
    }
}

struct Cp {
    origin: String,
    size: u64,
    root: Hash,
}

/// A checkpoint note verified with `vkey` (its signature line found by
/// name and key id): the text's origin, size and root.
fn open_checkpoint(note: &[u8], vkey: &Vkey) -> Result<Cp, String> {
    let note = std::str::from_utf8(note).map_err(|e| e.to_string())?;
    let split = note.find("\n\n").ok_or("no blank line")?;
    let text = &note[..split + 1];
    let mut good = false;
    for line in note[split + 2..].lines() {
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("not a signature line")?;
        let (name, sig) = rest.split_once(' ').ok_or("no signature")?;
        let raw = B64.decode(sig).map_err(|e| e.to_string())?;
        if name != vkey.name || raw.len() != 68 || raw[..4] != vkey.id {
            continue; // a cosignature, or another key
        }
        let s = Signature::from_slice(&raw[4..]).map_err(|e| e.to_string())?;
        vkey.key
            .verify_strict(text.as_bytes(), &s)
            .map_err(|e| format!("signature: {e}"))?;
        good = true;
    }
    if !good {
        return Err("no signature by the feed's key".into());
    }
    let lines: Vec<&str> = text.lines().collect();
    let root: Hash = B64
        .decode(lines[2])
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "root not 32 bytes")?;
    Ok(Cp {
        origin: lines[0].to_owned(),
        size: lines[1].parse().map_err(|_| "size")?,
        root,
    })
}

/// What a full check of a feed's tiles found.
struct Checked {
    size: u64,
    root: Hash,
    leaves: Vec<Hash>,
    ids: Vec<Hash>,
    files: Vec<String>,
}

/// Checks a mirrored feed from `read(path)` alone: checkpoint, every hash
/// tile (level 1 against level 0), the root, entries and events.
fn check_feed(read: &dyn Fn(&str) -> Option<Vec<u8>>, vkey: &Vkey) -> Result<Checked, String> {
    let cp = open_checkpoint(&read("checkpoint").ok_or("no checkpoint")?, vkey)?;
    let n = cp.size;
    let mut files = vec!["checkpoint".to_owned()];
    let mut leaves = Vec::new();
    let mut ids = Vec::new();
    for t in 0..n.div_ceil(256) {
        let w = (n - t * 256).min(256);
        let p = tile_name("tile/0", t, w);
        let b = read(&p).ok_or(format!("{p} missing"))?;
        if b.len() as u64 != w * 32 {
            return Err(format!("{p}: {} bytes", b.len()));
        }
        let tile: Vec<Hash> = b.chunks(32).map(|c| c.try_into().unwrap()).collect();
        files.push(p);
        let e = tile_name("tile/entries", t, w);
        let eb = read(&e).ok_or(format!("{e} missing"))?;
        if eb.len() as u64 != w * 34 {
            return Err(format!("{e}: {} bytes", eb.len()));
        }
        let these: Vec<Hash> = eb
            .chunks(34)
            .map(|c| {
                assert_eq!(u16::from_be_bytes([c[0], c[1]]), 32);
                c[2..].try_into().unwrap()
            })
            .collect();
        for (i, id) in these.iter().enumerate() {
            if leaf(id) != tile[i] {
                return Err(format!("{e}: entry {i} is not the tile's leaf"));
            }
        }
        files.push(e);
        let v = tile_name("events", t, w);
        let vb = read(&v).ok_or(format!("{v} missing"))?;
        let mut at = 0usize;
        let mut k = 0usize;
        while at < vb.len() {
            let len = u32::from_be_bytes(vb[at..at + 4].try_into().unwrap()) as usize;
            let ev = &vb[at + 4..at + 4 + len];
            let id = sha(&[b"kp-ledger:event\0", &ev[..len - 64]]);
            if k >= these.len() || id != these[k] {
                return Err(format!("{v}: event {k} does not hash to its id"));
            }
            at += 4 + len;
            k += 1;
        }
        if k != these.len() {
            return Err(format!("{v}: {k} events"));
        }
        files.push(v);
        leaves.extend(tile);
        ids.extend(these);
    }
    // Level 1: each hash is the root of a full level-0 tile.
    let w1 = n / 256;
    if w1 > 0 {
        let p = tile_name("tile/1", 0, w1);
        let b = read(&p).ok_or(format!("{p} missing"))?;
        if b.len() as u64 != w1 * 32 {
            return Err(format!("{p}: {} bytes", b.len()));
        }
        for (i, h) in b.chunks(32).enumerate() {
            if mth(&leaves[i * 256..(i + 1) * 256]) != h {
                return Err(format!("{p}: hash {i} is not the root of tile/0 {i}"));
            }
        }
        files.push(p);
    }
    if mth(&leaves) != cp.root {
        return Err("the tiles do not hash to the checkpoint's root".into());
    }
    Ok(Checked {
        size: n,
        root: cp.root,
        leaves,
        ids,
        files,
    })
}

/// `GET path` on the node, raw: (status, headers lower-cased, body).
fn http_get(api: &str, path: &str) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    let host = api.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, all[end + 4..].to_vec())
}

// ------------------------------------------------------------ harness

fn kpl_mirror(api: &str, dir: &Path) -> (i32, Value, String) {
    let out = Command::new(KPL)
        .args(["--node", api, "--json", "mirror"])
        .arg(dir)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap_or(-1),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn issue_batch(net: &TestNet, from: u64, n: u64) {
    let body: Vec<Value> = (from..from + n)
        .map(|i| certificate_json(&certificate("BW", "ZA", i)))
        .collect();
    let token = net.token("BW");
    let (status, v) = net.post(
        "BW",
        "/v1/certificates/batch?force=true",
        Some(&token),
        &Value::Array(body),
    );
    assert!(status < 300, "{status} {v}");
}

fn wait_checkpoint(net: &TestNet, size: u64) {
    wait_until(WITHIN, Duration::from_millis(200), "the checkpoint", || {
        let (status, v) = net.get_status("BW", &format!("/v1/checkpoint?author={FEED}"));
        (status == 200 && v["size"] == size).then_some(())
    })
    .unwrap();
}

fn reader(dir: PathBuf) -> impl Fn(&str) -> Option<Vec<u8>> {
    move |p| std::fs::read(dir.join(p)).ok()
}

fn stamp(p: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

/// The entry of [`FEED`] in an answer's `feeds` list.
fn the_feed(v: &Value) -> &Value {
    v["feeds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["author"] == FEED)
        .unwrap()
}

#[test]
fn mirror_is_checked_by_an_independent_tiles_client() {
    let mut net = TestNet::create(KPL, "kp-tiles", &members(&["BW", "ZA"], &[]));
    net.launcher.prefix = vec!["node".into()];
    net.start_all(&["BW", "ZA"], WITHIN);
    let api = net.api("BW");
    issue_batch(&net, 1, 300);
    wait_checkpoint(&net, 300);

    let keys = net.get("BW", "/v1/keys");
    let feed = the_feed(&keys).clone();
    let vkey = parse_vkey(feed["checkpoint_vkey"].as_str().unwrap());

    let mirror = net.dir().join("mirror");
    let (code, v, err) = kpl_mirror(&api, &mirror);
    assert_eq!(code, 0, "{v} {err}");
    let feed_dir = mirror.join(FEED);
    let c = check_feed(&reader(feed_dir.clone()), &vkey).unwrap();
    assert_eq!(c.size, 300);
    assert_eq!(vkey.name, feed["origin"].as_str().unwrap());
    let cp = open_checkpoint(&std::fs::read(feed_dir.join("checkpoint")).unwrap(), &vkey).unwrap();
    assert_eq!(cp.origin, vkey.name);
    // The leaves are the feed's event ids, as the API lists them.
    let listed = net.get("BW", &format!("/v1/feed?author={FEED}&from=1&limit=1000"));
    let listed: Vec<String> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let hexed: Vec<String> = c
        .ids
        .iter()
        .map(|id| id.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    assert_eq!(listed, hexed);

    // An inclusion proof from the tiles alone.
    for m in [0usize, 17, 255, 256, 299] {
        let p = path(m, &c.leaves);
        assert!(
            verify_inclusion(m as u64, c.size, &c.leaves[m], &p, &c.root),
            "{m}"
        );
        assert!(!verify_inclusion(
            m as u64,
            c.size,
            &leaf(b"x"),
            &p,
            &c.root
        ));
    }

    // The node serves the same bytes, with the spec's caching.
    for f in &c.files {
        let (status, h, body) = http_get(&api, &format!("/tiles/{FEED}/{f}"));
        assert_eq!(status, 200, "{f}");
        let mirrored = std::fs::read(feed_dir.join(f)).unwrap();
        if f == "checkpoint" {
            // Cosignatures may have joined since: the same signed text.
            let text = |b: &[u8]| {
                let s = String::from_utf8(b.to_vec()).unwrap();
                s[..s.find("\n\n").unwrap()].to_owned()
            };
            assert_eq!(text(&body), text(&mirrored));
            assert_eq!(open_checkpoint(&body, &vkey).unwrap().root, c.root);
        } else {
            assert_eq!(body, mirrored, "{f}");
        }
        let cache = h.get("cache-control").cloned().unwrap_or_default();
        let ctype = h.get("content-type").cloned().unwrap_or_default();
        if f == "checkpoint" {
            assert_eq!(ctype, "text/plain; charset=utf-8");
            assert_eq!(cache, "no-cache");
        } else {
            assert_eq!(ctype, "application/octet-stream", "{f}");
            if f.contains(".p/") {
                assert_eq!(cache, "public, max-age=5", "{f}");
            } else {
                assert_eq!(cache, "public, max-age=31536000, immutable", "{f}");
            }
        }
    }
    // Beyond the checkpoint, and paths that are not tiles: 404.
    for p in [
        "tile/0/001",
        "tile/0/001.p/45",
        "tile/0/002.p/1",
        "tile/1/000",
        "tile/entries/001",
        "events/001.p/45",
        "tile/0/1",
        "tile/0/x000/001",
        "tile/9/000",
        "../../v1/keys",
    ] {
        let (status, _, _) = http_get(&api, &format!("/tiles/{FEED}/{p}"));
        assert_eq!(status, 404, "{p}");
    }
    // A smaller width of the partial tile is a prefix of it.
    let (status, _, body) = http_get(&api, &format!("/tiles/{FEED}/tile/0/001.p/10"));
    assert_eq!(status, 200);
    assert_eq!(
        body,
        std::fs::read(feed_dir.join("tile/0/001.p/44")).unwrap()[..320]
    );

    // A second run after more writes adds and replaces only what changed.
    let full0 = feed_dir.join("tile/0/000");
    let entries0 = feed_dir.join("tile/entries/000");
    let events0 = feed_dir.join("events/000");
    let before: Vec<_> = [&full0, &entries0, &events0]
        .iter()
        .map(|p| stamp(p))
        .collect();
    issue_batch(&net, 301, 220);
    wait_checkpoint(&net, 520);
    let (code, v, err) = kpl_mirror(&api, &mirror);
    assert_eq!(code, 0, "{v} {err}");
    let after: Vec<_> = [&full0, &entries0, &events0]
        .iter()
        .map(|p| stamp(p))
        .collect();
    assert_eq!(before, after, "full tiles were rewritten");
    let f = the_feed(&v);
    assert_eq!(f["previous_size"], 300, "{v}");
    assert_eq!(f["size"], 520, "{v}");
    // tile/0/001, entries/001, events/001 full now; tile/0/002.p/8 and its
    // bundles, tile/1/000.p/2 partial.
    assert_eq!(f["full_written"], 3, "{v}");
    assert_eq!(f["partial_written"], 4, "{v}");
    assert!(!feed_dir.join("tile/0/001.p/44").exists());
    assert!(!feed_dir.join("tile/1/000.p/1").exists());
    let c2 = check_feed(&reader(feed_dir.clone()), &vkey).unwrap();
    assert_eq!(c2.size, 520);
    assert_eq!(c2.leaves[..300], c.leaves[..]);
    // A third run with nothing new writes no tile.
    let (code, v, _) = kpl_mirror(&api, &mirror);
    assert_eq!(code, 0);
    let f = the_feed(&v);
    assert_eq!(
        (f["full_written"].as_u64(), f["partial_written"].as_u64()),
        (Some(0), Some(0))
    );

    // The table: one row per feed mirrored.
    let out = Command::new(KPL)
        .args(["--node", &api, "mirror"])
        .arg(&mirror)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with(FEED))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..6], [FEED, "520", "520", "0", "0", "10"], "{text}");

    // Tampering is caught by the client, and by the mirror itself.
    for (file, at) in [
        ("tile/0/000", 5usize),
        ("tile/1/000.p/2", 40),
        ("tile/entries/001", 3),
        ("events/000", 10),
        ("checkpoint", 60),
    ] {
        let copy = net
            .dir()
            .join(format!("tampered-{}", file.replace('/', "-")));
        TestNet::copy_dir(&feed_dir, &copy).unwrap();
        let p = copy.join(file);
        let mut b = std::fs::read(&p).unwrap();
        b[at] ^= 1;
        std::fs::write(&p, &b).unwrap();
        assert!(
            check_feed(&reader(copy.clone()), &vkey).is_err(),
            "{file} tampered with, yet the client accepts it"
        );
    }
    let p = full0.clone();
    let good = std::fs::read(&p).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    std::fs::write(&p, &bad).unwrap();
    let (code, v, _) = kpl_mirror(&api, &mirror);
    assert_eq!(code, 1, "the mirror accepted its own tampered tile: {v}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        bad,
        "nothing is written on failure"
    );
    std::fs::write(&p, &good).unwrap();
}
