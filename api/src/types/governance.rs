//! Governance decisions and the membership they give, as the timeline of
//! a replica says.

use ledger_core::analysis::EventRef;
use ledger_core::charter::ObserverEntry;
use ledger_core::governance::{DecisionRecord, MemberRecord};
use ledger_core::{CountryCode, Date};
use serde::{Deserialize, Serialize, Serializer};

use super::sorted;

/// `GET /v1/governance`: every decision this replica knows, with its
/// approvals and status, and approvals of proposals it does not hold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GovernanceResponse {
    #[schema(value_type = String)]
    pub chair: CountryCode,
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Vec<Object>)]
    pub decisions: Vec<DecisionRecord>,
    pub orphan_approvals: Vec<OrphanApproval>,
    pub quorum: String,
}

/// An approval of a proposal this replica does not hold (yet).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrphanApproval {
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Object)]
    pub event: EventRef,
    /// The proposal's event id.
    pub proposal: String,
}

/// `GET /v1/governance/{id}`: one decision, its approvals and status.
#[derive(Clone, Debug, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct DecisionView(pub DecisionRecord);

impl Serialize for DecisionView {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        sorted(&self.0, s)
    }
}

/// `GET /v1/members`: the membership in force on a day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MembersResponse {
    #[schema(value_type = String)]
    pub at: Date,
    #[schema(value_type = String)]
    pub chair: CountryCode,
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Vec<Object>)]
    pub observers: Vec<ObserverEntry>,
    #[serde(serialize_with = "sorted")]
    #[schema(value_type = Vec<Object>)]
    pub participants: Vec<MemberRecord>,
}
