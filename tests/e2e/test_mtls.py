"""Certificate-bound tokens (RFC 8705 §3) through Envoy: a TLS listener that requires client
certificates from a test CA, clients with the right and the wrong certificate, tokens whose
`cnf["x5t#S256"]` names a certificate; and the same binding read from the `Hash` of
`x-forwarded-client-cert` when a trusted proxy in front terminates TLS."""

import datetime
import hashlib
import http.client
import os
import ssl
import tempfile

import pytest

from common import allowed, refused
from harness import Envoy, Upstream, bootstrap, free_port
from jwtkit import Keys, b64, claims
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ISSUER = Keys()


class Pki:
    """A CA, a server certificate for 127.0.0.1, and client certificates, as PEM files."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="authgate-pki-")
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = self._cert("authgate test CA", self.ca_key.public_key(), ca=True)
        self.ca_pem = self._write("ca.pem", self.ca.public_bytes(serialization.Encoding.PEM))
        self.server = self.issue("127.0.0.1", server=True)

    def _cert(self, cn, public_key, ca=False, server=False):
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "authgate test CA")]))
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if server:
            import ipaddress
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        return b.sign(self.ca_key, hashes.SHA256())

    def _write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def issue(self, cn, server=False):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self._cert(cn, key.public_key(), server=server)
        return {
            "cert": self._write(f"{cn}.pem", cert.public_bytes(serialization.Encoding.PEM)),
            "key": self._write(f"{cn}.key", key.private_bytes(serialization.Encoding.PEM,
                                                              serialization.PrivateFormat.PKCS8,
                                                              serialization.NoEncryption())),
            "sha256": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest(),
        }


PKI = Pki()
ALICE = PKI.issue("alice-client")
MALLORY = PKI.issue("mallory-client")


def token(cert=ALICE, **extra):
    c = claims(**extra)
    if cert:
        c["cnf"] = {"x5t#S256": b64(cert["sha256"])}
    return ISSUER.token("ES256", c)


def provider(**over):
    return {"type": "jwt", "issuer": "https://idp.test", "local_jwks": ISSUER.jwks(["p256"]), **over}


class TlsGw:
    def __init__(self, plugin=None):
        self.upstream = Upstream()
        self.port = free_port()
        plugin = plugin or {"realm": "api", "providers": {"idp": provider(mtls_bound="required")}}
        cfg = bootstrap(plugin, self.port, free_port(), self.upstream.port)
        tls = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "require_client_certificate": True,
            "common_tls_context": {
                "tls_certificates": [{"certificate_chain": {"filename": PKI.server["cert"]},
                                      "private_key": {"filename": PKI.server["key"]}}],
                "validation_context": {"trusted_ca": {"filename": PKI.ca_pem}}}}}
        cfg["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] = tls
        self.envoy = Envoy(cfg).start()
        assert self.envoy.proc.poll() is None, self.envoy.log()

    def get(self, path, headers=(), method="GET", cert=ALICE):
        ctx = ssl.create_default_context(cafile=PKI.ca_pem)
        ctx.load_cert_chain(cert["cert"], cert["key"])
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=10)
        conn.request(method, path, headers=dict(headers))
        r = conn.getresponse()
        from harness import Response
        out = Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
        conn.close()
        return out

    def close(self):
        self.envoy.stop()
        self.upstream.close()


@pytest.fixture(scope="module")
def tls():
    g = TlsGw()
    yield g
    g.close()


def bearer(t):
    return [("authorization", f"Bearer {t}")]


def test_the_certificate_the_token_is_bound_to_passes(tls):
    allowed(tls, "/orders", bearer(token()))


def test_another_certificate_or_an_unbound_token_is_refused(tls):
    for headers, cert, says in [(bearer(token()), MALLORY, "bound to another client certificate"),
                                (bearer(token(cert=None)), ALICE, "not bound to a client certificate")]:
        before = len(tls.upstream.seen)
        r = tls.get("/orders", headers, cert=cert)
        assert len(tls.upstream.seen) == before
        assert r.status == 401 and r.json()["error"] == "invalid_credentials", (r.status, r.body)
        assert says in r.json()["detail"]
        assert r.header("www-authenticate").startswith('Bearer realm="api", error="invalid_token"')


XFCC_CONFIG = {"realm": "api", "providers": {"idp": provider(mtls_bound="allowed", client_cert_from="xfcc")}}


@pytest.fixture(scope="module")
def xfcc():
    from conftest import close_stack, make_stack
    # Envoy removes the header unless told to keep it: FORWARD_ONLY or APPEND_FORWARD when the
    # trusted proxy connects with mTLS, ALWAYS_FORWARD_ONLY when it does not (as here).
    stack = make_stack(XFCC_CONFIG, extra={"hcm_extra": {"forward_client_cert_details": "ALWAYS_FORWARD_ONLY"}})
    yield stack
    close_stack(stack)


def test_the_binding_through_a_trusted_proxys_xfcc(xfcc):
    good = f'By=spiffe://gw;Hash={ALICE["sha256"].hex()};Subject="CN=alice-client";URI='
    allowed(xfcc, "/orders", bearer(token()) + [("x-forwarded-client-cert", good)])
    bad = f'Hash={MALLORY["sha256"].hex()}'
    r = refused(xfcc, "/orders", bearer(token()) + [("x-forwarded-client-cert", bad)])
    assert r.status == 401 and "another client certificate" in r.json()["detail"]
    r = refused(xfcc, "/orders", bearer(token()))
    assert r.status == 401 and "none was presented" in r.json()["detail"]
    # `allowed`: an unbound token needs no certificate.
    allowed(xfcc, "/orders", bearer(token(cert=None)))


def test_a_dpop_proof_over_tls_names_https():
    """Issue 35: the scheme of a DPoP `htu` is the connection's. Over TLS (Envoy's
    `connection.tls_version`, the module's attribute 31) an `https://` htu passes and an
    `http://` one is refused."""
    from dpop_client import DpopClient
    client = DpopClient()
    gw = TlsGw({"realm": "api", "providers": {"idp": provider(dpop="allowed")}})
    try:
        c = claims()
        c["cnf"] = {"jkt": client.jkt}
        tok = ISSUER.token("ES256", c)
        https = f"https://127.0.0.1:{gw.port}/orders"
        r = gw.get("/orders", [("authorization", f"DPoP {tok}"), ("dpop", client.proof("GET", https, tok))])
        assert r.status == 200, (r.status, r.body, gw.envoy.log()[-3000:])
        http_ = f"http://127.0.0.1:{gw.port}/orders"
        r = gw.get("/orders", [("authorization", f"DPoP {tok}"), ("dpop", client.proof("GET", http_, tok))])
        assert r.status == 401 and r.json()["error"] == "invalid_dpop_proof", (r.status, r.body)
    finally:
        gw.close()
