//! Node configuration: a TOML file in the data directory, with command-line
//! overrides, and the files `init` creates.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::net::{Keypair, Multiaddr};

/// Name of the configuration file inside the data directory.
pub const CONFIG_FILE: &str = "node.toml";
/// The libp2p identity (protobuf-encoded Ed25519 keypair), mode 0600.
pub const P2P_KEY_FILE: &str = "p2p.key";
/// The HTTP API bearer token, mode 0600.
pub const TOKEN_FILE: &str = "api.token";
/// The ledger store, under the data directory.
pub const STORE_DIR: &str = "store";

/// Default HTTP API address: loopback only.
pub const DEFAULT_API: &str = "127.0.0.1:7117";
/// Default libp2p listen address.
pub const DEFAULT_LISTEN: &str = "/ip4/127.0.0.1/tcp/7118";

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// The contents of `node.toml`. Relative paths are relative to the data
/// directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The network charter (JSON, as written by `kpl charter`).
    pub charter: Option<PathBuf>,
    /// This node's signing identity: an authority key file (a participant
    /// node) or an observer key file (a read-only node).
    pub key: Option<PathBuf>,
    /// libp2p listen addresses.
    #[serde(default = "default_listen")]
    pub listen: Vec<String>,
    /// Peers to connect to, as multiaddrs ending in `/p2p/<peer id>`.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// HTTP API address.
    #[serde(default = "default_api")]
    pub api: String,
    /// sled cache size, MiB.
    #[serde(default = "default_cache")]
    pub cache_mb: u64,
    /// Seconds between anti-entropy rounds.
    #[serde(default = "default_sync")]
    pub sync_interval_secs: u64,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Serve the read-only web explorer at `/explorer` on the API address.
    #[serde(default = "default_explorer")]
    pub explorer: bool,
}

fn default_listen() -> Vec<String> {
    vec![DEFAULT_LISTEN.into()]
}
fn default_api() -> String {
    DEFAULT_API.into()
}
fn default_cache() -> u64 {
    64
}
fn default_sync() -> u64 {
    30
}
fn default_explorer() -> bool {
    true
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            charter: None,
            key: None,
            listen: default_listen(),
            bootstrap: Vec::new(),
            api: default_api(),
            cache_mb: default_cache(),
            sync_interval_secs: default_sync(),
            log_format: LogFormat::Human,
            explorer: default_explorer(),
        }
    }
}

impl NodeConfig {
    pub fn load(data_dir: &Path) -> Result<NodeConfig, String> {
        let p = data_dir.join(CONFIG_FILE);
        let meta = std::fs::metadata(&p).map_err(|e| {
            format!(
                "{}: {e}; create the node first with `kpl-node init --data-dir {}`",
                p.display(),
                data_dir.display()
            )
        })?;
        if meta.len() > 1024 * 1024 {
            return Err(format!("{}: larger than 1 MiB", p.display()));
        }
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        NodeConfig::parse(&text).map_err(|e| format!("{}: {e}", p.display()))
    }

    /// Parses `node.toml`'s text (what [`NodeConfig::load`] reads); its
    /// addresses are parsed when used ([`NodeConfig::listen_addrs`] …).
    pub fn parse(text: &str) -> Result<NodeConfig, String> {
        if text.len() > 1024 * 1024 {
            return Err("larger than 1 MiB".into());
        }
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn save(&self, data_dir: &Path) -> Result<(), String> {
        let p = data_dir.join(CONFIG_FILE);
        let text = toml::to_string_pretty(self).map_err(|e| e.to_string())?;
        let header =
            "# KP Ledger node configuration. Relative paths are relative to this directory.\n";
        std::fs::write(&p, format!("{header}{text}")).map_err(|e| format!("{}: {e}", p.display()))
    }

    pub fn listen_addrs(&self) -> Result<Vec<Multiaddr>, String> {
        self.listen
            .iter()
            .map(|s| s.parse().map_err(|e| format!("listen address `{s}`: {e}")))
            .collect()
    }

    pub fn bootstrap_addrs(&self) -> Result<Vec<Multiaddr>, String> {
        self.bootstrap
            .iter()
            .map(|s| {
                s.parse()
                    .map_err(|e| format!("bootstrap address `{s}`: {e}"))
            })
            .collect()
    }

    pub fn api_addr(&self) -> Result<SocketAddr, String> {
        self.api
            .parse()
            .map_err(|e| format!("api address `{}`: {e}", self.api))
    }
}

/// Resolves `p` against the data directory.
pub fn resolve(data_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        data_dir.join(p)
    }
}

