//! Raw baselines measured in the same run as the ledger's figures: Ed25519
//! signing and strict verification on 1 and 2 threads, the disk's
//! `write + fdatasync` rate, and the Rust Hypercore appending the same
//! encoded events with the same durability.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, SigningKey};

/// Runs `op` in a loop on `threads` threads for about `budget` (at most
/// `max_per_thread` calls each); returns calls per second over all threads.
fn rate_on_threads(
    threads: usize,
    budget: Duration,
    max_per_thread: u64,
    op: impl Fn() + Sync,
) -> f64 {
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let op = &op;
                s.spawn(move || {
                    let mut n = 0u64;
                    while n < max_per_thread {
                        for _ in 0..64 {
                            op();
                        }
                        n += 64;
                        if start.elapsed() >= budget {
                            break;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / start.elapsed().as_secs_f64()
}

/// Raw ed25519-dalek signatures per second of `msg` on `threads` threads.
pub fn sign_rate(seed: [u8; 32], msg: &[u8], threads: usize, budget: Duration) -> f64 {
    let sk = SigningKey::from_bytes(&seed);
    rate_on_threads(threads, budget, 10_000_000, || {
        std::hint::black_box(sk.sign(std::hint::black_box(msg)));
    })
}

/// Raw strict (RFC 8032) verifications per second on `threads` threads.
pub fn verify_strict_rate(seed: [u8; 32], msg: &[u8], threads: usize, budget: Duration) -> f64 {
    let sk = SigningKey::from_bytes(&seed);
    let vk = sk.verifying_key();
    let sig: Signature = sk.sign(msg);
    assert!(
        vk.verify_strict(msg, &sig).is_ok(),
        "a valid signature verifies"
    );
    rate_on_threads(threads, budget, 10_000_000, || {
        std::hint::black_box(vk.verify_strict(std::hint::black_box(msg), &sig).is_ok());
    })
}

/// Appends `record_len` bytes to a new file in `dir` and `fdatasync`s it,
/// for about `budget` (at most `max` times); syncs per second.
pub fn fdatasync_rate(
    dir: &Path,
    record_len: usize,
    budget: Duration,
    max: u64,
) -> Result<f64, String> {
    let path = dir.join("fdatasync-baseline.log");
    let mut f: File = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let rec = vec![0x5au8; record_len];
    let start = Instant::now();
    let mut n = 0u64;
    while n < max {
        f.write_all(&rec).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())?;
        n += 1;
        if start.elapsed() >= budget {
            break;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    Ok(rate)
}

/// Hypercore 0.14's disk storage writes its four files through
/// `random-access-disk` and never syncs them after an append; to give it the
/// ledger's durability, the bench `fdatasync`s all four after every call.
const HYPERCORE_FILES: [&str; 4] = ["tree", "data", "bitfield", "oplog"];

struct Synced {
    dir: PathBuf,
    files: Vec<File>,
}

impl Synced {
    fn sync(&mut self) -> Result<(), String> {
        if self.files.len() < HYPERCORE_FILES.len() {
            self.files.clear();
            for name in HYPERCORE_FILES {
                let p = self.dir.join(name);
                if let Ok(f) = File::open(&p) {
                    self.files.push(f);
                }
            }
        }
        for f in &self.files {
            f.sync_data().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// What the Hypercore baseline measured.
pub struct HypercoreRun {
    /// Entries per second appended with `append_batch` of `batch` entries.
    pub batch_rate: f64,
    /// Entries per second appended one `append` at a time.
    pub single_rate: f64,
    pub entries: u64,
    pub singles: u64,
    pub bytes_on_disk: u64,
}

/// Appends `payloads` to a fresh Hypercore in `dir` with `append_batch` of
/// `batch`, then `singles` more one at a time, each call followed by an
/// `fdatasync` of its files; each part stops early once it has taken
/// `budget` (its rate is over what it appended).
pub fn hypercore(
    dir: &Path,
    payloads: &[Vec<u8>],
    batch: usize,
    singles: u64,
    budget: Duration,
) -> Result<HypercoreRun, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let dir = dir.join("hypercore");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let storage = hypercore::Storage::new_disk(&dir, true)
            .await
            .map_err(|e| e.to_string())?;
        let mut core = hypercore::HypercoreBuilder::new(storage)
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let mut synced = Synced {
            dir: dir.clone(),
            files: Vec::new(),
        };
        let t = Instant::now();
        let mut entries = 0u64;
        for chunk in payloads.chunks(batch.max(1)) {
            core.append_batch(chunk).await.map_err(|e| e.to_string())?;
            synced.sync()?;
            entries += chunk.len() as u64;
            if t.elapsed() > budget {
                break;
            }
        }
        let batch_rate = entries as f64 / t.elapsed().as_secs_f64();
        let one = payloads.first().cloned().unwrap_or_else(|| vec![0u8; 390]);
        let t = Instant::now();
        let mut done = 0u64;
        while done < singles {
            core.append(&one).await.map_err(|e| e.to_string())?;
            synced.sync()?;
            done += 1;
            if t.elapsed() > budget {
                break;
            }
        }
        let single_rate = done as f64 / t.elapsed().as_secs_f64();
        let info = core.info();
        if info.length != entries + done {
            return Err(format!(
                "hypercore holds {} entries, not {}",
                info.length,
                entries + done
            ));
        }
        drop(core);
        Ok(HypercoreRun {
            batch_rate,
            single_rate,
            entries,
            singles: done,
            bytes_on_disk: crate::sys::dir_bytes(&dir),
        })
    })
}
