//! The service's remote conversations: a core `Callout` (a key set, the issuer's metadata, an
//! introspection, a token request) sent by the service itself to the configured URL — where the
//! filter hands it to an Envoy cluster — with the call's timeout, and its answer handed back to
//! the worker thread that made it, as Envoy hands a call's answer to its worker. A cluster the
//! operator maps (`--cluster NAME=ADDR:PORT`) is reached at that address, as Envoy reaches the
//! cluster's endpoint: the URL's host stays the `Host` header and the TLS server name.

use authgate::capabilities::Callout;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::{connect::HttpConnector, Client as Legacy};
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The longest answer read: the core refuses longer key sets and documents anyway.
const MAX_ANSWER: usize = 1024 * 1024;

/// A call's answer, for the worker thread that made it.
pub struct Answer {
    /// The token `dispatch` returned.
    pub token: u32,
    /// The answer's status, `None` when there was none (refused, timed out, unreadable) — what
    /// Envoy reports for a call that failed.
    pub status: Option<String>,
    /// The answer's body.
    pub body: Vec<u8>,
}

/// Where a worker thread's answers go.
pub type Deliver = Arc<dyn Fn(Answer) + Send + Sync>;

/// Host names resolved as the host of the cluster a call named (an address, or a name the
/// system resolves), before the system's DNS is asked for the name itself.
#[derive(Clone, Default)]
struct Resolve(Arc<Mutex<HashMap<String, String>>>);

impl tower_service::Service<Name> for Resolve {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let fixed = self
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name.as_str())
            .cloned();
        let host = fixed.unwrap_or_else(|| name.as_str().to_string());
        Box::pin(async move {
            // Port 0: the connector uses the URL's port, which `route` set to the cluster's.
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![SocketAddr::new(ip, 0)].into_iter());
            }
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(found.collect::<Vec<_>>().into_iter())
        })
    }
}

/// One HTTP client for the whole service (its connections are pooled across workers).
pub struct Client {
    runtime: tokio::runtime::Handle,
    http: Legacy<hyper_rustls::HttpsConnector<HttpConnector<Resolve>>, Full<Bytes>>,
    /// `--cluster NAME=HOST:PORT`: where a call that names cluster NAME goes.
    clusters: HashMap<String, (String, u16)>,
    resolve: Resolve,
}

impl Client {
    /// A client on the current tokio runtime; `Err` when it has none or the system's roots
    /// cannot be read.
    pub fn new(clusters: &[(String, (String, u16))]) -> Result<Client, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("the HTTP client needs the runtime: {e}"))?;
        let resolve = Resolve::default();
        let mut connector = HttpConnector::new_with_resolver(resolve.clone());
        connector.enforce_http(false);
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot read the system's trusted roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = Legacy::builder(TokioExecutor::new()).build(tls);
        Ok(Client {
            runtime,
            http,
            clusters: clusters.iter().cloned().collect(),
            resolve,
        })
    }

    /// Sends `call`; its answer goes to `deliver` under `token`, whatever happens (no answer
    /// is an answer with no status).
    pub fn send(&self, call: &Callout, token: u32, deliver: Deliver) -> Result<(), String> {
        let mut request = request_of(call)?;
        if let Some(at) = self.clusters.get(call.cluster) {
            self.route(&mut request, at)?;
        }
        let timeout = Duration::from_millis(call.timeout_ms.max(1));
        let http = self.http.clone();
        self.runtime.spawn(async move {
            let answer = tokio::time::timeout(timeout, async move {
                let response = http.request(request).await.ok()?;
                let status = response.status().as_u16().to_string();
                let body = Limited::new(response.into_body(), MAX_ANSWER)
                    .collect()
                    .await
                    .ok()?
                    .to_bytes();
                Some((status, body.to_vec()))
            })
            .await
            .ok()
            .flatten();
            let (status, body) = match answer {
                Some((status, body)) => (Some(status), body),
                None => (None, Vec::new()),
            };
            deliver(Answer {
                token,
                status,
                body,
            });
        });
        Ok(())
    }
}

