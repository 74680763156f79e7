//! Phase two for a `jwt` provider: every field of [`RawJwt`] checked, keys loaded, the
//! provider built. Every refusal names its field.

use super::cache::TokenCache;
use super::claims::{self, ClaimRules};
use super::jwks;
use super::remote::RemoteJwks;
use super::{extractor, forward};
use super::{JwtProvider, RawJwt, CACHE_CAPACITY};
use crate::error::ConfigError;
use crate::json;
use crate::providers::Setup;
use crate::schema::fields;
use serde_json::Value;
use std::cell::{Cell, RefCell};

impl JwtProvider {
    /// Validates a raw `jwt` provider.
    pub fn compile(setup: &Setup, raw: &RawJwt) -> Result<Self, ConfigError> {
        let (name, field) = (setup.name, setup.field());
        let mut warnings = Vec::new();
        let local = match &raw.local_jwks {
            None => vec![],
            Some(v) => {
                let parsed;
                let v = match v {
                    Value::String(s) => {
                        parsed = json::parse_strict(s.as_bytes()).map_err(|e| {
                            ConfigError::new(
                                format!("{field}.local_jwks"),
                                format!("not JSON: {e}"),
                            )
                        })?;
                        &parsed
                    }
                    other => other,
                };
                let set = jwks::parse(v, true, setup.signatures.is_some())
                    .map_err(|e| ConfigError::new(format!("{field}.local_jwks"), e))?;
                warnings.extend(
                    set.skipped
                        .iter()
                        .map(|w| format!("local_jwks {w}; key skipped")),
                );
                set.keys
            }
        };
        let remote =
            match (&raw.remote_jwks, &raw.discovery) {
                (Some(_), Some(_)) => return Err(ConfigError::new(
                    format!("{field}.discovery"),
                    "cannot stand beside `remote_jwks`: discovery finds the key set's URI itself",
                )),
                (None, Some(d)) => Some(RemoteJwks::discover(
                    &field,
                    raw.issuer.as_deref().ok_or_else(|| {
                        ConfigError::new(
                            format!("{field}.issuer"),
                            "is required with `discovery`: the metadata is read from the issuer",
                        )
                    })?,
                    &d.cluster,
                    d.jwks_cluster.as_deref(),
                    d.timeout_ms,
                    d.cache_duration_seconds,
                )?),
                (None, None) => None,
                (Some(r), None) => Some(RemoteJwks::compile(
                    &format!("{field}.remote_jwks"),
                    &r.uri,
                    &r.cluster,
                    r.timeout_ms,
                    r.cache_duration_seconds,
                    r.min_refetch_interval_seconds,
                )?),
            };
        if local.is_empty() && remote.is_none() {
            return Err(ConfigError::new(
                field,
                "needs `local_jwks`, `remote_jwks` or `discovery`",
            ));
        }
        let (binding, sources) = extractor::compile_token_sources(
            &field,
            setup,
            raw.binding(),
            (
                raw.from_headers.as_deref(),
                raw.from_params.as_deref(),
                raw.from_cookies.as_deref(),
            ),
        )?;
        let forward_payload_header = match &raw.forward_payload_header {
            Some(h) => Some(fields::header_to_set(
                &format!("{field}.forward_payload_header"),
                h,
            )?),
            None => None,
        };
        let claim_to_headers = forward::compile(&field, raw.claim_to_headers.as_deref())?;
        let audiences = claims::audiences(&field, raw.audiences.as_deref(), setup.audiences)?;
        Ok(JwtProvider {
            domain: format!("jwt/{name}").into_bytes(),
            sources,
            rules: ClaimRules {
                issuer: raw.issuer.clone(),
                audiences,
                from_resources: raw.audiences.is_none() && !setup.audiences.is_empty(),
                clock_skew: raw.clock_skew_seconds.unwrap_or(60),
                max_lifetime: raw.max_lifetime_seconds,
                require_expiration: raw.require_expiration.unwrap_or(false),
            },
            forward: raw.forward.unwrap_or(false),
            forward_payload_header,
            claim_to_headers,
            local,
            remote,
            binding,
            cache: RefCell::new(TokenCache::new(setup.secret, CACHE_CAPACITY)),
            warnings,
            signatures: setup.signatures.clone(),
            host_checks: Cell::new(0),
            module_checks: Cell::new(0),
        })
    }
}
