//! Governance: propose and approve membership decisions, list them with
//! their verdicts, and show who is a member in good standing on a day. Reads
//! ask a node, or with `--data-dir` derive the timeline from a stopped
//! node's store (`Ledger::timeline()`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kpl_api::types::DecisionView;
use ledger_core::analysis::EventRef;
use ledger_core::charter::{AuthorityEntry, NodeMember, ObserverEntry, ParticipantEntry};
use ledger_core::governance::Decision;
use ledger_core::governance::{
    validate_approval_note, validate_proposal, DecisionRecord, DecisionStatus, MemberRecord,
    Proposal, Standing, Timeline,
};
use ledger_core::store::{stored_charter, Ledger, StoreOptions};
use ledger_core::{
    AuthorId, AuthorityName, CountryCode, Date, EventId, ObserverId, PublicKeyBytes, Role, Roles,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::Client;
use crate::fmt::{short, CmdResult, Failure, Table, FOUND, OK};

#[derive(Subcommand)]
pub enum GovCmd {
    /// Propose a membership decision (signed by the Chair's governance authority).
    Propose(Box<ProposeArgs>),
    /// Approve a proposal (signed by this participant's governance authority).
    Approve(ApproveArgs),
    /// Every proposal: decision, effective date, status, approvals against the quorum.
    List(ReadArgs),
    /// One proposal: the decision, each approval and whether it counted.
    Show(GovShowArgs),
}

#[derive(Args)]
pub struct ReadArgs {
    /// Read a stopped node's data directory instead of asking a node.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args)]
#[command(
    subcommand_value_name = "KIND",
    subcommand_help_heading = "Decision kinds"
)]
pub struct ProposeArgs {
    #[command(subcommand)]
    pub kind: Option<ProposeKind>,
    #[command(flatten)]
    pub force: crate::online::ForceArg,
    /// Propose any decision from a JSON file instead of a KIND, e.g.
    /// {"expel":{"participant":"VE"}} (the form `kpl --json gov show` prints).
    #[arg(long, value_name = "FILE.json")]
    pub decision_file: Option<PathBuf>,
    /// The day the decision applies from once adopted: YYYY-MM-DD, after
    /// today (default tomorrow). Approvals must be signed before that day.
    #[arg(long, global = true, value_name = "DATE")]
    pub effective: Option<String>,
    /// What the decision rests on, e.g. "Administrative Decision 2015/07" (required).
    #[arg(long, global = true, value_name = "TEXT")]
    pub reference: Option<String>,
}

#[derive(Subcommand)]
pub enum ProposeKind {
    /// Suspend a participant: no vote, no trade, except exports of rough
    /// diamonds mined in the zones given with --except-zone.
    Suspend {
        /// The participant's code, e.g. CF.
        participant: String,
        /// A zone of origin it may still export from (repeatable), e.g. Berberati.
        #[arg(long = "except-zone", value_name = "ZONE")]
        except_zones: Vec<String>,
    },
    /// Lift a suspension.
    Reinstate { participant: String },
    /// Expel a participant: its nodes are cut off, its authorities may no longer sign.
    Expel { participant: String },
    /// Admit (or readmit) a participant with its authorities, keys and nodes.
    AdmitParticipant(AdmitParticipantArgs),
    /// Admit an observer (read-only node, no vote).
    AdmitObserver(AdmitObserverArgs),
    /// Add an authority (a new feed) to a participant.
    AddAuthority(AddAuthorityArgs),
    /// Remove an authority: what it signs from the effective date is refused.
    RemoveAuthority {
        /// The authority, e.g. BW/mme.
        author: String,
    },
    /// Add a node (libp2p peer id) of a participant, or of an observer with --observer.
    AddNode {
        /// The participant's code (or with --observer the observer's id).
        member: String,
        /// The node's peer id (printed by `kpl node init`).
        peer_id: String,
        /// MEMBER is an observer id, not a participant code.
        #[arg(long)]
        observer: bool,
    },
    /// Remove a node of a participant or observer.
    RemoveNode { peer_id: String },
    /// Hand the Chair to another participant.
    ChangeChair { participant: String },
    /// Report an authority's key compromised: its events signed with that key
    /// from --from-seq on are listed as suspect.
    KeyCompromised {
        /// The authority, e.g. BW/mme.
        author: String,
        /// The compromised public key: hex, or a key file.
        #[arg(long)]
        key: String,
        /// The first feed position the key may have signed without the authority.
        #[arg(long)]
        from_seq: u64,
    },
    /// Remove an observer and its nodes.
    RemoveObserver { observer: String },
}

