"""Seals a session cookie as authgate does, with other implementations: HKDF-SHA256 from
`cryptography` and XChaCha20-Poly1305 from libsodium (PyNaCl). That authgate opens what these
seal checks the format against code it does not share: `0x01 || nonce(24) || ciphertext+tag`,
base64url without padding, `<cookie name>\n<issuer>\n<client_id>` as associated data (a value
opens for one cookie of one sign-in provider), the key HKDF-SHA256(secret, salt none, info
"authgate cookie seal v1")."""

import base64
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt, crypto_aead_xchacha20poly1305_ietf_encrypt


def key_of(secret_b64):
    secret = base64.b64decode(secret_b64)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"authgate cookie seal v1").derive(secret)


def seal(secret_b64, cookie, plaintext, issuer, client_id, nonce=None):
    nonce = nonce or os.urandom(24)
    aad = f"{cookie}\n{issuer}\n{client_id}".encode()
    sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key_of(secret_b64))
    return base64.urlsafe_b64encode(b"\x01" + nonce + sealed).rstrip(b"=").decode()


def session(secret_b64, subject, claims, expires, issuer, client_id="web", cookie="__Host-authgate"):
    """The `Cookie` header value of a session for `subject` until `expires` (seconds), made by
    the sign-in provider of `issuer` and `client_id`."""
    body = json.dumps({"sub": subject, "exp": expires, "claims": claims}).encode()
    return f"{cookie}={seal(secret_b64, cookie, body, issuer, client_id)}"


def open_value(secret_b64, cookie, value, issuer, client_id):
    """The plaintext of a value authgate sealed for `cookie` of that provider (a test reads
    what a sign-in under way will return to)."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    assert raw[0] == 1, "version 1"
    aad = f"{cookie}\n{issuer}\n{client_id}".encode()
    return crypto_aead_xchacha20poly1305_ietf_decrypt(raw[25:], aad, raw[1:25], key_of(secret_b64))
