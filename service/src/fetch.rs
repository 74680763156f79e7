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
use std::sync::Arc;
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

/// How a client finds addresses: the system's DNS for the URL's host, or, for the client of a
/// mapped cluster, its host (an address, or a name the system resolves) whatever the URL says.
#[derive(Clone, Default)]
struct Resolve(Option<Arc<str>>);

impl tower_service::Service<Name> for Resolve {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = match &self.0 {
            Some(to) => to.to_string(),
            None => name.as_str().to_string(),
        };
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

type Http = Legacy<hyper_rustls::HttpsConnector<HttpConnector<Resolve>>, Full<Bytes>>;

/// An HTTP client (its connections pooled across workers) resolving as `resolve` says.
fn http(resolve: Resolve) -> Result<Http, String> {
    let mut connector = HttpConnector::new_with_resolver(resolve);
    connector.enforce_http(false);
    let tls = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("cannot read the system's trusted roots: {e}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    Ok(Legacy::builder(TokioExecutor::new()).build(tls))
}

/// The service's HTTP clients: one for calls to their URL's host, and one per mapped cluster,
/// so no cluster's calls (or pooled connections) ever go to another's host.
pub struct Client {
    runtime: tokio::runtime::Handle,
    http: Http,
    /// `--cluster NAME=HOST:PORT`: the client and the host and port of cluster NAME.
    clusters: HashMap<String, (Http, (String, u16))>,
}

impl Client {
    /// Clients on the current tokio runtime; `Err` when it has none or the system's roots
    /// cannot be read.
    pub fn new(clusters: &[(String, (String, u16))]) -> Result<Client, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| format!("the HTTP client needs the runtime: {e}"))?;
        let mut mapped = HashMap::new();
        for (name, (host, port)) in clusters {
            let client = http(Resolve(Some(Arc::from(host.as_str()))))?;
            mapped.insert(name.clone(), (client, (host.clone(), *port)));
        }
        Ok(Client {
            runtime,
            http: http(Resolve::default())?,
            clusters: mapped,
        })
    }

    /// Sends `call`; its answer goes to `deliver` under `token`, whatever happens (no answer
    /// is an answer with no status).
    pub fn send(&self, call: &Callout, token: u32, deliver: Deliver) -> Result<(), String> {
        let mut request = request_of(call)?;
        let http = match self.clusters.get(call.cluster) {
            Some((client, at)) => {
                route(&mut request, at)?;
                client.clone()
            }
            None => self.http.clone(),
        };
        let timeout = Duration::from_millis(call.timeout_ms.max(1));
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

/// Sends `request` to `to`:`port` (a mapped cluster's) while `Host` keeps the URL's authority.
/// A URL host that is a name stays the TLS server name (the cluster's client resolves it as
/// the cluster's host); one that is an address is replaced by the cluster's host.
fn route(
    request: &mut hyper::Request<Full<Bytes>>,
    (to, port): &(String, u16),
) -> Result<(), String> {
    let uri = request.uri().clone();
    let named = uri.host().ok_or("the call has no host")?;
    if let Some(authority) = uri.authority() {
        if let Ok(v) = hyper::header::HeaderValue::from_str(authority.as_str()) {
            request.headers_mut().insert(hyper::header::HOST, v);
        }
    }
    let host = match named.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(_) => match to.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{to}]"),
            Err(_) => to.clone(),
        },
        Err(_) => named.to_string(),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let scheme = uri.scheme_str().unwrap_or("http");
    *request.uri_mut() = format!("{scheme}://{host}:{port}{path}")
        .parse()
        .map_err(|e| format!("cannot route the call to {to}:{port}: {e}"))?;
    Ok(())
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

    #[test]
    fn a_mapped_cluster_keeps_the_urls_name_and_host_header() {
        let mut r = call_to("idp.example.com");
        route(&mut r, &("keycloak.auth".into(), 8443)).unwrap();
        assert_eq!(r.uri().to_string(), "https://idp.example.com:8443/jwks?x=1");
        assert_eq!(r.headers()["host"], "idp.example.com");
    }

    #[test]
    fn a_url_with_an_address_goes_to_the_clusters_host() {
        let mut r = call_to("10.0.0.1:5556");
        route(&mut r, &("::1".into(), 9000)).unwrap();
        assert_eq!(r.uri().to_string(), "https://[::1]:9000/jwks?x=1");
        assert_eq!(r.headers()["host"], "10.0.0.1:5556");
    }

    #[tokio::test]
    async fn each_mapped_cluster_resolves_to_its_own_host() {
        let client = Client::new(&[
            ("a".into(), ("10.0.0.1".into(), 80)),
            ("b".into(), ("10.0.0.2".into(), 80)),
        ])
        .unwrap();
        let mut a = tower_service::Service::call(
            &mut Resolve(Some(Arc::from("10.0.0.1"))),
            "idp.example.com".parse().unwrap(),
        );
        let got: Vec<_> = (&mut a).await.unwrap().collect();
        assert_eq!(got, vec!["10.0.0.1:0".parse::<SocketAddr>().unwrap()]);
        assert_eq!(client.clusters.len(), 2);
        assert!(client.clusters["a"].1 != client.clusters["b"].1);
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
