//! `kpl`: the KP Ledger command line. Thin glue over `ledger-core` (offline
//! commands) and a node's HTTP API (everything else).

mod analysis;
mod bundle;
mod client;
mod devnet;
mod fmt;
mod gov;
mod listing;
mod mirror;
mod offline;
mod online;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::fmt::{CmdResult, Failure};

#[derive(Parser)]
#[command(
    name = "kpl",
    version,
    about = "KP Ledger: a shared, tamper-evident ledger of Kimberley Process certificates",
    long_about = "KP Ledger: a shared, tamper-evident ledger of Kimberley Process certificates.\n\n\
Exit codes: 0 success; 1 the answer is that something is wrong (findings, a bad chain); \
2 usage or connection error."
)]
pub struct Cli {
    /// The node's HTTP API.
    #[arg(
        long,
        global = true,
        env = "KPL_NODE",
        default_value = "http://127.0.0.1:7117"
    )]
    pub node: String,
    /// File holding the node's API bearer token (needed for writes).
    #[arg(long, global = true, env = "KPL_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Print JSON (stable, documented field names) instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print tables whole, however wide (by default they are fitted to the
    /// terminal by wrapping their last column).
    #[arg(long, global = true)]
    pub wide: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Generate an Ed25519 key file (mode 0600) with its pre-committed next key.
    Keygen(offline::KeygenArgs),
    /// Write and read a network charter.
    #[command(subcommand)]
    Charter(offline::CharterCmd),
    /// Issue a KP certificate (from flags, or many from a CSV or JSON file).
    Issue(online::IssueArgs),
    /// Confirm the import of a shipment, as received.
    Confirm(online::ConfirmArgs),
    /// Void a certificate (cancelled, lost, stolen, seized).
    Void(online::VoidArgs),
    /// Endorse a correction of one field of a certificate.
    Correct(online::CorrectArgs),
    /// Rotate this node's authority key to its pre-committed next key.
    RotateKey,
    /// A certificate and its whole lifecycle.
    Show(online::ShowArgs),
    /// Every feed's head, and the fork proofs.
    Feeds,
    /// The node: peers, sync lag, heads.
    Status,
    /// Follow a certificate's re-export lineage back to the countries of origin, as a tree.
    Trace(analysis::TraceArgs),
    /// List findings: unconfirmed exports, mismatches, forged certificates, forks, ...
    Audit(analysis::AuditArgs),
    /// List certificates by participant, direction, status, period and origin.
    Certificates(listing::CertificatesArgs),
    /// KP trade statistics per participant, and the mirror table.
    Stats(analysis::StatsArgs),
    /// Re-check the whole ledger: every signature, link and fork proof.
    Verify(offline::VerifyArgs),
    /// Write a self-contained proof bundle for a certificate (checkable offline).
    Prove(bundle::ProveArgs),
    /// Check a proof bundle offline against the network you trust.
    VerifyBundle(bundle::VerifyBundleArgs),
    /// Governance: propose and approve membership decisions, list them.
    #[command(subcommand)]
    Gov(gov::GovCmd),
    /// Who is a participant on a day: standing, zones, authorities, nodes; observers; the Chair.
    Members(gov::MembersArgs),
    /// Write every feed's tiles (c2sp.org/tlog-tiles) to DIR as static files, verified, incrementally.
    Mirror(mirror::MirrorArgs),
    /// Run a node (same as the kpl-node binary).
    #[command(subcommand)]
    Node(kpl_node::daemon::NodeCommand),
    /// A local network of real node processes, seeded with realistic trade.
    #[command(subcommand)]
    Devnet(devnet::DevnetCmd),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

fn token(cli: &Cli) -> Option<String> {
    if let Ok(t) = std::env::var("KPL_TOKEN") {
        return Some(t.trim().to_owned());
    }
    let path = cli.token_file.as_ref()?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_owned())
}

fn run(cli: Cli) -> CmdResult {
    let client = || client::Client::new(&cli.node, token(&cli));
    match &cli.command {
        Command::Keygen(a) => offline::keygen(a, cli.json),
        Command::Charter(c) => offline::charter(c, cli.json),
        Command::Verify(a) => match &a.data_dir {
            Some(_) => offline::verify(a, cli.json),
            None => online::verify(&client(), a.charter.as_deref(), cli.json),
        },
        Command::Issue(a) => online::issue(&client(), a, cli.json),
        Command::Confirm(a) => online::confirm(&client(), a, cli.json),
        Command::Void(a) => online::void(&client(), a, cli.json),
        Command::Correct(a) => online::correct(&client(), a, cli.json),
        Command::RotateKey => online::rotate_key(&client(), cli.json),
        Command::Show(a) => online::show(&client(), a, cli.json),
        Command::Feeds => online::feeds(&client(), cli.json),
        Command::Status => online::status(&client(), cli.json),
        Command::Trace(a) => analysis::trace(&client(), a, cli.json),
        Command::Audit(a) => analysis::audit(&client(), a, cli.json),
        Command::Certificates(a) => listing::certificates(&client(), a, cli.json),
        Command::Prove(a) => bundle::prove(&client(), a, cli.json),
        Command::VerifyBundle(a) => bundle::verify_bundle(a, cli.json),
        Command::Stats(a) => analysis::stats(&client(), a, cli.json),
        Command::Gov(c) => gov::run(&client(), c, cli.json),
        Command::Members(a) => gov::members(&client(), a, cli.json),
        Command::Devnet(c) => devnet::run(c, cli.json),
        Command::Mirror(a) => mirror::mirror(&client(), a, cli.json),
        Command::Node(_) => unreachable!("handled in main"),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "kpl", &mut std::io::stdout());
            Ok(fmt::OK)
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let cli = match cli.command {
        Command::Node(cmd) => std::process::exit(kpl_node::daemon::main(cmd, cli.json)),
        command => Cli { command, ..cli },
    };
    fmt::set_width(cli.wide);
    // `kpl … | head` must end quietly, not panic with "failed printing to
    // stdout" (exit 101): die of SIGPIPE like other command-line tools. Not
    // for `kpl node`, whose sockets must survive a peer hanging up.
    // SAFETY: resetting a signal disposition before any other thread runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = match run(cli) {
        Ok(code) => code,
        Err(Failure { code, message }) => {
            eprintln!("kpl: {message}");
            code
        }
    };
    std::process::exit(code);
}
