//! The admin address: `/healthz` (the process answers), `/ready` (a configuration is in
//! force), `/metrics` (the filter's counters in Prometheus' text format).

use super::host::Counters;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Serves the admin address until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    counters: Arc<Counters>,
    ready: Arc<AtomicBool>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
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

fn answer(path: &str, counters: &Counters, ready: &AtomicBool) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/healthz" => (200, "text/plain", "ok\n".to_string()),
        "/ready" if ready.load(Ordering::Relaxed) => (200, "text/plain", "ready\n".to_string()),
        "/ready" => (503, "text/plain", "not ready\n".to_string()),
        "/metrics" => (200, "text/plain; version=0.0.4", counters.prometheus()),
        _ => (404, "text/plain", "not found\n".to_string()),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}