#[derive(Args)]
pub struct AdmitParticipantArgs {
    /// The whole participant entry as JSON (code, name, authorities, nodes),
    /// as in a charter.
    #[arg(long, conflicts_with_all = ["code", "name", "authority", "title", "key", "peers"])]
    pub file: Option<PathBuf>,
    /// ISO 3166-1 alpha-2 code (or EU).
    #[arg(long, required_unless_present = "file")]
    pub code: Option<String>,
    #[arg(long, required_unless_present = "file")]
    pub name: Option<String>,
    /// Short name of its (first) authority, e.g. mines.
    #[arg(long, required_unless_present = "file")]
    pub authority: Option<String>,
    /// The authority's full name as printed on certificates.
    #[arg(long, required_unless_present = "file")]
    pub title: Option<String>,
    /// The authority's key: a key file (its next-key commitment is used too) or a hex public key.
    #[arg(long, required_unless_present = "file")]
    pub key: Option<String>,
    /// Comma-separated: issue, confirm, governance.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "issue,confirm,governance"
    )]
    pub roles: Vec<String>,
    /// libp2p peer id of one of its nodes (repeatable).
    #[arg(long = "peer")]
    pub peers: Vec<String>,
}

#[derive(Args)]
pub struct AdmitObserverArgs {
    /// The whole observer entry as JSON (id, name, key, nodes), as in a charter.
    #[arg(long, conflicts_with_all = ["id", "name", "key", "peers"])]
    pub file: Option<PathBuf>,
    #[arg(long, required_unless_present = "file")]
    pub id: Option<String>,
    #[arg(long, required_unless_present = "file")]
    pub name: Option<String>,
    /// A key file or a hex public key.
    #[arg(long, required_unless_present = "file")]
    pub key: Option<String>,
    /// libp2p peer id of one of its nodes (repeatable).
    #[arg(long = "peer")]
    pub peers: Vec<String>,
}

#[derive(Args)]
pub struct AddAuthorityArgs {
    /// The participant's code.
    pub participant: String,
    /// The authority entry as JSON (name, title, key, roles, next_key_digest), as in a charter.
    #[arg(long, conflicts_with_all = ["name", "title", "key"])]
    pub file: Option<PathBuf>,
    /// Short name, e.g. customs (never reused once it had a feed).
    #[arg(long, required_unless_present = "file")]
    pub name: Option<String>,
    /// Full name as printed on certificates.
    #[arg(long, required_unless_present = "file")]
    pub title: Option<String>,
    /// A key file (its next-key commitment is used too) or a hex public key.
    #[arg(long, required_unless_present = "file")]
    pub key: Option<String>,
    /// Comma-separated: issue, confirm, governance.
    #[arg(long, value_delimiter = ',', default_value = "issue,confirm")]
    pub roles: Vec<String>,
}

#[derive(Args)]
pub struct ApproveArgs {
    /// The proposal's id (or a unique prefix of it, as `kpl gov list` shows).
    pub proposal: String,
    /// A note kept with the approval.
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Args)]
pub struct GovShowArgs {
    /// The proposal's id (or a unique prefix of it, as `kpl gov list` shows).
    pub proposal: String,
    #[command(flatten)]
    pub read: ReadArgs,
}

#[derive(Args)]
pub struct MembersArgs {
    /// The day (YYYY-MM-DD); default today.
    #[arg(long)]
    pub at: Option<String>,
    /// Read a stopped node's data directory instead of asking a node.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(c: &Client, cmd: &GovCmd, json_out: bool) -> CmdResult {
    match cmd {
        GovCmd::Propose(a) => propose(c, a, json_out),
        GovCmd::Approve(a) => approve(c, a, json_out),
        GovCmd::List(a) => list(c, a, json_out),
        GovCmd::Show(a) => show(c, a, json_out),
    }
}

fn today() -> Date {
    Date::from_unix_ms(crate::offline::now_ms())
}

