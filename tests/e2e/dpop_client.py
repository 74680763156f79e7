"""A DPoP client for the tests (RFC 9449): a P-256 key (signed with `cryptography`, through
jwtkit), its public JWK and RFC 7638 thumbprint, and proofs for one request each — or, with
`over`, proofs that are wrong in one chosen way."""

import hashlib
import json
import time
import uuid

from jwtkit import Keys, b64


def thumbprint(jwk):
    """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
    members = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64(hashlib.sha256(canonical.encode()).digest())


def server_nonce(secret_b64, step):
    """A DPoP server nonce as docs/sender-constraints.md derives it: the step (8 bytes, big
    endian) and the first 16 bytes of HKDF-SHA256 (salt `authgate dpop nonce v1`, the secret as
    input key material, the step as info), in base64url."""
    import base64
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
    h = hmac.HMAC(b"authgate dpop nonce v1", hashes.SHA256())
    h.update(base64.b64decode(secret_b64))
    info = step.to_bytes(8, "big")
    return b64(info + HKDFExpand(hashes.SHA256(), 16, info).derive(h.finalize()))


def ath(token):
    return b64(hashlib.sha256(token.encode()).digest())


class DpopClient:
    def __init__(self):
        self.keys = Keys(prefix="dpop-")
        self.jwk = Keys._ec(self.keys.p256, "P-256", 32)
        self.jkt = thumbprint(self.jwk)

    def proof(self, method, url, token, alg="ES256", header=None, **over):
        """A proof for `method url` with `token`; `over` replaces (or, as None, drops) claims."""
        c = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time()), "ath": ath(token)}
        c.update(over)
        c = {k: v for k, v in c.items() if v is not None}
        h = {"typ": "dpop+jwt", "jwk": self.jwk, "kid": None}
        h.update(header or {})
        return self.keys.token(alg, c, header=h)
