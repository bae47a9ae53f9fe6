//! A node refuses to start with a secret that others may read: its
//! authority key, its libp2p identity or its API token at mode 0644. The
//! error names the file and the command that fixes it; once fixed, it starts.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kpl_tests::{members, TestNet};

const EXE: &str = env!("CARGO_BIN_EXE_kpl-node");
const WITHIN: Duration = Duration::from_secs(30);

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn secrets_readable_by_others_are_refused() {
    let mut net = TestNet::create(EXE, "kp-secrets", &members(&["BW", "ZA"], &[]));
    let node = net.node("BW").clone();
    let secrets = [
        node.key_file.clone(),
        node.data_dir.join("p2p.key"),
        node.data_dir.join("api.token"),
    ];
    for secret in &secrets {
        assert!(secret.exists(), "{} exists", secret.display());
        chmod(secret, 0o644);
        let mut child = Command::new(EXE)
            .arg("run")
            .arg("--data-dir")
            .arg(&node.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut status = None;
        for _ in 0..200 {
            status = child.try_wait().unwrap();
            if status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: the node started anyway", secret.display());
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "{}: started anyway", secret.display());
        assert!(
            stderr.contains(&secret.display().to_string()) && stderr.contains("chmod 600"),
            "{}: {stderr}",
            secret.display()
        );
        chmod(secret, 0o600);
    }
    // Every secret private again: the node starts.
    net.start_all(&["BW", "ZA"], WITHIN);
    net.wait_healthy("BW", WITHIN);
}
