//! `authgate`: the filter's own core on the command line. `check` compiles configurations as
//! the filter does (in CI, with no Envoy), `explain` runs one request through the filter's
//! decision path, `hash-key` and `htpasswd` make the credentials a configuration holds.
//! This file only reads arguments; the work is in the modules.

/// `println!` that does not panic when the reader went away (`authgate explain … | head`).
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

mod check;
mod explain;
mod keys;
mod source;

use std::process::ExitCode;

const USAGE: &str = "usage:
  authgate check [--strict] [--format text|json] FILE...
      FILE: a plugin configuration (JSON), an Envoy configuration (YAML/JSON) or an Istio
      WasmPlugin. Exit 1 when a configuration is refused (or, with --strict, warned about).
  authgate explain [--format text|json] [--filter N] [--now UNIX] [--jwks FILE]
                   [--body FILE] FILE METHOD PATH [-H 'name: value']...
      What the filter would do with this request: the rule, each credential, the reply.
      --body: the request body, read when a rule with match.mcp may apply.
  authgate hash-key KEY
      The key_sha256 of an API key.
  authgate htpasswd [--cost N] USER
      An htpasswd line for USER with the password read from standard input (bcrypt, cost 10).
  authgate serve --config FILE --listen ADDR:PORT --admin ADDR:PORT [--workers N]
                 [--tls-cert PEM --tls-key PEM] [--cluster NAME=HOST:PORT]...
                 [--metadata-claim NAME]...
      Envoy's external authorization service (ext_authz v3 gRPC Check) over FILE, a plugin
      configuration (JSON), read again on SIGHUP or when it changes; /healthz, /ready and
      /metrics on the admin address. --cluster: the calls of a configuration's `cluster` NAME
      go to HOST:PORT (without it, to the URL's host). --metadata-claim: a claim a pass
      returns in its dynamic metadata, under `claims`.";

fn usage(why: &str) -> ExitCode {
    eprintln!("authgate: {why}\n{USAGE}");
    ExitCode::from(2)
}

/// `--name value` options and the remaining arguments.
struct Args {
    rest: Vec<String>,
    opts: Vec<(String, String)>,
    flags: Vec<String>,
    headers: Vec<(String, String)>,
}

fn parse(args: &[String], with_value: &[&str], flags: &[&str]) -> Result<Args, String> {
    let mut out = Args {
        rest: vec![],
        opts: vec![],
        flags: vec![],
        headers: vec![],
    };
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "-H" || a == "--header" {
            let h = args.get(i + 1).ok_or("-H needs 'name: value'")?;
            // A pseudo-header keeps its leading colon: `-H ':authority: api.example'`.
            let (k, v) = match h.strip_prefix(':') {
                Some(rest) => rest.split_once(':').map(|(n, v)| (format!(":{n}"), v)),
                None => h.split_once(':').map(|(n, v)| (n.to_string(), v)),
            }
            .filter(|(k, _)| !k.trim().is_empty() && k != ":")
            .ok_or(format!("-H {h:?}: want 'name: value'"))?;
            out.headers
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            i += 2;
        } else if let Some(name) = a.strip_prefix("--").filter(|n| with_value.contains(n)) {
            let v = args.get(i + 1).ok_or(format!("--{name} needs a value"))?;
            out.opts.push((name.to_string(), v.clone()));
            i += 2;
        } else if let Some(name) = a.strip_prefix("--").filter(|n| flags.contains(n)) {
            out.flags.push(name.to_string());
            i += 1;
        } else if a.starts_with("--") {
            return Err(format!("unknown option {a}"));
        } else {
            out.rest.push(a.clone());
            i += 1;
        }
    }
    Ok(out)
}

