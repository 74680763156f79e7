//! Authorization beyond scopes: a rule's `claims` conditions (`equals`, `contains`, `in` on a
//! claim, nested names read as `claim_to_headers` reads them) and its `identities` (the Basic
//! users, API key clients or token subjects allowed). A credential that authenticates but
//! fails one gets 403 `access_denied`, with a detail that names the condition, never the
//! credential's value.

use crate::error::ConfigError;
use crate::providers::jwt::forward;
use serde_json::{Map, Value};

/// How a claim is tested.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// The claim is exactly this JSON value.
    Equals(Value),
    /// The claim is an array holding this value, or a space-separated string holding it.
    Contains(Value),
    /// The claim is exactly one of these values.
    In(Vec<Value>),
}

/// One `claims` condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The claim's name (`a.b` for nested claims).
    pub claim: String,
    /// The test.
    pub test: Test,
}

impl Condition {
    /// Validates one condition at JSON path `field`.
    pub fn compile(field: &str, raw: &Value) -> Result<Self, ConfigError> {
        let Value::Object(o) = raw else {
            return Err(ConfigError::new(
                field,
                "must be an object with `claim` and one of `equals`, `contains`, `in`",
            ));
        };
        for k in o.keys() {
            if !matches!(k.as_str(), "claim" | "equals" | "contains" | "in") {
                return Err(ConfigError::new(
                    format!("{field}.{k}"),
                    format!("unknown field `{k}`, expected `claim`, `equals`, `contains` or `in`"),
                ));
            }
        }
        let claim = match o.get("claim") {
            Some(Value::String(c)) if !c.is_empty() => c.clone(),
            _ => {
                return Err(ConfigError::new(
                    format!("{field}.claim"),
                    "must name a claim",
                ))
            }
        };
        let tests: Vec<&str> = ["equals", "contains", "in"]
            .into_iter()
            .filter(|t| o.contains_key(*t))
            .collect();
        let [kind] = tests.as_slice() else {
            return Err(ConfigError::new(
                field,
                "needs exactly one of `equals`, `contains` and `in`",
            ));
        };
        let value = o.get(*kind).cloned().unwrap_or(Value::Null);
        let test = match *kind {
            "equals" => Test::Equals(value),
            "contains" => Test::Contains(value),
            _ => match value {
                Value::Array(list) if !list.is_empty() => Test::In(list),
                _ => {
                    return Err(ConfigError::new(
                        format!("{field}.in"),
                        "must be a non-empty list",
                    ))
                }
            },
        };
        Ok(Condition { claim, test })
    }

    /// Whether `claims` satisfy the condition.
    pub fn holds(&self, claims: &Map<String, Value>) -> bool {
        let Some(v) = forward::lookup(claims, &self.claim) else {
            return false;
        };
        match &self.test {
            Test::Equals(want) => v == want,
            Test::In(list) => list.contains(v),
            Test::Contains(want) => match (v, want) {
                (Value::Array(items), _) => items.contains(want),
                (Value::String(s), Value::String(w)) => s.split(' ').any(|part| part == w),
                _ => false,
            },
        }
    }

    /// The condition in words, for the refusal's detail (the configured values only).
    pub fn describe(&self) -> String {
        match &self.test {
            Test::Equals(v) => format!("the claim `{}` must equal {v}", self.claim),
            Test::Contains(v) => format!("the claim `{}` must contain {v}", self.claim),
            Test::In(list) => format!(
                "the claim `{}` must be one of {}",
                self.claim,
                Value::Array(list.clone())
            ),
        }
    }
}

/// One credential that authenticated, as conditions see it: its identity and its claims.
pub type Credential<'a> = (Option<&'a str>, Option<&'a Map<String, Value>>);

/// Whether the credentials that authenticated pass a rule's conditions: one identity must be
/// listed (when `identities` is set), and each condition must hold on one credential's claims.
/// `Err` names the first that fails.
pub fn permits(
    conditions: &[Condition],
    identities: &[String],
    credentials: &[Credential],
) -> Result<(), String> {
    let listed = |id: Option<&str>| id.is_some_and(|i| identities.iter().any(|a| a == i));
    if !identities.is_empty() && !credentials.iter().any(|(id, _)| listed(*id)) {
        return Err("the identity is not among the identities allowed here".into());
    }
    for c in conditions {
        if !credentials
            .iter()
            .any(|(_, claims)| claims.is_some_and(|m| c.holds(m)))
        {
            return Err(c.describe());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn condition(v: Value) -> Condition {
        Condition::compile("rules[0].claims[0]", &v).unwrap()
    }

    #[test]
    fn each_test_on_each_shape() {
        let claims = json!({"groups": ["admin", "ops"], "tenant": "acme", "scope": "a b",
            "org": {"role": "owner"}, "email_verified": true, "level": 3});
        let m = claims.as_object().unwrap();
        let cases = [
            (json!({"claim": "groups", "contains": "admin"}), true),
            (json!({"claim": "groups", "contains": "root"}), false),
            (json!({"claim": "scope", "contains": "b"}), true),
            (json!({"claim": "scope", "contains": "a b"}), false),
            (json!({"claim": "tenant", "equals": "acme"}), true),
            (json!({"claim": "tenant", "equals": "Acme"}), false),
            (json!({"claim": "org.role", "in": ["owner", "admin"]}), true),
            (json!({"claim": "org.role", "in": ["viewer"]}), false),
            (json!({"claim": "email_verified", "equals": true}), true),
            (json!({"claim": "email_verified", "equals": "true"}), false),
            (json!({"claim": "level", "in": [1, 2, 3]}), true),
            (json!({"claim": "missing", "equals": "x"}), false),
        ];
        for (raw, want) in cases {
            assert_eq!(condition(raw.clone()).holds(m), want, "{raw}");
        }
    }

    #[test]
    fn identities_and_the_first_failure_named() {
        let c = [condition(json!({"claim": "tenant", "equals": "acme"}))];
        let ids = ["alice".to_string(), "acme".to_string()];
        let claims = json!({"tenant": "globex"});
        assert!(permits(&[], &ids, &[(Some("alice"), None)]).is_ok());
        assert!(permits(&[], &ids, &[(Some("bob"), None)]).is_err());
        assert_eq!(
            permits(&c, &[], &[(Some("x"), claims.as_object())]).unwrap_err(),
            "the claim `tenant` must equal \"acme\""
        );
        assert!(
            permits(&c, &[], &[(Some("x"), None)]).is_err(),
            "no claims: fails"
        );
    }

    #[test]
    fn refusals_name_the_field() {
        for (raw, field) in [
            (json!({"claim": "a"}), "rules[0].claims[0]"),
            (
                json!({"claim": "a", "equals": 1, "in": [1]}),
                "rules[0].claims[0]",
            ),
            (json!({"claim": "a", "in": []}), "rules[0].claims[0].in"),
            (json!({"equals": 1}), "rules[0].claims[0].claim"),
            (
                json!({"claim": "a", "equal": 1}),
                "rules[0].claims[0].equal",
            ),
            (json!("groups"), "rules[0].claims[0]"),
        ] {
            assert_eq!(
                Condition::compile("rules[0].claims[0]", &raw)
                    .unwrap_err()
                    .field,
                field,
                "{raw}"
            );
        }
    }
}
