//! Phase two for an `introspection` provider: every field of [`RawIntrospection`] checked, the
//! client secret found (configuration or the VM's environment), the provider built. Every
//! refusal names its field and none quotes the secret.

use super::endpoint::{Discovery, Endpoint, Introspector};
use super::{Answers, IntrospectionProvider, RawIntrospection, CACHE_CAPACITY};
use crate::cache::VerifiedCache;
use crate::error::ConfigError;
use crate::providers::jwt::claims::{self, ClaimRules};
use crate::providers::jwt::remote::{check_timing, metadata_location};
use crate::providers::jwt::{extractor, forward};
use crate::providers::Setup;
use std::cell::RefCell;

/// Longest `cache_max_seconds` and `negative_cache_seconds` (a day): revocation must show
/// within a bounded time.
const MAX_CACHE_SECONDS: u64 = 86_400;

impl IntrospectionProvider {
    /// Validates a raw `introspection` provider.
    pub fn compile(setup: &Setup, raw: &RawIntrospection) -> Result<Self, ConfigError> {
        let field = setup.field();
        let at = |f: &str| format!("{field}.{f}");
        if raw.cluster.is_empty() {
            return Err(ConfigError::new(
                at("cluster"),
                "must name an Envoy cluster",
            ));
        }
        let located = match (&raw.endpoint, &raw.discovery) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    at("discovery"),
                    "cannot stand beside `endpoint`: discovery finds the endpoint itself",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    field,
                    "needs `endpoint`, or `discovery` to find it from `issuer`",
                ))
            }
            (Some(url), None) => (
                Some(Endpoint::at(url).map_err(|why| ConfigError::new(at("endpoint"), why))?),
                None,
            ),
            (None, Some(d)) => {
                let issuer = raw.issuer.as_deref().ok_or_else(|| {
                    ConfigError::new(
                        at("issuer"),
                        "is required with `discovery`: the metadata is read from the issuer",
                    )
                })?;
                let cluster = d.cluster.as_deref().unwrap_or(&raw.cluster);
                if cluster.is_empty() {
                    return Err(ConfigError::new(
                        at("discovery.cluster"),
                        "must name an Envoy cluster",
                    ));
                }
                let timing =
                    check_timing(&at("discovery"), d.timeout_ms, d.cache_duration_seconds)?;
                let location = metadata_location(&field, issuer)?;
                (
                    None,
                    Some(Discovery::new(issuer, cluster, location, timing)),
                )
            }
        };
        if raw.client_id.is_empty() {
            return Err(ConfigError::new(at("client_id"), "must not be empty"));
        }
        let secret = crate::providers::client_secret::resolve(
            setup.env,
            &field,
            raw.client_secret.as_deref(),
            raw.client_secret_env.as_deref(),
        )?
        .ok_or_else(|| {
            ConfigError::new(
                &field,
                "needs `client_secret_env` (or `client_secret`) to authenticate to the endpoint",
            )
        })?;
        let method =
            crate::providers::client_secret::auth_method(&field, raw.auth_method.as_deref())?;
        let timeout_ms = raw.timeout_ms.unwrap_or(1000);
        if !(1..=60_000).contains(&timeout_ms) {
            return Err(ConfigError::new(at("timeout_ms"), "must be 1 to 60000"));
        }
        let cache_max = raw.cache_max_seconds.unwrap_or(300);
        let negative = raw.negative_cache_seconds.unwrap_or(10);
        for (name, v) in [
            ("cache_max_seconds", cache_max),
            ("negative_cache_seconds", negative),
        ] {
            if v > MAX_CACHE_SECONDS {
                return Err(ConfigError::new(at(name), "must be at most 86400 (a day)"));
            }
        }
        let audiences = claims::audiences(&field, raw.audiences.as_deref(), setup.audiences)?;
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
        Ok(IntrospectionProvider {
            domain: format!("introspection/{}", setup.name).into_bytes(),
            sources,
            binding,
            rules: ClaimRules {
                issuer: raw.issuer.clone(),
                audiences,
                from_resources: raw.audiences.is_none() && !setup.audiences.is_empty(),
                clock_skew: raw.clock_skew_seconds.unwrap_or(60),
                max_lifetime: None,
                require_expiration: false,
            },
            forward: raw.forward.unwrap_or(false),
            claim_to_headers: forward::compile(&field, raw.claim_to_headers.as_deref())?,
            endpoint: Introspector::new(
                located,
                &raw.cluster,
                &raw.client_id,
                secret,
                method,
                timeout_ms,
                (cache_max, negative),
            ),
            answers: RefCell::new(Answers {
                inner: VerifiedCache::new(setup.secret, CACHE_CAPACITY),
                hits: 0,
                misses: 0,
            }),
        })
    }
}
