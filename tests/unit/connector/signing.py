"""Signing helpers the way Klaviyo and SendGrid sign (for tests and the bench)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def klaviyo_headers(body: bytes, secret: str, timestamp: str) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    return {"Klaviyo-Signature": signature, "Klaviyo-Timestamp": timestamp}


def sendgrid_keypair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key pair; the public key as base64 DER, as SendGrid's settings show it."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sendgrid_headers(
    body: bytes, private: ec.EllipticCurvePrivateKey, timestamp: str
) -> dict[str, str]:
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }


def sendgrid_hmac_headers(body: bytes, secret: str, timestamp: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
    }
