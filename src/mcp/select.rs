//! `match.mcp` of a rule: which MCP calls it concerns. `methods` names JSON-RPC methods;
//! `tools`, `prompts` and `resources` name what `tools/call`, `prompts/get` and
//! `resources/read` (with `resources/subscribe` and `resources/unsubscribe`) act on, with `*`
//! wildcards. A list given is a condition that must hold; names are a condition on the
//! methods that carry them, so `{"tools": ["delete_*"]}` is about `tools/call` alone.

use super::jsonrpc::{matches, Call, Message};

/// One compiled `match.mcp`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct McpMatch {
    /// JSON-RPC methods (patterns); empty: any.
    pub methods: Vec<String>,
    /// Tool names (patterns) of `tools/call`.
    pub tools: Vec<String>,
    /// Prompt names (patterns) of `prompts/get`.
    pub prompts: Vec<String>,
    /// Resource URIs (patterns) of `resources/read` and the subscriptions.
    pub resources: Vec<String>,
}

/// What a name in a call stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A tool (`tools/call`, listed by `tools/list`).
    Tool,
    /// A prompt (`prompts/get`, listed by `prompts/list`).
    Prompt,
    /// A resource (`resources/read`, listed by `resources/list`).
    Resource,
}

impl Kind {
    /// What `method` names, if it names something.
    pub fn named_by(method: &str) -> Option<Kind> {
        match method {
            "tools/call" => Some(Kind::Tool),
            "prompts/get" => Some(Kind::Prompt),
            "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
                Some(Kind::Resource)
            }
            _ => None,
        }
    }

    /// The method that uses one of these: what a listed entry is checked as.
    pub fn use_method(self) -> &'static str {
        match self {
            Kind::Tool => "tools/call",
            Kind::Prompt => "prompts/get",
            Kind::Resource => "resources/read",
        }
    }

    /// The method that lists these.
    pub fn list_method(self) -> &'static str {
        match self {
            Kind::Tool => "tools/list",
            Kind::Prompt => "prompts/list",
            Kind::Resource => "resources/list",
        }
    }

    /// What `method` lists, if it is a list method.
    pub fn listed_by(method: &str) -> Option<Kind> {
        [Kind::Tool, Kind::Prompt, Kind::Resource]
            .into_iter()
            .find(|k| k.list_method() == method)
    }

    /// The member of a call's `params` (and of a listed entry) that names one: `name`, or
    /// `uri` for a resource.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Tool | Kind::Prompt => "name",
            Kind::Resource => "uri",
        }
    }
}

impl McpMatch {
    /// The name patterns of `kind`.
    pub fn names(&self, kind: Kind) -> &[String] {
        match kind {
            Kind::Tool => &self.tools,
            Kind::Prompt => &self.prompts,
            Kind::Resource => &self.resources,
        }
    }

    /// Whether the rule concerns `message`. A client's response to the server is no call.
    pub fn matches(&self, message: &Message) -> bool {
        let Message::Call(call) = message else {
            return false;
        };
        self.matches_call(call)
    }

    fn matches_call(&self, call: &Call) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| matches(m, &call.method)) {
            return false;
        }
        let named = [Kind::Tool, Kind::Prompt, Kind::Resource]
            .into_iter()
            .filter(|k| !self.names(*k).is_empty())
            .collect::<Vec<_>>();
        if named.is_empty() {
            return true;
        }
        match (Kind::named_by(&call.method), call.name.as_deref()) {
            (Some(kind), Some(name)) if named.contains(&kind) => {
                self.names(kind).iter().any(|p| matches(p, name))
            }
            _ => false,
        }
    }

    /// Whether the rule would decide `message` by a name it does not carry: a call of a
    /// method that names a kind this rule lists names of, with no name. Such a call cannot be
    /// told to be outside the rule, so it is refused rather than let past it.
    pub fn needs_missing_name(&self, message: &Message) -> bool {
        let Message::Call(call) = message else {
            return false;
        };
        if call.name.is_some()
            || !self.methods.is_empty() && !self.methods.iter().any(|m| matches(m, &call.method))
        {
            return false;
        }
        Kind::named_by(&call.method).is_some_and(|k| !self.names(k).is_empty())
    }

    /// Whether the rule can concern a use of `kind` (so the list of those is worth cutting).
    pub fn concerns(&self, kind: Kind) -> bool {
        !self.names(kind).is_empty() || self.methods.iter().any(|m| matches(m, kind.use_method()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(method: &str, name: Option<&str>) -> Message {
        Message::Call(Call {
            method: method.into(),
            name: name.map(Into::into),
            id: Some("1".into()),
        })
    }

    fn m(methods: &[&str], tools: &[&str], resources: &[&str]) -> McpMatch {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        McpMatch {
            methods: v(methods),
            tools: v(tools),
            prompts: vec![],
            resources: v(resources),
        }
    }

    #[test]
    fn matching_table() {
        let cases = [
            (
                "empty matches any call",
                m(&[], &[], &[]),
                call("tools/list", None),
                true,
            ),
            (
                "empty is no response",
                m(&[], &[], &[]),
                Message::Response,
                false,
            ),
            (
                "a method",
                m(&["tools/list"], &[], &[]),
                call("tools/list", None),
                true,
            ),
            (
                "another method",
                m(&["tools/list"], &[], &[]),
                call("tools/call", Some("x")),
                false,
            ),
            (
                "a method pattern",
                m(&["tools/*"], &[], &[]),
                call("tools/call", Some("x")),
                true,
            ),
            (
                "a tool",
                m(&[], &["delete_*"], &[]),
                call("tools/call", Some("delete_repo")),
                true,
            ),
            (
                "another tool",
                m(&[], &["delete_*"], &[]),
                call("tools/call", Some("search")),
                false,
            ),
            (
                "tools are about tools/call",
                m(&[], &["*"], &[]),
                call("tools/list", None),
                false,
            ),
            (
                "a prompt is no tool",
                m(&[], &["summary"], &[]),
                call("prompts/get", Some("summary")),
                false,
            ),
            (
                "a resource",
                m(&[], &[], &["file:///srv/*"]),
                call("resources/read", Some("file:///srv/a")),
                true,
            ),
            (
                "subscribing to it",
                m(&[], &[], &["file:///srv/*"]),
                call("resources/subscribe", Some("file:///srv/a")),
                true,
            ),
            (
                "tools or resources",
                m(&[], &["search"], &["file:///*"]),
                call("resources/read", Some("file:///x")),
                true,
            ),
            (
                "methods and names both hold",
                m(&["tools/call"], &["search"], &[]),
                call("tools/call", Some("search")),
                true,
            ),
            (
                "methods and names, a name fails",
                m(&["tools/call"], &["search"], &[]),
                call("tools/call", Some("other")),
                false,
            ),
        ];
        for (name, rule, message, want) in cases {
            assert_eq!(rule.matches(&message), want, "{name}");
        }
    }

    #[test]
    fn what_a_rule_concerns() {
        assert!(m(&[], &["search"], &[]).concerns(Kind::Tool));
        assert!(!m(&[], &["search"], &[]).concerns(Kind::Resource));
        assert!(m(&["tools/*"], &[], &[]).concerns(Kind::Tool));
        assert!(!m(&["tools/list"], &[], &[]).concerns(Kind::Tool));
        assert!(m(&["resources/read"], &[], &[]).concerns(Kind::Resource));
    }
}
