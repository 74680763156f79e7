"""Keys, JWKS and tokens for the tests, signed by hand with `cryptography` so that tests can
build any token, including the malformed and malicious ones."""

import base64
import hashlib
import hmac
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ALGS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES256K", "EdDSA"]
HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(length, "big"))


class Keys:
    """One key per family; `kid`s name the family."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.hmac = hashlib.sha512(b"authgate-test-hmac" + prefix.encode()).digest()  # 64 bytes
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.p256 = ec.generate_private_key(ec.SECP256R1())
        self.p384 = ec.generate_private_key(ec.SECP384R1())
        self.k256 = ec.generate_private_key(ec.SECP256K1())
        self.ed = ed25519.Ed25519PrivateKey.generate()

    def kid(self, alg):
        family = {"HS": "hmac", "RS": "rsa", "PS": "rsa", "Ed": "ed"}.get(alg[:2])
        family = family or {"ES256": "p256", "ES384": "p384", "ES256K": "k256"}[alg]
        return self.prefix + family

    def jwks(self, families=("hmac", "rsa", "p256", "p384", "k256", "ed")):
        keys = []
        pub = self.rsa.public_key().public_numbers()
        all_keys = {
            "hmac": {"kty": "oct", "k": b64(self.hmac)},
            "rsa": {"kty": "RSA", "n": _int(pub.n), "e": _int(pub.e)},
            "p256": self._ec(self.p256, "P-256", 32),
            "p384": self._ec(self.p384, "P-384", 48),
            "k256": self._ec(self.k256, "secp256k1", 32),
            "ed": {"kty": "OKP", "crv": "Ed25519", "x": b64(self.ed.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw))},
        }
        for f in families:
            keys.append(dict(all_keys[f], kid=self.prefix + f))
        return {"keys": keys}

    @staticmethod
    def _ec(key, crv, n):
        nums = key.public_key().public_numbers()
        return {"kty": "EC", "crv": crv, "x": _int(nums.x, n), "y": _int(nums.y, n)}

    def rsa_public_pem(self):
        return self.rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, alg, data):
        if alg.startswith("HS"):
            return hmac.new(self.hmac, data, getattr(hashlib, "sha" + alg[2:])).digest()
        if alg.startswith("RS"):
            return self.rsa.sign(data, padding.PKCS1v15(), HASH[alg[2:]]())
        if alg.startswith("PS"):
            h = HASH[alg[2:]]()
            return self.rsa.sign(data, padding.PSS(padding.MGF1(h), h.digest_size), h)
        if alg == "EdDSA":
            return self.ed.sign(data)
        key, size, h = {"ES256": (self.p256, 32, hashes.SHA256()), "ES384": (self.p384, 48, hashes.SHA384()),
                        "ES256K": (self.k256, 32, hashes.SHA256())}[alg]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def token(self, alg="ES256", claims=None, header=None, raw_claims=None, raw_header=None):
        """A signed token. `header` entries are merged over {alg, kid}; `raw_*` are sent
        byte for byte (for duplicate keys and the like)."""
        h = {"alg": alg, "kid": self.kid(alg), "typ": "JWT"}
        h.update(header or {})
        h = {k: v for k, v in h.items() if v is not None}
        head = raw_header if raw_header is not None else json.dumps(h)
        body = raw_claims if raw_claims is not None else json.dumps(claims if claims is not None else {})
        signing_input = f"{b64(head)}.{b64(body)}"
        return f"{signing_input}.{b64(self.sign(alg, signing_input.encode()))}"


def claims(iss="https://idp.test", aud="orders", sub="alice", lifetime=600, **extra):
    now = int(time.time())
    c = {"iss": iss, "aud": aud, "sub": sub, "iat": now, "exp": now + lifetime}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def hs256_with_secret(secret, claims_, header=None):
    h = {"alg": "HS256", "typ": "JWT"}
    h.update(header or {})
    signing_input = f"{b64(json.dumps(h))}.{b64(json.dumps(claims_))}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
