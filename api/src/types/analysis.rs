//! What the analysis view answers with, besides ledger-core's own reports:
//! the `partial` key of an answer from a view missing unreadable records,
//! and a certificate's trace.

use ledger_core::analysis::{
    AuditParams, CertificateQuery, CertificateSummary, Finding, OriginShares, PartialData,
    TraceNode, UnreadableRecord,
};
use serde::{Deserialize, Serialize};

use super::sorted;

/// An analysis answer (`T`'s keys) and, when records of the log could not
/// be read, its `partial` key after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysed<T> {
    #[serde(flatten)]
    pub answer: T,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialView>,
}

/// How many records of the log could not be read, the first one's offset,
/// and each of them (at most 100 listed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartialView {
    pub first_offset: u64,
    pub unreadable: Vec<UnreadableView>,
    pub unreadable_records: u64,
}

impl From<&PartialData> for PartialView {
    fn from(p: &PartialData) -> PartialView {
        PartialView {
            first_offset: p.first_offset,
            unreadable: p.unreadable.iter().map(UnreadableView::from).collect(),
            unreadable_records: p.unreadable_records,
        }
    }
}

/// One unreadable stretch of the log, placed as far as it can be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnreadableView {
    pub author: Option<String>,
    pub offset: u64,
    pub reason: String,
    pub seq: Option<u64>,
    pub to: u64,
}

impl From<&UnreadableRecord> for UnreadableView {
    fn from(u: &UnreadableRecord) -> UnreadableView {
        UnreadableView {
            author: u.author.as_ref().map(|a| a.to_string()),
            offset: u.offset,
            reason: u.reason.clone(),
            seq: u.seq,
            to: u.to,
        }
    }
}

/// `GET /v1/trace/{number}`: a certificate's provenance, as a tree of
/// certificates, drawn as text, and as carats by origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TraceResponse {
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Object)]
    pub by_origin: OriginShares,
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Object)]
    pub trace: TraceNode,
    pub tree: String,
}

/// `GET /v1/audit`: the parameters the audit ran with, its findings, and
/// the exports whose destination may still confirm (not findings yet).
/// Written in this order and without a JSON tree of its own: an audit of a
/// large ledger is megabytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditResponse {
    #[schema(value_type = Object)]
    pub params: AuditParams,
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Finding>,
    #[schema(value_type = Vec<Object>)]
    pub awaiting_confirmation: Vec<CertificateSummary>,
}

/// `GET /v1/certificates`: the query as the node read it, how many
/// certificates match it, and the first `limit` of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CertificateList {
    #[schema(value_type = Object)]
    pub query: CertificateQuery,
    pub total: u64,
    #[schema(value_type = Vec<Object>)]
    pub certificates: Vec<CertificateSummary>,
}