fn bad_answer(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("unexpected answer from the node: {e}"))
}

// ------------------------------------------------------------------ propose

fn code(s: &str) -> Result<CountryCode, Failure> {
    CountryCode::new(s.trim()).map_err(Failure::usage)
}

fn author(s: &str) -> Result<AuthorId, Failure> {
    s.trim().parse::<AuthorId>().map_err(|e| {
        Failure::usage(format!(
            "`{s}`: {e} (an authority is PARTICIPANT/NAME, e.g. BW/mme)"
        ))
    })
}

fn roles(list: &[String]) -> Result<Roles, Failure> {
    let mut rs = Vec::new();
    for r in list {
        rs.push(Role::from_name(r.trim()).map_err(Failure::usage)?);
    }
    Ok(Roles::of(&rs))
}

/// Reads a JSON file into `T`, naming the file in errors.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    if meta.len() > 1024 * 1024 {
        return Err(Failure::usage(format!(
            "{}: larger than 1 MiB",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{}: not {what}: {}",
            path.display(),
            kpl_node::api::json_error_words(&e.to_string())
        ))
    })
}

fn authority_entry(
    name: &str,
    title: &str,
    key: &str,
    role_names: &[String],
) -> Result<AuthorityEntry, Failure> {
    let (key, next_key_digest) = crate::offline::key_arg(key)?;
    Ok(AuthorityEntry {
        name: AuthorityName::new(name.trim()).map_err(Failure::usage)?,
        title: title.to_owned(),
        key,
        roles: roles(role_names)?,
        next_key_digest,
    })
}

fn required<'a>(v: &'a Option<String>, flag: &str) -> Result<&'a str, Failure> {
    v.as_deref()
        .ok_or_else(|| Failure::usage(format!("{flag} is required (or give --file)")))
}

fn decision_from(k: &ProposeKind) -> Result<Decision, Failure> {
    Ok(match k {
        ProposeKind::Suspend {
            participant,
            except_zones,
        } => {
            let mut zones: Vec<String> = except_zones.iter().map(|z| z.trim().to_owned()).collect();
            zones.sort();
            zones.dedup();
            Decision::Suspend {
                participant: code(participant)?,
                exporting_zones: zones,
            }
        }
        ProposeKind::Reinstate { participant } => Decision::Reinstate {
            participant: code(participant)?,
        },
        ProposeKind::Expel { participant } => Decision::Expel {
            participant: code(participant)?,
        },
        ProposeKind::AdmitParticipant(a) => match &a.file {
            Some(f) => {
                Decision::AdmitParticipant(read_json::<ParticipantEntry>(f, "a participant entry")?)
            }
            None => {
                let mut nodes = a.peers.clone();
                nodes.sort();
                nodes.dedup();
                Decision::AdmitParticipant(ParticipantEntry {
                    code: code(required(&a.code, "--code")?)?,
                    name: required(&a.name, "--name")?.to_owned(),
                    authorities: vec![authority_entry(
                        required(&a.authority, "--authority")?,
                        required(&a.title, "--title")?,
                        required(&a.key, "--key")?,
                        &a.roles,
                    )?],
                    nodes,
                })
            }
        },
        ProposeKind::AdmitObserver(a) => match &a.file {
            Some(f) => Decision::AdmitObserver(read_json::<ObserverEntry>(f, "an observer entry (as in a charter: id, name, key, nodes)")?),
            None => {
                let id = required(&a.id, "--id")?;
                let (key, _) = crate::offline::key_arg(required(&a.key, "--key")?)?;
                let mut nodes = a.peers.clone();
                nodes.sort();
                nodes.dedup();
                Decision::AdmitObserver(ObserverEntry {
                    id: ObserverId::new(id.trim()).map_err(Failure::usage)?,
                    name: required(&a.name, "--name")?.to_owned(),
                    key,
                    nodes,
                })
            }
        },
        ProposeKind::AddAuthority(a) => Decision::AddAuthority {
            participant: code(&a.participant)?,
            authority: match &a.file {
                Some(f) => read_json::<AuthorityEntry>(f, "an authority entry (as in a charter: name, title, key, roles, next_key_digest)")?,
                None => authority_entry(
                    required(&a.name, "--name")?,
                    required(&a.title, "--title")?,
                    required(&a.key, "--key")?,
                    &a.roles,
                )?,
            },
        },
        ProposeKind::RemoveAuthority { author: a } => {
            Decision::RemoveAuthority { author: author(a)? }
        }
        ProposeKind::AddNode {
            member,
            peer_id,
            observer,
        } => Decision::AddNode {
            member: if *observer {
                NodeMember::Observer(ObserverId::new(member.trim()).map_err(Failure::usage)?)
            } else {
                NodeMember::Participant(code(member)?)
            },
            peer_id: peer_id.trim().to_owned(),
        },
        ProposeKind::RemoveNode { peer_id } => Decision::RemoveNode {
            peer_id: peer_id.trim().to_owned(),
        },
        ProposeKind::ChangeChair { participant } => Decision::ChangeChair {
            participant: code(participant)?,
        },
        ProposeKind::KeyCompromised {
            author: a,
            key,
            from_seq,
        } => Decision::KeyCompromised {
            author: author(a)?,
            key: key_only(key)?,
            from_seq: *from_seq,
        },
        ProposeKind::RemoveObserver { observer } => Decision::RemoveObserver {
            observer: ObserverId::new(observer.trim()).map_err(Failure::usage)?,
        },
    })
}