impl Args {
    /// Every value of a repeated option, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.opts
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn opt(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Result<bool, String> {
        match self.opt("format") {
            None | Some("text") => Ok(false),
            Some("json") => Ok(true),
            Some(f) => Err(format!("--format {f}: want text or json")),
        }
    }
}

fn explain(args: &[String]) -> Result<i32, String> {
    let a = parse(args, &["format", "filter", "now", "jwks", "body"], &[])?;
    let [file, method, path] = a.rest.as_slice() else {
        return Err("explain needs FILE METHOD PATH".into());
    };
    let mut found = source::find(file).map_err(|why| format!("{file}: {why}"))?;
    let n: usize = a
        .opt("filter")
        .map_or(Ok(1), str::parse)
        .map_err(|_| "--filter needs a number")?;
    if n == 0 || n > found.len() {
        return Err(format!(
            "{file} has {} authgate configuration(s); --filter {n} is not one",
            found.len()
        ));
    }
    let now = match a.opt("now") {
        Some(t) => t
            .parse()
            .map_err(|_| format!("--now {t}: want seconds since the epoch"))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let jwks = match a.opt("jwks") {
        Some(f) => Some(std::fs::read(f).map_err(|e| format!("--jwks {f}: {e}"))?),
        None => None,
    };
    let body = match a.opt("body") {
        Some(f) => Some(std::fs::read(f).map_err(|e| format!("--body {f}: {e}"))?),
        None => None,
    };
    let request = explain::Request {
        body,
        found: found.remove(n - 1),
        method: method.clone(),
        path: path.clone(),
        headers: a.headers.clone(),
        now,
        jwks,
    };
    Ok(explain::run(request, a.json()?))
}

fn serve(args: &[String]) -> Result<i32, String> {
    let a = parse(
        args,
        &[
            "config",
            "listen",
            "admin",
            "workers",
            "tls-cert",
            "tls-key",
            "cluster",
            "metadata-claim",
        ],
        &[],
    )?;
    let need = |name: &str| a.opt(name).ok_or(format!("serve needs --{name}"));
    let addr = |name: &str| -> Result<std::net::SocketAddr, String> {
        let v = need(name)?;
        v.parse()
            .map_err(|_| format!("--{name} {v}: want ADDR:PORT"))
    };
    let config = std::path::PathBuf::from(need("config")?);
    let workers = a
        .opt("workers")
        .map_or(Ok(0), str::parse)
        .map_err(|_| "--workers needs a number")?;
    let tls = match (a.opt("tls-cert"), a.opt("tls-key")) {
        (Some(cert), Some(key)) => Some((cert.into(), key.into())),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let mut clusters: Vec<(String, (String, u16))> = Vec::new();
    for c in a.all("cluster") {
        let at = c
            .split_once('=')
            .and_then(|(name, at)| {
                let (host, port) = at.rsplit_once(':')?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
                let ok = !name.is_empty()
                    && !host.is_empty()
                    && !host.contains(['/', '@', ' ', '=', '?', '#']);
                ok.then_some((name.to_string(), (host.to_string(), port)))
            })
            .ok_or(format!("--cluster {c}: want NAME=HOST:PORT"))?;
        if clusters.iter().any(|(name, _)| *name == at.0) {
            return Err(format!("--cluster {c}: cluster {} is given twice", at.0));
        }
        clusters.push(at);
    }
    let opts = authgate_service::Options {
        config,
        listen: addr("listen")?,
        admin: addr("admin")?,
        workers,
        clusters,
        tls,
        metadata_claims: a
            .all("metadata-claim")
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    match authgate_service::serve(opts) {
        Ok(()) => Ok(0),
        Err(why) => {
            eprintln!("authgate: {why}");
            Ok(1)
        }
    }
}

/// The operating system's randomness, as Envoy gives the filter WASI `random_get`.
fn random() -> authgate::capabilities::Random {
    std::rc::Rc::new(|out: &mut [u8]| getrandom::fill(out).is_ok())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        return usage("no command");
    };
    let result = match command.as_str() {
        "check" => parse(rest, &["format"], &["strict"]).and_then(|a| {
            if a.rest.is_empty() {
                return Err("check needs at least one FILE".into());
            }
            Ok(check::run(
                &a.rest,
                a.flags.iter().any(|f| f == "strict"),
                a.json()?,
            ))
        }),
        "explain" => explain(rest),
        "hash-key" => match rest {
            [key] => {
                out!("{}", keys::hash_key(key));
                Ok(0)
            }
            _ => Err("hash-key needs exactly one KEY".into()),
        },
        "htpasswd" => parse(rest, &["cost"], &[]).and_then(|a| {
            let [user] = a.rest.as_slice() else {
                return Err("htpasswd needs exactly one USER".into());
            };
            let cost = a
                .opt("cost")
                .map_or(Ok(10), str::parse)
                .map_err(|_| "--cost needs a number")?;
            keys::htpasswd(user, cost).map(|line| {
                out!("{line}");
                0
            })
        }),
        "serve" => serve(rest),
        "-h" | "--help" | "help" => {
            out!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command {other:?}")),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(why) => usage(&why),
    }
}
