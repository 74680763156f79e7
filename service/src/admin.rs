//! The admin address: `/healthz` (the process answers), `/ready` (a configuration is in
//! force and every worker has its remote key sets, or gave their first fetch its time), `/metrics` (the filter's counters in Prometheus' text format), `/stats` (the same
//! counters under the filter's dotted names, as JSON in the shape of Envoy's
//! `/stats?format=json`).

use super::host::Counters;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Serves the admin address until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    counters: Arc<Counters>,
    ready: Arc<AtomicUsize>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait a little rather than spin.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let (counters, ready) = (Arc::clone(&counters), Arc::clone(&ready));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let answer = answer(req.uri().path(), &counters, &ready);
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

fn answer(path: &str, counters: &Counters, ready: &AtomicUsize) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/healthz" => (200, "text/plain", "ok\n".to_string()),
        "/ready" if ready.load(Ordering::Relaxed) == 0 => {
            (200, "text/plain", "ready\n".to_string())
        }
        "/ready" => (503, "text/plain", "not ready\n".to_string()),
        "/metrics" => (200, "text/plain; version=0.0.4", counters.prometheus()),
        "/stats" => (200, "application/json", counters.json()),
        _ => (404, "text/plain", "not found\n".to_string()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}
