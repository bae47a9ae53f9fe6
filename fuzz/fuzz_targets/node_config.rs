//! `node.toml`: the text `NodeConfig::load` reads, and its addresses.
#![no_main]
use kpl_node::config::NodeConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = NodeConfig::parse(text) {
        let _ = c.listen_addrs();
        let _ = c.bootstrap_addrs();
        let _ = c.api_addr();
    }
});