/// Writes a new file readable only by its owner; refuses to overwrite.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Refuses a secret (a key file, the libp2p identity, the API token) that
/// anyone but its owner may read or write: a node must not run with keys
/// that every account on the machine can copy.
pub fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{}: a secret must be readable by its owner only, but its mode is {:04o}; run `chmod 600 {}` (and check who may have copied it)",
            path.display(),
            mode & 0o7777,
            path.display()
        ));
    }
    Ok(())
}

/// Reads the node's libp2p identity (refused unless private to its owner).
pub fn load_p2p_key(data_dir: &Path) -> Result<Keypair, String> {
    let p = data_dir.join(P2P_KEY_FILE);
    check_private(&p)?;
    let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    if bytes.len() > 4096 {
        return Err(format!("{}: too large for a key", p.display()));
    }
    Keypair::from_protobuf_encoding(&bytes).map_err(|e| format!("{}: {e}", p.display()))
}

/// Reads the API token.
pub fn load_token(data_dir: &Path) -> Result<String, String> {
    let p = data_dir.join(TOKEN_FILE);
    let t = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    let t = t.trim().to_owned();
    if t.len() < 32 {
        return Err(format!("{}: the token is too short", p.display()));
    }
    Ok(t)
}

/// What `init` created.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub data_dir: PathBuf,
    pub peer_id: String,
    pub token_file: PathBuf,
    pub config_file: PathBuf,
}

/// Creates a node: the data directory, the libp2p identity, the API token
/// (both mode 0600) and `node.toml`. Refuses to touch an existing node.
pub fn init(data_dir: &Path, config: &NodeConfig) -> Result<InitReport, String> {
    if data_dir.join(CONFIG_FILE).exists() || data_dir.join(P2P_KEY_FILE).exists() {
        return Err(format!(
            "{} already holds a node; refusing to overwrite it",
            data_dir.display()
        ));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let kp = Keypair::generate_ed25519();
    let enc = kp.to_protobuf_encoding().map_err(|e| e.to_string())?;
    write_secret(&data_dir.join(P2P_KEY_FILE), &enc)?;
    let mut tok = [0u8; 32];
    getrandom::getrandom(&mut tok).map_err(|e| format!("no randomness: {e}"))?;
    write_secret(
        &data_dir.join(TOKEN_FILE),
        format!("{}\n", hex::encode(tok)).as_bytes(),
    )?;
    config.save(data_dir)?;
    Ok(InitReport {
        data_dir: data_dir.to_owned(),
        peer_id: kp.public().to_peer_id().to_string(),
        token_file: data_dir.join(TOKEN_FILE),
        config_file: data_dir.join(CONFIG_FILE),
    })
}

#[cfg(test)]
mod tests {
    use super::NodeConfig;

    #[test]
    fn the_explorer_is_on_unless_turned_off() {
        let on = NodeConfig::parse("api = \"127.0.0.1:7117\"\n").expect("parses");
        assert!(on.explorer);
        assert!(NodeConfig::default().explorer);
        let off = NodeConfig::parse("explorer = false\n").expect("parses");
        assert!(!off.explorer);
        assert!(NodeConfig::parse("explorer = \"no\"\n").is_err());
    }
}
