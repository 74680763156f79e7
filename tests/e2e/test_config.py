"""A configuration that authgate refuses is refused by Envoy at load: Envoy exits, and its log
has one line that names the field and the reason, and no secret."""

import pytest

from harness import Envoy, Upstream, bootstrap, free_port

KEY = {"type": "api_key", "credentials": [{"client": "c", "key": "s"}]}
# What sign-in providers read from the VM's environment.
VM_ENV = {"COOKIE_KEYS": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "WEB_SECRET": "web-secret"}


def sign_in(issuer, **extra):
    return {"type": "oidc", "issuer": issuer, "discovery": {"cluster": "idp"}, "client_id": "web",
            "client_secret_env": "WEB_SECRET", "cookie_secrets_env": "COOKIE_KEYS", **extra}


CASES = [
    ("empty", "", "the plugin configuration is empty"),
    ("not JSON", "{providers", "invalid configuration"),
    ("unknown field", {"providers": {"k": KEY}, "realms": "x"}, "realms: unknown field `realms`"),
    ("plain-text password", {"providers": {"b": {"type": "basic", "htpasswd": "bob:hunter2"}}},
     "providers.b.htpasswd: line 1: user `bob`: password is not a bcrypt"),
    ("empty key list", {"providers": {"k": {"type": "api_key", "credentials": []}}},
     "providers.k.credentials: must not be empty"),
    ("unknown provider in rule", {"providers": {"k": KEY}, "rules": [{"match": {"prefix": "/"}, "requires": "x"}]},
     "rules[0].requires: no provider is named `x`"),
    ("empty any", {"providers": {"k": KEY}, "rules": [{"match": {"prefix": "/"}, "requires": {"any": []}}]},
     "rules[0].requires.any: must be a non-empty list"),
    # A typo deep inside a provider is named by its full path, as everywhere else.
    ("typo inside a provider", {"providers": {"p": {"type": "api_key", "credentials": [{"client": "c", "kye": "s"}]}}},
     "providers.p.credentials[0].kye: unknown field `kye`"),
    ("typo in a provider's own field", {"providers": {"k": dict(KEY, hide_credential=True)}},
     "providers.k.hide_credential: unknown field `hide_credential`"),
    ("typo in remote_jwks", {"providers": {"j": {"type": "jwt", "remote_jwks": {"uri": "http://a/k", "cluster": "c", "timeout": 5}}}},
     "providers.j.remote_jwks.timeout: unknown field `timeout`"),
    ("discovery beside remote_jwks", {"providers": {"j": {"type": "jwt", "issuer": "https://idp",
        "discovery": {"cluster": "idp"}, "remote_jwks": {"uri": "https://idp/k", "cluster": "idp"}}}},
     "providers.j.discovery: cannot stand beside `remote_jwks`"),
    ("discovery without issuer", {"providers": {"j": {"type": "jwt", "discovery": {"cluster": "idp"}}}},
     "providers.j.issuer: is required with `discovery`"),
    ("discovery typo", {"providers": {"j": {"type": "jwt", "issuer": "https://idp", "discovery": {"clustr": "idp"}}}},
     "providers.j.discovery.clustr: unknown field"),
    ("discovery of a non-URL issuer", {"providers": {"j": {"type": "jwt", "issuer": "idp", "discovery": {"cluster": "idp"}}}},
     "providers.j.issuer: must be an http:// or https:// URI"),
    # Issue 35: two sign-ins with one cookie would each take the other's sessions for theirs.
    ("two sign-ins, one cookie", {"providers": {
        "public": sign_in("https://accounts.example"),
        "corp": sign_in("https://sso.corp.example", redirect_path="/admin/callback", login_path="/admin/login",
                        logout_path="/admin/logout")},
        "rules": [{"match": {"prefix": "/admin"}, "requires": "corp"},
                  {"match": {"prefix": "/"}, "requires": {"any": ["public", "corp"]}}]},
     "providers.public.cookie.name: `__Host-authgate` is also the session cookie of sign-in provider `corp`"),
]


@pytest.mark.parametrize("name,plugin,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_refused_at_load(name, plugin, expected):
    upstream = Upstream()
    envoy = Envoy(bootstrap(plugin, free_port(), free_port(), upstream.port, vm_env=VM_ENV))
    try:
        envoy.start()
        code = envoy.exited(timeout=30)
        log = envoy.log()
        assert code not in (None, 0), "Envoy started with an invalid configuration:\n" + log
        lines = [l for l in log.splitlines() if "authgate: invalid configuration" in l]
        assert len(lines) == 1, log
        assert expected in lines[0], lines[0]
        assert "hunter2" not in log
    finally:
        envoy.stop()
        upstream.close()
