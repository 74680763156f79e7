//! What a verified token's claims must satisfy: issuer, audience, and time (RFC 7519 §4.1),
//! with the current time passed in so tests can set it.

use super::token::Claims;
use crate::error::Denial;

/// The claim requirements of one provider.
#[derive(Debug, Clone, Default)]
pub struct ClaimRules {
    /// `iss` must equal this (a token without `iss` fails too).
    pub issuer: Option<String>,
    /// One of the token's `aud` values must be one of these; empty means any audience.
    pub audiences: Vec<String>,
    /// `audiences` are the protected resources' ids: with several, the engine also checks
    /// that the token is for the one the request is under.
    pub from_resources: bool,
    /// Leeway for `exp` and `nbf`, in seconds.
    pub clock_skew: u64,
    /// `exp` must be present and at most this many seconds ahead.
    pub max_lifetime: Option<u64>,
    /// `exp` must be present.
    pub require_expiration: bool,
}

/// `audiences` of provider `field`: the list given, else the protected resources' ids
/// (RFC 8707; MCP: a server must reject tokens not issued for it), else any audience. An empty
/// list is refused.
pub fn audiences(
    field: &str,
    given: Option<&[String]>,
    resources: &[String],
) -> Result<Vec<String>, crate::error::ConfigError> {
    match given {
        Some([]) => Err(crate::error::ConfigError::new(
            format!("{field}.audiences"),
            "must not be empty (omit it to accept any audience)",
        )),
        Some(list) => Ok(list.to_vec()),
        None => Ok(resources.to_vec()),
    }
}

impl ClaimRules {
    /// Checks the issuer alone: cheap, done before any signature work.
    pub fn check_issuer(&self, claims: &Claims) -> Result<(), Denial> {
        match &self.issuer {
            Some(want) if claims.iss.as_deref() != Some(want.as_str()) => {
                Err(Denial::InvalidCredentials("issuer not accepted"))
            }
            _ => Ok(()),
        }
    }

    /// Checks audience and lifetime rules that do not change with time.
    pub fn check_static(&self, claims: &Claims, now: u64) -> Result<(), Denial> {
        if !self.audiences.is_empty() && !claims.aud.iter().any(|a| self.audiences.contains(a)) {
            return Err(Denial::InvalidCredentials("audience not accepted"));
        }
        if (self.require_expiration || self.max_lifetime.is_some()) && claims.exp.is_none() {
            return Err(Denial::InvalidCredentials("token has no expiration"));
        }
        if let (Some(max), Some(exp)) = (self.max_lifetime, claims.exp) {
            if exp - now as f64 > max as f64 {
                return Err(Denial::InvalidCredentials(
                    "token lifetime exceeds the maximum",
                ));
            }
        }
        Ok(())
    }

    /// Checks `exp` and `nbf` at `now` (seconds since the epoch); also run on cache hits.
    pub fn check_time(&self, exp: Option<f64>, nbf: Option<f64>, now: u64) -> Result<(), Denial> {
        let (now, skew) = (now as f64, self.clock_skew as f64);
        if exp.is_some_and(|exp| now > exp + skew) {
            return Err(Denial::TokenExpired);
        }
        if nbf.is_some_and(|nbf| now + skew < nbf) {
            return Err(Denial::InvalidCredentials("token not yet valid"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(iss: Option<&str>, aud: &[&str], exp: Option<f64>, nbf: Option<f64>) -> Claims {
        Claims {
            iss: iss.map(Into::into),
            aud: aud.iter().map(|a| a.to_string()).collect(),
            exp,
            nbf,
            ..Claims::default()
        }
    }

    #[test]
    fn rules_table() {
        let rules = ClaimRules {
            issuer: Some("https://idp".into()),
            audiences: vec!["orders".into(), "billing".into()],
            from_resources: false,
            clock_skew: 60,
            max_lifetime: Some(3600),
            require_expiration: false,
        };
        let now = 1_000_000u64;
        let t = now as f64;
        let invalid = Denial::InvalidCredentials;
        let cases: Vec<(&str, Claims, Result<(), Denial>)> = vec![
            (
                "good",
                claims(Some("https://idp"), &["orders"], Some(t + 600.0), None),
                Ok(()),
            ),
            (
                "second audience",
                claims(
                    Some("https://idp"),
                    &["x", "billing"],
                    Some(t + 600.0),
                    None,
                ),
                Ok(()),
            ),
            (
                "wrong issuer",
                claims(Some("https://evil"), &["orders"], Some(t + 600.0), None),
                Err(invalid("issuer not accepted")),
            ),
            (
                "no issuer",
                claims(None, &["orders"], Some(t + 600.0), None),
                Err(invalid("issuer not accepted")),
            ),
            (
                "wrong audience",
                claims(Some("https://idp"), &["other"], Some(t + 600.0), None),
                Err(invalid("audience not accepted")),
            ),
            (
                "no audience",
                claims(Some("https://idp"), &[], Some(t + 600.0), None),
                Err(invalid("audience not accepted")),
            ),
            (
                "expired within skew",
                claims(Some("https://idp"), &["orders"], Some(t - 59.0), None),
                Ok(()),
            ),
            (
                "expired beyond skew",
                claims(Some("https://idp"), &["orders"], Some(t - 61.0), None),
                Err(Denial::TokenExpired),
            ),
            (
                "nbf within skew",
                claims(
                    Some("https://idp"),
                    &["orders"],
                    Some(t + 600.0),
                    Some(t + 59.0),
                ),
                Ok(()),
            ),
            (
                "nbf beyond skew",
                claims(
                    Some("https://idp"),
                    &["orders"],
                    Some(t + 600.0),
                    Some(t + 61.0),
                ),
                Err(invalid("token not yet valid")),
            ),
            (
                "no exp with max lifetime",
                claims(Some("https://idp"), &["orders"], None, None),
                Err(invalid("token has no expiration")),
            ),
            (
                "exp too far",
                claims(Some("https://idp"), &["orders"], Some(t + 3601.0), None),
                Err(invalid("token lifetime exceeds the maximum")),
            ),
        ];
        for (name, c, want) in cases {
            let got = rules
                .check_issuer(&c)
                .and_then(|_| rules.check_static(&c, now))
                .and_then(|_| rules.check_time(c.exp, c.nbf, now));
            assert_eq!(got, want, "{name}");
        }
    }
}
