"""gRPC clients get gRPC-native refusals, through Envoy with a real gRPC client and server
(`grpcio`, a generic handler, no generated code): UNAUTHENTICATED, PERMISSION_DENIED,
INVALID_ARGUMENT with the plain detail sentence as the message, the error code, request id and
challenges as trailing metadata; refused calls (unary and streaming) never reach the server;
valid credentials (an API key in metadata, a Bearer token) reach it with the identity
headers."""

from concurrent import futures

import grpc
import pytest

from harness import Envoy, bootstrap, free_port
from jwtkit import Keys, claims

KEYS = Keys()
CONFIG = {
    "realm": "api",
    "providers": {
        "keys": {"type": "api_key", "credentials": [{"client": "acme", "key": "k-1"}], "forward_client_header": "x-auth-client"},
        "idp": {"type": "jwt", "issuer": "https://idp.test", "local_jwks": KEYS.jwks(["p256"]),
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-auth-sub"}]},
    },
    "rules": [
        {"match": {"prefix": "/demo.Admin/"}, "requires": "idp", "scopes": ["admin"]},
        {"match": {"prefix": "/"}, "requires": {"any": ["idp", "keys"]}},
    ],
}


class Server:
    """A gRPC server answering /demo.Echo/Say (unary) and /demo.Echo/Count (server stream)
    with what it saw."""

    def __init__(self):
        self.seen = []

        def say(request, context):
            self.seen.append(dict(context.invocation_metadata()))
            return request

        def count(request, context):
            self.seen.append(dict(context.invocation_metadata()))
            for i in range(3):
                yield bytes([i])

        handlers = {
            "Say": grpc.unary_unary_rpc_method_handler(say),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        }
        self.server = grpc.server(futures.ThreadPoolExecutor(4))
        self.server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("demo.Echo", handlers),
                                              grpc.method_handlers_generic_handler("demo.Admin", handlers)])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def close(self):
        self.server.stop(0)


@pytest.fixture(scope="module")
def stack():
    server = Server()
    port = free_port()
    cfg = bootstrap(CONFIG, port, free_port(), server.port)
    upstream = cfg["static_resources"]["clusters"][-1]
    upstream["typed_extension_protocol_options"] = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "explicit_http_config": {"http2_protocol_options": {}}}}
    envoy = Envoy(cfg).start()
    assert envoy.proc.poll() is None, envoy.log()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield server, channel, envoy
    channel.close()
    envoy.stop()
    server.close()


def call(channel, method="/demo.Echo/Say", metadata=()):
    return channel.unary_unary(method)(b"hi", metadata=list(metadata), timeout=10)


def refused(stack, method="/demo.Echo/Say", metadata=()):
    server, channel, _ = stack
    before = len(server.seen)
    with pytest.raises(grpc.RpcError) as e:
        call(channel, method, metadata)
    assert len(server.seen) == before, "a refused call reached the server"
    return e.value


def trailing(err):
    return [(k, v) for k, v in err.trailing_metadata() or ()]


def test_no_credential_is_unauthenticated_with_a_readable_message(stack):
    err = refused(stack)
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details().startswith("This resource requires authentication, and no credentials were sent.")
    meta = trailing(err)
    assert ("authgate-error", "missing_credentials") in meta
    assert ("www-authenticate", 'Bearer realm="api"') in meta
    assert ("www-authenticate", 'ApiKey realm="api", in="header", name="x-api-key"') in meta
    assert any(k == "x-request-id" for k, _ in meta)


def test_a_wrong_key_and_a_bad_token(stack):
    err = refused(stack, metadata=[("x-api-key", "nope")])
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "unknown API key" in err.details()
    assert ("authgate-error", "invalid_credentials") in trailing(err)
    err = refused(stack, metadata=[("authorization", "Bearer abc")])
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert ("www-authenticate", 'Bearer realm="api", error="invalid_token", error_description="malformed token"') in trailing(err)


def test_a_missing_scope_is_permission_denied(stack):
    token = KEYS.token("ES256", claims(aud=None, scope="read"))
    err = refused(stack, "/demo.Admin/Say", [("authorization", f"Bearer {token}")])
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "admin" in err.details()
    assert ("authgate-error", "insufficient_scope") in trailing(err)


def test_a_credential_sent_twice_is_invalid_argument(stack):
    err = refused(stack, metadata=[("x-api-key", "k-1"), ("x-api-key", "k-1")])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("authgate-error", "invalid_request") in trailing(err)


def test_a_streaming_call_is_refused_before_its_first_message(stack):
    server, channel, _ = stack
    before = len(server.seen)
    with pytest.raises(grpc.RpcError) as e:
        list(channel.unary_stream("/demo.Echo/Count")(b"go", timeout=10))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert len(server.seen) == before


def test_valid_credentials_reach_the_server_with_the_identity(stack):
    server, channel, _ = stack
    assert call(channel, metadata=[("x-api-key", "k-1"), ("x-auth-client", "forged")]) == b"hi"
    seen = server.seen[-1]
    assert seen.get("x-auth-client") == "acme", seen  # the forged value was replaced
    token = KEYS.token("ES256", claims(aud=None))
    assert list(channel.unary_stream("/demo.Echo/Count")(b"go", metadata=[("authorization", f"Bearer {token}")],
                                                        timeout=10)) == [b"\x00", b"\x01", b"\x02"]
    assert server.seen[-1].get("x-auth-sub") == "alice"


def test_counted_and_logged_as_any_refusal(stack):
    import time
    _, _, envoy = stack
    refused(stack, metadata=[("x-api-key", "again")])
    time.sleep(0.4)
    stats = envoy.stats("wasmcustom.authgate.denied.invalid_credentials")
    assert stats.get("wasmcustom.authgate.denied.invalid_credentials", 0) >= 1
    assert 'denied status=401 error=invalid_credentials' in envoy.log()