fn key_only(s: &str) -> Result<PublicKeyBytes, Failure> {
    crate::offline::key_arg(s).map(|(k, _)| k)
}

pub fn propose(c: &Client, a: &ProposeArgs, json_out: bool) -> CmdResult {
    let decision = match (&a.kind, &a.decision_file) {
        (Some(_), Some(_)) => {
            return Err(Failure::usage(
                "give either a decision KIND or --decision-file, not both",
            ))
        }
        (None, None) => {
            return Err(Failure::usage(
                "say what to propose: a decision KIND (suspend, reinstate, expel, admit-participant, …; \
see `kpl gov propose --help`) or --decision-file FILE.json",
            ))
        }
        (Some(k), None) => decision_from(k)?,
        (None, Some(f)) => read_json::<Decision>(
            f,
            "a decision: the form `kpl --json gov show` prints under \"decision\", e.g. {\"expel\":{\"participant\":\"VE\"}}",
        )?,
    };
    let reference = a.reference.clone().unwrap_or_default();
    if reference.trim().is_empty() {
        return Err(Failure::usage(
            "--reference TEXT is required: what the decision rests on, e.g. \"Administrative Decision 2015/07\"",
        ));
    }
    let today = today();
    let effective_on = match &a.effective {
        Some(d) => d
            .parse::<Date>()
            .map_err(|e| Failure::usage(format!("--effective: {e}")))?,
        None => today.add_days(1),
    };
    if effective_on <= today {
        return Err(Failure::usage(format!(
            "--effective {effective_on} is not after today ({today}): a decision is proposed and approved before the day it takes effect (approvals signed on or after that day do not count); give a later date"
        )));
    }
    let proposal = Proposal {
        decision,
        effective_on,
        reference,
    };
    validate_proposal(&proposal).map_err(|e| Failure::usage(format!("the proposal: {e}")))?;
    let body = json!({
        "decision": proposal.decision,
        "effective_on": proposal.effective_on,
        "reference": proposal.reference,
    });
    let r = c.call(|n| n.propose(&body, a.force.force))?;
    if json_out {
        println!("{}", serde_json::to_string(&r).map_err(bad_answer)?);
        return Ok(OK);
    }
    let id = &r.id;
    println!(
        "proposed: {}, effective {} (by {}): event {id} at seq {} (durable)",
        proposal.decision.summary(),
        proposal.effective_on,
        r.author.as_deref().unwrap_or(""),
        r.seq
    );
    println!("the other participants approve it with: kpl gov approve {id}");
    Ok(OK)
}

// ------------------------------------------------------------------ approve

/// A proposal id as given: the full hex id, or a prefix of at least 4 hex digits.
enum IdArg {
    Full(EventId),
    Prefix(String),
}

fn id_arg(s: &str) -> Result<IdArg, Failure> {
    let t = s.trim().to_ascii_lowercase();
    if t.len() < 4 || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::usage(format!(
            "`{s}` is not a proposal id: give its hex id, or a prefix of at least 4 digits, as `kpl gov list` shows"
        )));
    }
    if t.len() == 64 {
        return Ok(IdArg::Full(EventId::from_hex(&t).map_err(Failure::usage)?));
    }
    Ok(IdArg::Prefix(t))
}

