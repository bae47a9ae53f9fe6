//! The observers' web explorer: read-only HTML pages under `/explorer`,
//! rendered on the server from this node's replica (no JavaScript needed,
//! nothing fetched from elsewhere: the stylesheet is compiled in).
//!
//! - [`search`]: the home page, certificates by number, participant and period.
//! - [`certificate`]: one certificate's lifecycle and its provenance tree.
//! - [`audit`]: audit findings with filters.
//! - [`stats`]: KP statistics of a period, with a bar chart and the mirror table.
//! - [`feeds`]: feeds, latest checkpoints, their witnesses, verifier keys.
//! - [`members`]: the membership timeline and the governance decisions.
//! - [`proofs`]: fork proofs and split-view proofs.
//! - [`html`]: escaping, the layout, tables, the bounded query parser;
//!   [`tree`]: the provenance tree as inline SVG.
//!
//! Pages that run the analysis (search, certificate, audit, statistics)
//! take their turn on the node's bounded analysis pool with the same limits
//! as `/v1/audit` ([`analysed`]), and say when the view is partial. On by
//! default; `explorer = false` in `node.toml` turns it off.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ledger_core::analysis::LedgerView;

use crate::service::Node;

pub mod audit;
pub mod certificate;
pub mod feeds;
pub mod html;
pub mod members;
pub mod proofs;
pub mod search;
pub mod stats;
pub mod tree;

use html::{esc, layout, Nav, Params};

/// The stylesheet, compiled in.
const STYLE: &str = include_str!("assets/style.css");

/// Longest certificate number a page looks up (as the API).
pub const MAX_NUMBER: usize = 64;

/// The explorer's routes, ready to merge into the API's router.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/explorer", get(search_page))
        .route("/explorer/", get(search_page))
        .route("/explorer/style.css", get(style))
        .route("/explorer/certificates/{number}", get(certificate_page))
        .route("/explorer/audit", get(audit_page))
        .route("/explorer/stats", get(stats_page))
        .route("/explorer/feeds", get(feeds_page))
        .route("/explorer/members", get(members_page))
        .route("/explorer/proofs", get(proofs_page))
        .with_state(node)
}

/// A page that could not be given: its status, a title and what to do.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: String,
    /// HTML, already escaped.
    pub message: String,
}

impl PageError {
    pub fn bad(message: impl AsRef<str>) -> PageError {
        PageError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Not a valid request".into(),
            message: esc(message.as_ref()),
        }
    }
    pub fn internal(message: impl AsRef<str>) -> PageError {
        PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Internal error".into(),
            message: esc(message.as_ref()),
        }
    }
}

/// A rendered page: its nav entry, title, body (HTML), and status.
pub struct Page {
    pub nav: Nav,
    pub title: String,
    pub body: String,
}

type PageResult = Result<Page, PageError>;

/// The response for a page: the layout around it, with headers that keep
/// a browser from running anything the page did not bring itself.
fn respond(node: &Node, nav: Nav, r: PageResult) -> Response {
    let network = node.ledger.charter().network.clone();
    let (status, html) = match r {
        Ok(p) => (StatusCode::OK, layout(&network, p.nav, &p.title, &p.body)),
        Err(e) => (
            e.status,
            layout(&network, nav, &e.title, &html::note("error", &e.message)),
        ),
    };
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
        .into_response()
}

/// Runs `f` on the node's one analysis view, exactly as the API's audit,
/// statistics and trace do ([`Node::analyse`]): admitted under the
/// per-client limit and the bound on waiting requests (`busy` pages
/// otherwise), on a thread of lowered priority, never on the async runtime,
/// after the view is brought up to date.
pub async fn analysed<T: Send + 'static>(
    node: &Arc<Node>,
    client: IpAddr,
    f: impl FnOnce(&Node, &LedgerView) -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    use crate::service::{AnalysisError, NotAdmitted};
    node.analyse(client, f).await.map_err(|e| match e {
        AnalysisError::NotAdmitted(NotAdmitted::Busy) => PageError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Busy".into(),
            message: esc(&format!(
                "{} analysis requests are already waiting for one of the {} computed at once; reload the page in a moment",
                crate::service::ANALYSIS_MAX_WAITING,
                crate::service::ANALYSIS_CONCURRENCY
            )),
        },
        AnalysisError::NotAdmitted(NotAdmitted::ClientLimit) => PageError {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many requests".into(),
            message: esc(&format!(
                "this client already has {} analysis requests computed or waiting; wait for their answers",
                crate::service::ANALYSIS_PER_CLIENT
            )),
        },
        AnalysisError::Failed(e) => PageError::internal(e),
    })?
}

/// Runs a store read on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError::internal(e.to_string()))?
}

/// The warning a page computed from a partial view carries (empty for a
/// whole view): the answer is not the ledger's.
pub fn partial_note(v: &LedgerView) -> String {
    match v.partial() {
        None => String::new(),
        Some(p) => html::note(
            "partial",
            &format!(
                "<strong>Partial answer.</strong> {} record(s) of this node's log could not be read \
                 (the first at offset {}): what follows leaves them out and must not be taken for the \
                 ledger's answer. The operator should stop the node and run <code>kpl-node check</code>, \
                 then <code>kpl-node repair</code>.",
                p.unreadable_records, p.first_offset
            ),
        ),
    }
}

fn params(q: &RawQuery) -> Result<Params, PageError> {
    Params::parse(q.0.as_deref()).map_err(PageError::bad)
}

async fn search_page(
    State(node): State<Arc<Node>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    q: RawQuery,
) -> Response {
    let r = match params(&q) {
        Ok(p) => search::page(&node, client.ip(), p).await,
        Err(e) => Err(e),
    };
    respond(&node, Nav::Search, r)
}

async fn certificate_page(
    State(node): State<Arc<Node>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(number): Path<String>,
) -> Response {
    let r = certificate::page(&node, client.ip(), number).await;
    respond(&node, Nav::Certificate, r)
}

async fn audit_page(
    State(node): State<Arc<Node>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    q: RawQuery,
) -> Response {
    let r = match params(&q) {
        Ok(p) => audit::page(&node, client.ip(), p).await,
        Err(e) => Err(e),
    };
    respond(&node, Nav::Audit, r)
}

async fn stats_page(
    State(node): State<Arc<Node>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    q: RawQuery,
) -> Response {
    let r = match params(&q) {
        Ok(p) => stats::page(&node, client.ip(), p).await,
        Err(e) => Err(e),
    };
    respond(&node, Nav::Stats, r)
}

async fn feeds_page(State(node): State<Arc<Node>>) -> Response {
    let r = feeds::page(&node).await;
    respond(&node, Nav::Feeds, r)
}

async fn members_page(State(node): State<Arc<Node>>, q: RawQuery) -> Response {
    let r = match params(&q) {
        Ok(p) => members::page(&node, p),
        Err(e) => Err(e),
    };
    respond(&node, Nav::Members, r)
}

async fn proofs_page(State(node): State<Arc<Node>>) -> Response {
    let r = proofs::page(&node).await;
    respond(&node, Nav::Proofs, r)
}
