//! Warden's MCP gateway. Agents reach most tools through MCP; this crate sits between any MCP
//! client and any MCP server and decides every `tools/call` on its actual arguments with the same
//! decision service as the HTTP APIs.
//!
//! - [`gate`]: the transport-free policy gate (decision input, limits, audit, answers).
//! - [`limits`]: exact rate limits and budgets (reserve before forwarding, commit or release).
//! - [`stdio`]: the stdio proxy that launches the server as a child process.
//! - [`http`]: the Streamable HTTP proxy in front of an upstream HTTP MCP server.
//! - `relay`: the upstream's answers on their way back (tracked requests, reservations held
//!   until the answer is seen, JSON and server-sent event relaying).
//! - [`aggregate`]: one Streamable HTTP endpoint over several upstreams, tools namespaced
//!   `<server>__<tool>`.
//! - [`uri_template`]: matching resource URIs against RFC 6570 templates (for the aggregated
//!   endpoint's routing).
//!
//! Approvals (the flow, Slack, Teams, the web page) live in `warden_server::approvals`, shared
//! with the decision API.

pub use warden_server::approvals::http as approvals_http;
pub mod aggregate;
pub mod gate;
pub mod http;
pub mod limits;
mod relay;
pub mod stdio;
mod upstream;
pub mod uri_template;

pub use gate::{Denials, Gate, Session, Unlisted, Verdict};
pub use limits::{LimitStore, SqliteLimits};
pub use warden_server::approvals::{Approvals, Waited};