fn not_found(s: &str) -> Failure {
    Failure::found(format!(
        "no proposal {s} in this ledger (yet); `kpl gov list` lists the proposals this node holds"
    ))
}

/// The one decision whose id starts with `prefix`.
fn by_prefix<'a>(
    decisions: &'a [DecisionRecord],
    prefix: &str,
) -> Result<&'a DecisionRecord, Failure> {
    let hits: Vec<&DecisionRecord> = decisions
        .iter()
        .filter(|d| d.proposal.id.to_hex().starts_with(prefix))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(not_found(prefix)),
        many => Err(Failure::usage(format!(
            "`{prefix}` is the start of {} proposal ids ({}); give more digits",
            many.len(),
            many.iter()
                .map(|d| short(&d.proposal.id.to_hex()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

pub fn approve(c: &Client, a: &ApproveArgs, json_out: bool) -> CmdResult {
    validate_approval_note(&a.note).map_err(|e| Failure::usage(format!("--note: {e}")))?;
    let id = match id_arg(&a.proposal)? {
        IdArg::Full(id) => id,
        IdArg::Prefix(p) => by_prefix(&fetch_governance(c)?.decisions, &p)?.proposal.id,
    };
    let r = c.call(|n| n.approve(&id.to_hex(), &a.note))?;
    if json_out {
        println!("{}", serde_json::to_string(&r).map_err(bad_answer)?);
        return Ok(OK);
    }
    println!(
        "approved proposal {} (by {}): event {} at seq {} (durable)",
        id.to_hex(),
        r.author,
        r.id,
        r.seq
    );
    // Where the proposal stands now, as this node sees it.
    if let Ok(Some(DecisionView(d))) = c.call_opt(|a| a.decision(&id.to_hex())) {
        println!(
            "the proposal is now {}: {} of {} approvals needed",
            status_text(&d.status),
            d.approved_by.len(),
            d.needed
        );
    }
    Ok(OK)
}

// ------------------------------------------------------------------ reads

/// `GET /v1/governance`, as the CLI reads it.
#[derive(Serialize, Deserialize)]
struct GovView {
    #[serde(default)]
    quorum: String,
    #[serde(default)]
    chair: String,
    decisions: Vec<DecisionRecord>,
    #[serde(default)]
    orphan_approvals: Vec<Orphan>,
}

#[derive(Serialize, Deserialize)]
struct Orphan {
    proposal: EventId,
    event: EventRef,
}

/// Opens a stopped node's store (DATA_DIR or DATA_DIR/store) and derives its timeline.
fn offline_timeline(dir: &Path) -> Result<std::sync::Arc<Timeline>, Failure> {
    let store = if dir.join("store").join("events.log").exists() {
        dir.join("store")
    } else {
        dir.to_owned()
    };
    if !store.join("events.log").exists() {
        return Err(Failure::usage(format!(
            "{} holds no KP Ledger store (no events.log)",
            dir.display()
        )));
    }
    let charter = stored_charter(&store).map_err(|e| Failure::usage(e.to_string()))?;
    let ledger = Ledger::open(&store, &charter, StoreOptions::default())
        .map_err(|e| Failure::usage(e.to_string()))?;
    Ok(ledger.timeline())
}

fn timeline_view(t: &Timeline) -> GovView {
    GovView {
        quorum: t.quorum().to_string(),
        chair: t.at(today()).chair.to_string(),
        decisions: t.decisions().to_vec(),
        orphan_approvals: t
            .orphan_approvals()
            .iter()
            .map(|(p, e)| Orphan {
                proposal: *p,
                event: e.clone(),
            })
            .collect(),
    }
}

fn fetch_governance(c: &Client) -> Result<GovView, Failure> {
    let g = c.call(|a| a.governance())?;
    let orphan_approvals = g
        .orphan_approvals
        .into_iter()
        .map(|o| {
            Ok(Orphan {
                proposal: EventId::from_hex(&o.proposal)
                    .map_err(|e| Failure::usage(format!("unexpected answer from the node: {e}")))?,
                event: o.event,
            })
        })
        .collect::<Result<_, Failure>>()?;
    Ok(GovView {
        quorum: g.quorum,
        chair: g.chair.to_string(),
        decisions: g.decisions,
        orphan_approvals,
    })
}

fn status_text(s: &DecisionStatus) -> String {
    match s {
        DecisionStatus::Adopted => "adopted".into(),
        DecisionStatus::Pending => "pending".into(),
        DecisionStatus::Refused { reason } => format!("REFUSED ({reason})"),
        DecisionStatus::NoEffect { reason } => format!("NO EFFECT ({reason})"),
    }
}

fn day_of(e: &EventRef) -> String {
    Date::from_unix_ms(e.timestamp_ms).to_string()
}

pub fn list(c: &Client, a: &ReadArgs, json_out: bool) -> CmdResult {
    let view = match &a.data_dir {
        Some(d) => timeline_view(offline_timeline(d)?.as_ref()),
        None => fetch_governance(c)?,
    };
    if json_out {
        println!(
            "{}",
            serde_json::to_string(&view).map_err(|e| Failure::usage(e.to_string()))?
        );
        return Ok(OK);
    }
    if view.decisions.is_empty() {
        println!("no governance proposals yet");
    } else {
        let mut t = Table::new(&[
            "ID",
            "EFFECTIVE",
            "STATUS",
            "APPROVALS",
            "PROPOSED BY",
            "KIND",
            "DECISION",
        ]);
        for d in &view.decisions {
            let (status, why) = match &d.status {
                DecisionStatus::Refused { reason } | DecisionStatus::NoEffect { reason } => {
                    (d.status.word(), format!(" ({reason})"))
                }
                s => (s.word(), String::new()),
            };
            t.row(vec![
                short(&d.proposal.id.to_hex()),
                d.effective_on.to_string(),
                status.to_owned(),
                format!("{}/{}", d.approved_by.len(), d.needed),
                d.proposal.author.to_string(),
                d.decision.kind().to_owned(),
                format!("{}{why}", d.summary),
            ]);
        }
        print!("{}", t.render());
        let count = |w: &str| {
            view.decisions
                .iter()
                .filter(|d| d.status.word() == w)
                .count()
        };
        println!(
            "\n{} proposal(s): {} adopted, {} pending, {} refused, {} with no effect",
            view.decisions.len(),
            count("adopted"),
            count("pending"),
            count("refused"),
            count("no_effect")
        );
    }
    println!(
        "quorum {} of the participants in good standing; chair {}",
        view.quorum, view.chair
    );
    if !view.orphan_approvals.is_empty() {
        println!(
            "{} approval(s) name a proposal this node does not hold (yet):",
            view.orphan_approvals.len()
        );
        for o in &view.orphan_approvals {
            println!(
                "  {} by {} (seq {}, event {})",
                short(&o.proposal.to_hex()),
                o.event.author,
                o.event.seq,
                short(&o.event.id.to_hex())
            );
        }
    }
    if !view.decisions.is_empty() {
        println!("`kpl gov show ID` shows a proposal with each approval");
    }
    Ok(OK)
}

pub fn show(c: &Client, a: &GovShowArgs, json_out: bool) -> CmdResult {
    let id = id_arg(&a.proposal)?;
    let d: DecisionRecord = match (&a.read.data_dir, id) {
        (Some(dir), id) => {
            let t = offline_timeline(dir)?;
            match id {
                IdArg::Full(id) => t
                    .decision(&id)
                    .cloned()
                    .ok_or_else(|| not_found(&a.proposal))?,
                IdArg::Prefix(p) => by_prefix(t.decisions(), &p)?.clone(),
            }
        }
        (None, IdArg::Full(id)) => {
            c.call_opt(|n| n.decision(&id.to_hex()))?
                .ok_or_else(|| not_found(&a.proposal))?
                .0
        }
        (None, IdArg::Prefix(p)) => by_prefix(&fetch_governance(c)?.decisions, &p)?.clone(),
    };
    let code = match d.status {
        DecisionStatus::Adopted | DecisionStatus::Pending => OK,
        DecisionStatus::Refused { .. } | DecisionStatus::NoEffect { .. } => FOUND,
    };
    if json_out {
        println!(
            "{}",
            serde_json::to_string(&d).map_err(|e| Failure::usage(e.to_string()))?
        );
        return Ok(code);
    }
    let list = |v: &[CountryCode]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!("proposal   {}", d.proposal.id.to_hex());
    println!("decision   {}", d.summary);
    println!(
        "detail     {}",
        serde_json::to_string(&d.decision).unwrap_or_default()
    );
    println!("reference  {}", d.reference);
    println!(
        "proposed   {} by {} (seq {})",
        day_of(&d.proposal),
        d.proposal.author,
        d.proposal.seq
    );
    println!("effective  {}", d.effective_on);
    println!("status     {}", status_text(&d.status));
    println!(
        "quorum     {} of {} participants in good standing needed; {} approved: {}",
        d.needed,
        d.eligible.len(),
        d.approved_by.len(),
        list(&d.approved_by)
    );
    println!("eligible   {}", list(&d.eligible));
    if d.status == DecisionStatus::Pending {
        let missing: Vec<CountryCode> = d
            .eligible
            .iter()
            .filter(|c| !d.approved_by.contains(c))
            .copied()
            .collect();
        println!(
            "waiting    {} more approval(s), from any of: {}",
            d.needed.saturating_sub(d.approved_by.len()),
            list(&missing)
        );
    }
    println!();
    if d.approvals.is_empty() {
        println!("no approvals yet (the proposer's participant approves by proposing)");
    } else {
        let mut t = Table::new(&["DATE", "APPROVER", "SEQ", "EVENT", "COUNTED", "WHY NOT"]);
        for ap in &d.approvals {
            t.row(vec![
                day_of(&ap.event),
                ap.event.author.to_string(),
                format!("#{}", ap.event.seq),
                short(&ap.event.id.to_hex()),
                if ap.counted { "yes" } else { "no" }.into(),
                ap.reason.clone().unwrap_or_default(),
            ]);
        }
        print!("{}", t.render());
        println!(
            "\n{} approval event(s), {} counted; the proposer's participant ({}) approves by proposing",
            d.approvals.len(),
            d.approvals.iter().filter(|a| a.counted).count(),
            d.proposal.author.participant
        );
    }
    Ok(code)
}

// ------------------------------------------------------------------ members

/// `GET /v1/members`, as the CLI reads it.
#[derive(Serialize, Deserialize)]
struct MembersView {
    at: Date,
    chair: String,
    participants: Vec<MemberRecord>,
    #[serde(default)]
    observers: Vec<ObserverView>,
}

#[derive(Serialize, Deserialize)]
struct ObserverView {
    id: String,
    name: String,
    #[serde(default)]
    nodes: Vec<String>,
}

/// A peer id shortened for a table: its last 8 characters (they all start `12D3KooW`).
fn short_peer(p: &str) -> String {
    let n = p.chars().count();
    if n <= 10 {
        return p.to_owned();
    }
    format!("…{}", p.chars().skip(n - 8).collect::<String>())
}

pub fn members(c: &Client, a: &MembersArgs, json_out: bool) -> CmdResult {
    let at =
        a.at.as_deref()
            .map(|d| {
                d.parse::<Date>()
                    .map_err(|e| Failure::usage(format!("--at: {e}")))
            })
            .transpose()?;
    let v: Value = match &a.data_dir {
        Some(dir) => {
            let t = offline_timeline(dir)?;
            let day = at.unwrap_or_else(today);
            let m = t.at(day);
            json!({
                "at": day,
                "chair": m.chair,
                "participants": m.participants.values().collect::<Vec<_>>(),
                "observers": m.observers.values().collect::<Vec<_>>(),
            })
        }
        None => {
            let day = at.map(|d| d.to_string());
            let m = c.call(|n| n.members(day.as_deref()))?;
            serde_json::to_value(m).map_err(bad_answer)?
        }
    };
    let view: MembersView = serde_json::from_value(v.clone()).map_err(bad_answer)?;
    if json_out {
        println!("{v}");
        return Ok(OK);
    }
    println!("membership on {}; chair {}\n", view.at, view.chair);
    let mut t = Table::new(&[
        "CODE",
        "NAME",
        "STANDING",
        "EXPORTING ZONES",
        "AUTHORITIES",
        "NODES",
        "ADMITTED",
    ]);
    for p in &view.participants {
        let (standing, zones) = match &p.standing {
            Standing::Member => ("member", "-".to_owned()),
            Standing::Suspended { exporting_zones } if exporting_zones.is_empty() => {
                ("suspended", "none (no trade at all)".to_owned())
            }
            Standing::Suspended { exporting_zones } => ("suspended", exporting_zones.join(", ")),
            Standing::Expelled => ("expelled", "-".to_owned()),
        };
        let authorities: Vec<String> = p
            .authorities
            .values()
            .map(|e| {
                let rs: Vec<&str> = e.roles.iter().map(Role::name).collect();
                format!("{} ({})", e.name, rs.join(","))
            })
            .collect();
        let nodes: Vec<String> = p.nodes.iter().map(|n| short_peer(n)).collect();
        t.row(vec![
            p.code.to_string(),
            p.name.clone(),
            standing.to_owned(),
            zones,
            if authorities.is_empty() {
                "-".into()
            } else {
                authorities.join("; ")
            },
            if nodes.is_empty() {
                "-".into()
            } else {
                nodes.join(" ")
            },
            p.admitted_on
                .map(|d| d.to_string())
                .unwrap_or_else(|| "charter".into()),
        ]);
    }
    print!("{}", t.render());
    let n = |f: fn(&Standing) -> bool| view.participants.iter().filter(|p| f(&p.standing)).count();
    println!(
        "\n{} participant(s): {} in good standing, {} suspended, {} expelled",
        view.participants.len(),
        n(|s| *s == Standing::Member),
        n(|s| matches!(s, Standing::Suspended { .. })),
        n(|s| *s == Standing::Expelled)
    );
    if view.observers.is_empty() {
        println!("no observers");
    } else {
        println!("\nobservers\n");
        let mut o = Table::new(&["ID", "NAME", "NODES"]);
        for ob in &view.observers {
            o.row(vec![
                ob.id.clone(),
                ob.name.clone(),
                ob.nodes
                    .iter()
                    .map(|n| short_peer(n))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]);
        }
        print!("{}", o.render());
    }
    Ok(OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspension_zones_are_sorted_once() {
        let d = decision_from(&ProposeKind::Suspend {
            participant: "CF".into(),
            except_zones: vec!["Carnot".into(), " Berberati".into(), "Carnot".into()],
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"suspend": {"participant": "CF", "exporting_zones": ["Berberati", "Carnot"]}})
        );
    }

    #[test]
    fn kinds_build_the_documented_json() {
        let d = decision_from(&ProposeKind::AddNode {
            member: "wdc".into(),
            peer_id: "12D3KooWGqzYu9ysupH58b8wQL38JkAxWBGUBC3yCje3L15tD75M".into(),
            observer: true,
        })
        .unwrap();
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            json!({"add_node": {"member": {"observer": "wdc"},
                "peer_id": "12D3KooWGqzYu9ysupH58b8wQL38JkAxWBGUBC3yCje3L15tD75M"}})
        );
        let d = decision_from(&ProposeKind::RemoveAuthority {
            author: "BW/mme".into(),
        })
        .unwrap();
        assert_eq!(d.kind(), "remove_authority");
        assert!(decision_from(&ProposeKind::RemoveAuthority {
            author: "BW".into()
        })
        .is_err());
        assert!(decision_from(&ProposeKind::Expel {
            participant: "Venezuela".into()
        })
        .is_err());
    }

    #[test]
    fn proposal_ids_and_prefixes() {
        let full = "ab".repeat(32);
        assert!(matches!(id_arg(&full), Ok(IdArg::Full(_))));
        assert!(matches!(id_arg("E93B95"), Ok(IdArg::Prefix(p)) if p == "e93b95"));
        assert!(id_arg("abc").is_err());
        assert!(id_arg("xyz123").is_err());
        assert!(id_arg(&"a".repeat(65)).is_err());
    }

    #[test]
    fn peer_ids_shorten_to_their_tail() {
        assert_eq!(
            short_peer("12D3KooWGqzYu9ysupH58b8wQL38JkAxWBGUBC3yCje3L15tD75M"),
            "…L15tD75M"
        );
        assert_eq!(short_peer("short"), "short");
    }
}
