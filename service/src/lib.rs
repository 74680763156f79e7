//! authgate as Envoy's external authorization service (`authgate serve`): a gRPC server of
//! `envoy.service.auth.v3.Authorization/Check` over the same core and configuration as the wasm
//! filter and the native module, for a whole mesh from one deployment. A host crate: it reads a
//! check into the core's request view ([`check`]), runs it through the core's driver on worker
//! threads that each keep a core `Worker` ([`pool`]), and answers with what the driver did; the
//! admin address serves `/healthz`, `/ready` and `/metrics` ([`admin`]). docs/service.md says
//! what it does and what it does not do yet.

mod admin;
mod check;
mod fetch;
mod host;
mod pool;

use envoy_types::ext_authz::v3::pb::{
    Authorization, AuthorizationServer, CheckRequest, CheckResponse,
};
use std::net::SocketAddr;
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// What `authgate serve` was given.
pub struct Options {
    /// The file of the plugin configuration (JSON), as the filter's `configuration` holds it;
    /// read again on SIGHUP.
    pub config: std::path::PathBuf,
    /// Where the gRPC service listens.
    pub listen: SocketAddr,
    /// Where `/healthz`, `/ready` and `/metrics` are served.
    pub admin: SocketAddr,
    /// Worker threads (0: one per CPU).
    pub workers: usize,
    /// `--cluster NAME=HOST:PORT`: where the calls of a configuration's `cluster` NAME go
    /// (without it, a call goes to its URL's host).
    pub clusters: Vec<(String, (String, u16))>,
    /// `--tls-cert` and `--tls-key` (PEM files): the gRPC server's own TLS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// `--metadata-claim NAME`: claims a pass returns in its dynamic metadata, under `claims`
    /// (`a.b` reaches into an object, as `claim_to_headers` does).
    pub metadata_claims: Vec<String>,
}

struct Service {
    pool: Arc<pool::Pool>,
}

#[tonic::async_trait]
impl Authorization for Service {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        match self.pool.check(request.into_inner()).await {
            Ok(answer) => Ok(Response::new(answer)),
            // No worker answered, or all are busy: Envoy's ext_authz fails closed
            // (failure_mode_allow: false) or retries another replica (docs/service.md).
            Err(why) => Err(Status::unavailable(why)),
        }
    }
}

/// Runs the service until SIGTERM or SIGINT; `Err` with one line when it cannot start (a
/// refused configuration names its field).
pub fn serve(opts: Options) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(run(opts))
}

async fn run(opts: Options) -> Result<(), String> {
    let counters = Arc::new(host::Counters::default());
    let workers = match opts.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let json = read(&opts.config)?;
    let client = Arc::new(fetch::Client::new(&opts.clusters)?);
    let pool = Arc::new(pool::Pool::start(
        &json,
        workers,
        Arc::clone(&counters),
        false,
        client,
        Arc::from(opts.metadata_claims.clone()),
    )?);
    let mut server = tonic::transport::Server::builder();
    if let Some((cert, key)) = &opts.tls {
        let identity = tonic::transport::Identity::from_pem(
            std::fs::read(cert).map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?,
            std::fs::read(key).map_err(|e| format!("--tls-key {}: {e}", key.display()))?,
        );
        server = server
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    }
    tokio::spawn(reload_on_change(
        opts.config.clone(),
        Arc::clone(&pool),
        json.clone(),
    ));
    let ready = pool.unready();
    let admin = tokio::net::TcpListener::bind(opts.admin)
        .await
        .map_err(|e| format!("cannot listen on {} (admin): {e}", opts.admin))?;
    tokio::spawn(admin::serve(admin, counters, ready));
    host::log(
        authgate::capabilities::LogLevel::Info,
        &format!(
            "authgate: ext_authz service on {} ({workers} workers{}), admin on {}",
            opts.listen,
            if opts.tls.is_some() { ", TLS" } else { "" },
            opts.admin
        ),
    );
    server
        .add_service(AuthorizationServer::new(Service { pool }))
        .serve_with_shutdown(opts.listen, shutdown())
        .await
        .map_err(|e| format!("the gRPC server stopped: {e}"))
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("--config {}: {e}", path.display()))
}

/// SIGHUP, or a change of the file's content (looked at every second: a Kubernetes ConfigMap
/// swaps the file under its mount), puts the file's configuration in force; a bad one keeps the
/// one in force and says why in one line.
async fn reload_on_change(path: std::path::PathBuf, pool: Arc<pool::Pool>, mut last: Vec<u8>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return;
    };
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        let asked = tokio::select! {
            got = hup.recv() => match got {
                Some(()) => true,
                None => return,
            },
            _ = every.tick() => false,
        };
        let json = match read(&path) {
            // A file being replaced may be missing or empty for a moment: look again later.
            Ok(json) if !asked && (json == last || json.is_empty()) => continue,
            // What is in force, or was refused already: the configuration depends on nothing
            // else that could have changed (the environment is the process's own).
            Ok(json) if json == last => {
                host::log(
                    authgate::capabilities::LogLevel::Info,
                    &format!("authgate: {} is unchanged", path.display()),
                );
                continue;
            }
            Ok(json) => json,
            Err(_) if !asked => continue,
            Err(why) => {
                host::log(
                    authgate::capabilities::LogLevel::Error,
                    &format!("authgate: reload refused, the configuration in force stays: {why}"),
                );
                continue;
            }
        };
        let (level, line) = match pool.reload(&json) {
            Ok(()) => (
                authgate::capabilities::LogLevel::Info,
                format!("authgate: configuration reloaded from {}", path.display()),
            ),
            Err(why) => (
                authgate::capabilities::LogLevel::Error,
                format!("authgate: reload refused, the configuration in force stays: {why}"),
            ),
        };
        // A refused file is not tried again until it changes.
        last = json;
        host::log(level, &line);
    }
}

/// SIGTERM or SIGINT: the server stops taking checks and finishes those in flight.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    host::log(
        authgate::capabilities::LogLevel::Info,
        "authgate: stopping: checks in flight are answered, no new ones are taken",
    );
}
