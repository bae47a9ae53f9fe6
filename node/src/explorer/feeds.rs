//! Every feed: its size and head, its latest checkpoint (size, root, when
//! it was cosigned) with the witnesses that cosigned it, and the verifier
//! key of its checkpoints (as `GET /v1/keys` publishes it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use ledger_core::tlog::note::Ed25519Verifier;

use super::html::{esc, event_link, time_ms, Nav, Table};
use super::{blocking, Page, PageError};
use crate::service::Node;

/// A witness's key name said briefly: `ZA/mme`, `observer wdc`.
fn witness_short(name: &str) -> String {
    match name.rsplit_once("/witness/") {
        Some((_, w)) => match w.strip_prefix("observer/") {
            Some(o) => format!("observer {o}"),
            None => w.to_owned(),
        },
        None => name.to_owned(),
    }
}

pub async fn page(node: &Arc<Node>) -> Result<Page, PageError> {
    let ledger = node.ledger.clone();
    let (heads, states) = blocking(move || {
        let heads = ledger
            .heads()
            .map_err(|e| PageError::internal(e.to_string()))?;
        let mut states = BTreeMap::new();
        for h in &heads {
            let s = ledger
                .feed_state(&h.author)
                .map_err(|e| PageError::internal(e.to_string()))?;
            states.insert(h.author.clone(), s);
        }
        Ok((heads, states))
    })
    .await?;
    let checkpoints: BTreeMap<_, _> = node.checkpoints.all_latest().into_iter().collect();
    let timeline = node.ledger.timeline();
    let mut t = Table::new(
        "feeds",
        &[
            "Feed",
            "Events",
            "Head",
            "Checkpoint size",
            "Root",
            "Last cosigned",
            "Cosigned by",
        ],
    )
    .numeric(&[1, 3]);
    let mut keys = Table::new(
        "keys",
        &["Feed", "Key since seq", "Checkpoint verifier key"],
    );
    for h in &heads {
        let (size, root, when, by) = match checkpoints.get(&h.author) {
            Some(s) => {
                let cos = crate::checkpoints::cosignatures(&s.note, &s.checkpoint.origin);
                let last = cos.iter().map(|(_, ts)| *ts).max();
                let names: Vec<String> = cos.iter().map(|(w, _)| esc(&witness_short(w))).collect();
                let root = s.checkpoint.root.to_hex();
                (
                    s.checkpoint.size.to_string(),
                    format!(
                        "<code title=\"{}\">{}…</code>",
                        esc(&root),
                        esc(&root[..12.min(root.len())])
                    ),
                    last.map(|ts| esc(&time_ms(ts.saturating_mul(1000))))
                        .unwrap_or_else(|| "not cosigned yet".into()),
                    if names.is_empty() {
                        "none yet".to_owned()
                    } else {
                        names.join(", ")
                    },
                )
            }
            None => (
                "none yet".into(),
                String::new(),
                String::new(),
                String::new(),
            ),
        };
        let behind = matches!(checkpoints.get(&h.author), Some(s) if s.checkpoint.size < h.seq);
        t.row_class(
            if behind { "behind" } else { "" },
            vec![
                esc(&h.author.to_string()),
                h.seq.to_string(),
                h.id.as_ref()
                    .map(event_link)
                    .unwrap_or_else(|| "empty".into()),
                size,
                root,
                when,
                by,
            ],
        );
        let state = states.get(&h.author).and_then(|s| s.as_ref());
        let (key, since) = match state {
            Some(s) => (
                s.keys.last().map(|e| e.key),
                s.keys.last().map_or(1, |e| e.from_seq),
            ),
            None => (timeline.genesis_entry(&h.author).map(|e| e.key), 1),
        };
        let Some(key) = key else { continue };
        let origin = node
            .checkpoints
            .origin(&h.author)
            .map_err(|e| PageError::internal(e.to_string()))?;
        let vkey = Ed25519Verifier::new(&origin, &key)
            .map(|v| v.verifier_key().to_string())
            .map_err(|e| PageError::internal(e.to_string()))?;
        keys.row(vec![
            esc(&h.author.to_string()),
            since.to_string(),
            format!("<code class=\"key\">{}</code>", esc(&vkey)),
        ]);
    }
    let mut body = String::new();
    let _ = write!(
        body,
        "<p class=\"lead\">{} feeds, {} events. Each feed is a transparency log of its author's events; \
         its author signs checkpoints of it and the other nodes cosign them as witnesses once they match their own replicas.</p>",
        heads.len(),
        heads.iter().map(|h| h.seq).sum::<u64>()
    );
    body.push_str(&t.render());
    body.push_str("<section><h2>Verifier keys</h2><p class=\"sub\">The note verifier key of each feed's checkpoints, for any C2SP tool \
                   (all key material: <a href=\"/v1/keys\">/v1/keys</a>). It changes when the feed's key is rotated.</p>");
    body.push_str(&keys.render());
    body.push_str("</section>");
    Ok(Page {
        nav: Nav::Feeds,
        title: "Feeds and checkpoints".into(),
        body,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn witness_names_are_said_briefly() {
        assert_eq!(
            super::witness_short("kp-ledger.example/kp/a358/witness/ZA/mme"),
            "ZA/mme"
        );
        assert_eq!(
            super::witness_short("kp-ledger.example/kp/a358/witness/observer/wdc"),
            "observer wdc"
        );
        assert_eq!(super::witness_short("odd"), "odd");
    }
}
