//! The endpoints that sign an event of this node's authority: certificates
//! (one, or a batch), import confirmations, voids, corrections and key
//! rotations. Each is answered once its event is durable.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kpl_api::error::codes;
use kpl_api::types::{
    BatchRefusal, BatchResponse, BatchResult, RotateReceipt, SignedDespite, WriteReceipt,
};
use ledger_core::{Certificate, Correction, Digest, EventBody, ImportConfirmation, VoidReason};
use serde::Deserialize;
use serde_json::Value;

use super::auth::writer;
use super::error::{body_field, refusal_error};
use super::{blocking, force_of, ApiError, AppState, QueryResult, WriteQuery};
use crate::service::{Checked, Identity, Node, WriteError};

/// Most certificates in one batch request.
const MAX_BATCH: usize = 1000;

type Receipt = Result<Json<WriteReceipt>, ApiError>;

/// The answer for one checked write: its place, whether it had been signed
/// before (a retry), and the refusal it was signed despite; a refusal is
/// `409` (a conflict with the ledger) or `422` with the rule as its code.
pub(super) fn checked_receipt(c: Checked) -> Result<WriteReceipt, ApiError> {
    let receipt = |id: Digest, seq| WriteReceipt {
        already_signed: None,
        author: None,
        durable: true,
        id: id.to_string(),
        seq,
        signed_despite: None,
    };
    match c {
        Checked::Signed(id, seq) => Ok(receipt(id, seq)),
        Checked::AlreadySigned(id, seq) => Ok(WriteReceipt {
            already_signed: Some(true),
            ..receipt(id, seq)
        }),
        Checked::SignedAnyway(id, seq, r) => Ok(WriteReceipt {
            signed_despite: Some(SignedDespite {
                message: r.message,
                rule: r.rule.to_owned(),
            }),
            ..receipt(id, seq)
        }),
        Checked::Refused(r) => Err(refusal_error(r)),
    }
}

/// Checks, signs and answers one body.
pub(super) async fn write_one(
    node: &Arc<Node>,
    body: EventBody,
    force: bool,
) -> Result<WriteReceipt, ApiError> {
    let mut out = node.write_checked(vec![body], force).await?;
    match out.pop() {
        Some(c) => checked_receipt(c),
        None => Err(ApiError::internal("a write lost its outcome")),
    }
}

pub(super) async fn issue(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: QueryResult<WriteQuery>,
    body: Result<Json<Certificate>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(mut cert) = body?;
    fill_issuing_authority(&node, &mut cert);
    Ok(Json(
        write_one(&node, EventBody::CertificateIssued(cert), force).await?,
    ))
}

/// An empty issuing authority defaults to the authority's title in the
/// charter (or in the decision that admitted it).
fn fill_issuing_authority(node: &Node, cert: &mut Certificate) {
    if cert.issuing_authority.is_empty() {
        if let Identity::Authority { author, .. } = &node.identity {
            if let Some(a) = node.author_entry(author) {
                cert.issuing_authority = a.title.clone();
            }
        }
    }
}

