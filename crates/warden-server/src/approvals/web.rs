//! The approvals web page: `GET /approvals` lists the pending approvals the signed-in approver
//! may decide, with the full call, the rule and the reasons, and Approve / Deny buttons;
//! `GET /approvals/{id}` opens one (the link in Slack and Teams messages).
//!
//! The page is static; its script signs in with the approver's API key (kept in the tab's
//! `sessionStorage`, sent as `Authorization: Bearer`) and uses the approver API, so the page
//! grants nothing the API does not. No cookies means no cross-site request forgery; the
//! Content-Security-Policy allows only this origin's script and style, and framing is refused
//! (a framed Approve button could be clickjacked).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// The page's routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/approvals", get(page))
        .route("/approvals/{id}", get(page))
        .route("/approvals/assets/app.js", get(script))
        .route("/approvals/assets/app.css", get(style))
}
