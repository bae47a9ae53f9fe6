//! Fork proofs (an author signed two events for one place of its feed)
//! and split-view proofs (an authority signed two checkpoints of its feed
//! that cannot both be honest), each with both sides.

use std::sync::Arc;

use ledger_core::SignedEvent;

use super::html::{cert_link, esc, event_link, time_ms, Nav, Table};
use super::{blocking, Page, PageError};
use crate::service::Node;

fn side(id: &ledger_core::EventId, e: &SignedEvent) -> String {
    let c = &e.content;
    let what = match &c.body {
        ledger_core::EventBody::CertificateIssued(cert) => {
            format!("issued {}", cert_link(&cert.number))
        }
        ledger_core::EventBody::ImportConfirmed(k) => {
            format!("confirmed {}", cert_link(&k.certificate))
        }
        ledger_core::EventBody::CertificateVoided { certificate, .. } => {
            format!("voided {}", cert_link(certificate))
        }
        ledger_core::EventBody::CertificateCorrected { certificate, .. } => {
            format!("corrected {}", cert_link(certificate))
        }
        other => esc(other.kind()),
    };
    format!(
        "{} <span class=\"sub\">{}</span><br>{}",
        event_link(id),
        esc(&time_ms(c.timestamp_ms)),
        what
    )
}

pub async fn page(node: &Arc<Node>) -> Result<Page, PageError> {
    let ledger = node.ledger.clone();
    let forks = blocking(move || {
        ledger
            .fork_proofs()
            .map_err(|e| PageError::internal(e.to_string()))
    })
    .await?;
    let splits = node.checkpoints.split_views();
    let mut body = String::from(
        "<p class=\"lead\">Evidence of equivocation, each checkable offline with nothing but the author's key \
         (<a href=\"/v1/forks\">/v1/forks</a> and <a href=\"/v1/split-views\">/v1/split-views</a> give the encoded proofs).</p>",
    );
    body.push_str("<section><h2>Fork proofs</h2>");
    if forks.is_empty() {
        body.push_str("<p id=\"no-forks\">No fork proof: no author has signed two events for one place of its feed.</p>");
    } else {
        let mut t = Table::new("forks", &["Author", "Seq", "First event", "Second event"]);
        for p in &forks {
            let (a, b) = p.ids();
            t.row_class(
                "finding",
                vec![
                    esc(&p.author().to_string()),
                    p.seq().to_string(),
                    side(&a, &p.first),
                    side(&b, &p.second),
                ],
            );
        }
        body.push_str(&t.render());
    }
    body.push_str("</section><section><h2>Split-view proofs</h2>");
    if splits.is_empty() {
        body.push_str("<p id=\"no-split-views\">No split-view proof: every checkpoint seen of each feed is consistent with the others.</p>");
    } else {
        let mut t = Table::new(
            "split-views",
            &["Author", "First checkpoint", "Second checkpoint", "Proof"],
        );
        for s in &splits {
            let cp = |c: &ledger_core::tlog::checkpoint::Checkpoint, note: &str| {
                format!(
                    "size {}, root <code>{}</code><pre class=\"note-text\">{}</pre>",
                    c.size,
                    esc(&c.root.to_hex()),
                    esc(note)
                )
            };
            t.row_class(
                "finding",
                vec![
                    esc(&s.author.to_string()),
                    cp(&s.view.first, &s.proof.first),
                    cp(&s.view.second, &s.proof.second),
                    format!("<code>{}</code>", esc(&s.hash.to_hex())),
                ],
            );
        }
        body.push_str(&t.render());
    }
    body.push_str("</section>");
    Ok(Page {
        nav: Nav::Proofs,
        title: "Fork and split-view proofs".into(),
        body,
    })
}
