//! `kpl-node`: the KP Ledger participant (or observer) daemon.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "kpl-node",
    version,
    about = "KP Ledger node: keeps and verifies every feed, gossips over libp2p, serves the HTTP API"
)]
struct Cli {
    /// Print JSON where there is something to print.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: kpl_node::daemon::NodeCommand,
}

fn main() {
    // Before any thread starts.
    kpl_node::os::bound_malloc_arenas();
    let cli = Cli::parse();
    std::process::exit(kpl_node::daemon::main(cli.command, cli.json));
}