impl Client {
    /// Sends `request` to `at` (a mapped cluster's host and port) while `Host` keeps the URL's
    /// authority. A URL host that is a name stays the TLS server name and resolves as the
    /// cluster's host; one that is an address is replaced by the cluster's host.
    fn route(
        &self,
        request: &mut hyper::Request<Full<Bytes>>,
        (to, port): &(String, u16),
    ) -> Result<(), String> {
        let uri = request.uri().clone();
        let named = uri.host().ok_or("the call has no host")?;
        let named = named.trim_matches(['[', ']']).to_string();
        if let Some(authority) = uri.authority() {
            if let Ok(v) = hyper::header::HeaderValue::from_str(authority.as_str()) {
                request.headers_mut().insert(hyper::header::HOST, v);
            }
        }
        let host = match named.parse::<IpAddr>() {
            Ok(_) => to.clone(),
            Err(_) => {
                self.resolve
                    .0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(named, to.clone());
                uri.host().unwrap_or_default().to_string()
            }
        };
        let host = match host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{host}]"),
            Err(_) => host,
        };
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let scheme = uri.scheme_str().unwrap_or("http");
        *request.uri_mut() = format!("{scheme}://{host}:{port}{path}")
            .parse()
            .map_err(|e| format!("cannot route the call to {to}:{port}: {e}"))?;
        Ok(())
    }
}

/// The HTTP request `call` describes, at its scheme, `:authority` and `:path`.
fn request_of(call: &Callout) -> Result<hyper::Request<Full<Bytes>>, String> {
    let pseudo = |name: &str| {
        call.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    };
    let authority = pseudo(":authority").ok_or("the call has no :authority")?;
    let path = pseudo(":path").unwrap_or("/");
    let uri = format!("{}://{authority}{path}", call.scheme);
    let mut request = hyper::Request::builder()
        .method(pseudo(":method").unwrap_or("GET"))
        .uri(&uri);
    for (name, value) in call.headers.iter().filter(|(k, _)| !k.starts_with(':')) {
        request = request.header(*name, *value);
    }
    let body = Full::new(Bytes::copy_from_slice(call.body.unwrap_or_default()));
    request
        .body(body)
        .map_err(|e| format!("cannot make a request of {uri}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_a_request_at_its_url() {
        let call = Callout {
            cluster: "idp",
            scheme: "https",
            headers: vec![
                (":method", "POST"),
                (":path", "/oauth/introspect"),
                (":authority", "idp.example:8443"),
                ("content-type", "application/x-www-form-urlencoded"),
            ],
            body: Some(b"token=t"),
            timeout_ms: 500,
        };
        let r = request_of(&call).unwrap();
        assert_eq!(r.method(), "POST");
        assert_eq!(
            r.uri().to_string(),
            "https://idp.example:8443/oauth/introspect"
        );
        assert_eq!(
            r.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert!(r.headers().get(":path").is_none());
    }

    fn call_to(url_authority: &'static str) -> hyper::Request<Full<Bytes>> {
        request_of(&Callout {
            cluster: "idp",
            scheme: "https",
            headers: vec![(":path", "/jwks?x=1"), (":authority", url_authority)],
            body: None,
            timeout_ms: 500,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_mapped_cluster_keeps_the_urls_name_and_host_header() {
        let client = Client::new(&[("idp".into(), ("keycloak.auth".into(), 8443))]).unwrap();
        let mut r = call_to("idp.example.com");
        client.route(&mut r, &("keycloak.auth".into(), 8443)).unwrap();
        assert_eq!(r.uri().to_string(), "https://idp.example.com:8443/jwks?x=1");
        assert_eq!(r.headers()["host"], "idp.example.com");
        let map = client.resolve.0.lock().unwrap().clone();
        assert_eq!(map.get("idp.example.com").map(String::as_str), Some("keycloak.auth"));
    }

    #[tokio::test]
    async fn a_url_with_an_address_goes_to_the_clusters_host() {
        let client = Client::new(&[]).unwrap();
        let mut r = call_to("10.0.0.1:5556");
        client.route(&mut r, &("::1".into(), 9000)).unwrap();
        assert_eq!(r.uri().to_string(), "https://[::1]:9000/jwks?x=1");
        assert_eq!(r.headers()["host"], "10.0.0.1:5556");
    }

    #[test]
    fn a_call_without_an_authority_is_refused() {
        let call = Callout {
            cluster: "idp",
            scheme: "http",
            headers: vec![(":path", "/jwks")],
            body: None,
            timeout_ms: 500,
        };
        assert!(request_of(&call).is_err());
    }
}