pub(super) async fn issue_batch(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: QueryResult<WriteQuery>,
    body: Result<Json<Vec<Value>>, JsonRejection>,
) -> Result<Json<BatchResponse>, ApiError> {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(items) = body?;
    if items.len() > MAX_BATCH {
        return Err(ApiError::bad(
            "",
            format!("at most {MAX_BATCH} certificates per batch"),
        ));
    }
    let Identity::Authority { author, .. } = &node.identity else {
        return Err(WriteError::ReadOnly.into());
    };
    // Check each certificate first so one bad row does not sink the batch.
    let mut results: Vec<Option<BatchResult>> = vec![None; items.len()];
    let mut good = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<Certificate>(item) {
            Ok(mut cert) => {
                fill_issuing_authority(&node, &mut cert);
                let body = EventBody::CertificateIssued(cert);
                match ledger_core::validate::validate_body(author, &body) {
                    Ok(()) => {
                        let number = body.certificate_number().unwrap_or("").to_owned();
                        if !seen.insert(number.clone()) {
                            results[i] = Some(refused(
                                None,
                                Some("number".to_owned()),
                                format!("{number} appears twice in this batch"),
                            ));
                        } else {
                            good.push((i, body));
                        }
                    }
                    Err(e) => results[i] = Some(refused(None, Some(body_field(&e)), e.to_string())),
                }
            }
            Err(e) => {
                let m = e.to_string();
                let field = m.split('`').nth(1).unwrap_or("").to_owned();
                results[i] = Some(refused(None, Some(field), m));
            }
        }
    }
    if !good.is_empty() {
        let (idx, bodies): (Vec<usize>, Vec<EventBody>) = good.into_iter().unzip();
        let out = node.write_checked(bodies, force).await?;
        for (i, c) in idx.into_iter().zip(out) {
            results[i] = Some(match checked_receipt(c) {
                Ok(v) => BatchResult::Written(v),
                Err(e) => refused(Some(e.code.to_owned()), e.field, e.message),
            });
        }
    }
    // Every place is filled: each item was refused above or written here.
    let results = results.into_iter().flatten().collect();
    Ok(Json(BatchResponse { results }))
}

fn refused(code: Option<String>, field: Option<String>, message: String) -> BatchResult {
    BatchResult::Refused {
        error: BatchRefusal {
            code,
            field,
            message,
        },
    }
}

pub(super) async fn confirm(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: QueryResult<WriteQuery>,
    body: Result<Json<ImportConfirmation>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(c) = body?;
    Ok(Json(
        write_one(&node, EventBody::ImportConfirmed(c), force).await?,
    ))
}

/// The body of `POST /v1/voids`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    pub certificate: String,
    pub reason: VoidReason,
    #[serde(default)]
    pub note: String,
}

pub(super) async fn void(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: QueryResult<WriteQuery>,
    body: Result<Json<VoidRequest>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(v) = body?;
    let body = EventBody::CertificateVoided {
        certificate: v.certificate,
        reason: v.reason,
        note: v.note,
    };
    Ok(Json(write_one(&node, body, force).await?))
}

/// The body of `POST /v1/corrections`.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct CorrectionRequest {
    pub certificate: String,
    /// Id of the issue event corrected; default: the certificate's issue event.
    pub original: Option<Digest>,
    pub correction: Correction,
    pub note: String,
}

pub(super) async fn correct(
    State(node): State<AppState>,
    headers: HeaderMap,
    q: QueryResult<WriteQuery>,
    body: Result<Json<CorrectionRequest>, JsonRejection>,
) -> Receipt {
    writer(&node, &headers)?;
    let force = force_of(q)?;
    let Json(c) = body?;
    let original = match c.original {
        Some(o) => o,
        None => {
            let svc = node.clone();
            let n = c.certificate.clone();
            let rec = blocking(move || svc.certificate_record(&n)).await?;
            rec.issued.first().map(|s| s.id).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    codes::UNKNOWN_CERTIFICATE,
                    format!(
                        "{} was never issued in this node's replica: nothing to correct",
                        c.certificate
                    ),
                )
            })?
        }
    };
    let body = EventBody::CertificateCorrected {
        certificate: c.certificate,
        original,
        correction: c.correction,
        note: c.note,
    };
    Ok(Json(write_one(&node, body, force).await?))
}

pub(super) async fn rotate(
    State(node): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<RotateReceipt>, ApiError> {
    writer(&node, &headers)?;
    let (id, seq, kf) = node.rotate_key().await?;
    Ok(Json(RotateReceipt {
        durable: true,
        id: id.to_string(),
        new_public_key: kf.public_key.to_string(),
        next_key_digest: kf.next_key_digest.to_string(),
        seq,
    }))
}
