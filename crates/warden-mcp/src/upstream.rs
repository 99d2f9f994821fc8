//! The HTTP proxy's connections to its upstream Streamable HTTP MCP server.
//!
//! A plain `http://` upstream (a sidecar or a server on the same host, the common case) is
//! reached through hyper's own pooled client; `https://` goes through `reqwest` for its TLS
//! set-up (rustls with the platform's trust store). Why not `reqwest` for both: on every
//! request it re-parses the address for its redirect policy (a proxy never follows redirects)
//! and runs its retry and redirect layers, about 20,000 instructions per forwarded call, a
//! tenth of the gateway's own work (docs/mcp.md). Both paths give the answer as an
//! `http::Response` whose body streams, so the relay does not care which one carried it.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, Method, Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Request headers passed upstream.
const FORWARD: [&str; 5] = [
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// How long an idle pooled connection to the upstream is kept (as `reqwest` does).
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(90);

/// One set of connections to the upstream.
pub(crate) struct Upstream {
    link: Link,
}

enum Link {
    Plain {
        client: Client<HttpConnector, Full<Bytes>>,
        uri: Uri,
    },
    Tls {
        client: reqwest::Client,
        url: reqwest::Url,
    },
}

impl Upstream {
    /// Connections to the MCP endpoint at `url` (an error when it is not an http(s) URL).
    pub(crate) fn new(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("server.url `{url}` is not a URL: {e}"))?;
        let link = match parsed.scheme() {
            "http" => Link::Plain {
                client: plain_client(),
                uri: url
                    .parse()
                    .map_err(|e| format!("server.url `{url}` is not a URL: {e}"))?,
            },
            "https" => Link::Tls {
                client: reqwest::Client::new(),
                url: parsed,
            },
            s => return Err(format!("server.url `{url}`: `{s}` is not http or https")),
        };
        Ok(Upstream { link })
    }

    /// The same upstream with connections of its own (for another worker thread).
    pub(crate) fn fresh(&self) -> Self {
        let link = match &self.link {
            Link::Plain { uri, .. } => Link::Plain {
                client: plain_client(),
                uri: uri.clone(),
            },
            Link::Tls { url, .. } => Link::Tls {
                client: reqwest::Client::new(),
                url: url.clone(),
            },
        };
        Upstream { link }
    }

    /// Sends `body` with `method` and the client's MCP headers (those of `headers` that are
    /// passed on); the answer's head, its body still to come. The error says why the server
    /// could not be reached.
    pub(crate) async fn send(
        &self,
        method: Method,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<Body>, String> {
        match &self.link {
            Link::Plain { client, uri } => {
                let mut req = Request::new(Full::new(body));
                *req.method_mut() = method;
                *req.uri_mut() = uri.clone();
                copy_forwarded(headers, req.headers_mut());
                match client.request(req).await {
                    Ok(r) => Ok(r.map(Body::new)),
                    Err(e) => Err(chain(&e)),
                }
            }
            Link::Tls { client, url } => {
                let mut h = HeaderMap::new();
                copy_forwarded(headers, &mut h);
                let sent = client.request(method, url.clone()).headers(h).body(body);
                match sent.send().await {
                    Ok(r) => Ok(Response::from(r).map(Body::new)),
                    Err(e) => Err(chain(&e)),
                }
            }
        }
    }
}

fn plain_client() -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    // Small JSON-RPC messages: sent at once, not held back for more (as `reqwest` sets it).
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// The client's headers that go upstream (`FORWARD`); its `Authorization` never does.
fn copy_forwarded(from: &HeaderMap, to: &mut HeaderMap) {
    for h in FORWARD {
        if let Some(v) = from.get(h) {
            to.insert(HeaderName::from_static(h), v.clone());
        }
    }
}

/// An error with its causes (hyper's own message is only "client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_upstreams() {
        assert!(Upstream::new("http://127.0.0.1:1/mcp").is_ok());
        assert!(Upstream::new("https://example.com/mcp").is_ok());
        let e = Upstream::new("ftp://example.com/mcp")
            .err()
            .unwrap_or_default();
        assert!(e.contains("not http or https"), "{e}");
        let e = Upstream::new("not a url").err().unwrap_or_default();
        assert!(e.contains("is not a URL"), "{e}");
    }

    #[test]
    fn the_clients_credential_is_not_forwarded() {
        let mut from = HeaderMap::new();
        from.insert("authorization", "Bearer secret".parse().unwrap());
        from.insert("mcp-session-id", "s1".parse().unwrap());
        let mut to = HeaderMap::new();
        copy_forwarded(&from, &mut to);
        assert_eq!(to.len(), 1);
        assert_eq!(to["mcp-session-id"], "s1");
    }

    #[tokio::test]
    async fn an_unreachable_upstream_says_why() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let up = Upstream::new(&format!("http://127.0.0.1:{port}/mcp")).unwrap();
        let e = up
            .send(Method::POST, &HeaderMap::new(), Bytes::new())
            .await
            .err()
            .unwrap_or_default();
        assert!(e.to_lowercase().contains("connect"), "{e}");
    }
}
