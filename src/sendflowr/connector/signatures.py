"""Webhook signature verification (constant-time compares, timestamp tolerance).

- **Klaviyo** system webhooks: ``Klaviyo-Signature`` = hex HMAC-SHA256 with the
  endpoint secret over ``raw body + Klaviyo-Timestamp``.
- **SendGrid** signed Event Webhook: ``X-Twilio-Email-Event-Webhook-Signature`` =
  base64 ECDSA (P-256, SHA-256) over ``timestamp + raw body`` with
  ``X-Twilio-Email-Event-Webhook-Timestamp``, verified with the public key from
  SendGrid's settings (``SENDFLOWR_SENDGRID_PUBLIC_KEY``, base64 DER or PEM). When
  only ``SENDFLOWR_SENDGRID_WEBHOOK_SECRET`` is set (e.g. behind a relay that
  re-signs), the same header carries base64 HMAC-SHA256 over the same bytes.

Each check raises ``SignatureInvalid`` (HTTP 401) with a reason; a provider with
nothing configured refuses everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sendflowr.errors import SignatureInvalid, ValidationError

__all__ = [
    "KLAVIYO_SIGNATURE",
    "KLAVIYO_TIMESTAMP",
    "SENDGRID_SIGNATURE",
    "SENDGRID_TIMESTAMP",
    "load_ec_public_key",
    "verify_klaviyo",
    "verify_sendgrid",
]

KLAVIYO_SIGNATURE = "klaviyo-signature"
KLAVIYO_TIMESTAMP = "klaviyo-timestamp"
SENDGRID_SIGNATURE = "x-twilio-email-event-webhook-signature"
SENDGRID_TIMESTAMP = "x-twilio-email-event-webhook-timestamp"


def _timestamp(value: str | None, now: datetime, tolerance_s: int) -> None:
    if not value:
        raise SignatureInvalid("missing timestamp header")
    try:
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        sent = datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        try:
            sent = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SignatureInvalid("unparsable timestamp header") from None
        if sent.tzinfo is None:
            raise SignatureInvalid("timestamp header without a timezone") from None
    if abs((now - sent).total_seconds()) > tolerance_s:
        raise SignatureInvalid(f"timestamp outside the {tolerance_s} s tolerance")


def verify_klaviyo(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    secret: str | None,
    now: datetime,
    tolerance_s: int,
) -> None:
    """Raise ``SignatureInvalid`` unless ``signature`` is Klaviyo's HMAC of body+timestamp."""
    if not secret:
        raise SignatureInvalid("Klaviyo webhooks are not configured (no secret)")
    if not signature:
        raise SignatureInvalid("missing Klaviyo-Signature header")
    _timestamp(timestamp, now, tolerance_s)
    assert timestamp is not None
    expected = hmac.new(secret.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise SignatureInvalid("signature does not match")


def load_ec_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key: base64 DER (as its dashboard shows it) or PEM."""
    try:
        if "BEGIN PUBLIC KEY" in key:
            loaded = serialization.load_pem_public_key(key.encode())
        else:
            loaded = serialization.load_der_public_key(base64.b64decode(key.strip()))
    except (ValueError, binascii.Error) as exc:
        raise ValidationError("sendgrid_public_key", f"not an EC public key: {exc}") from exc
    if not isinstance(loaded, ec.EllipticCurvePublicKey):
        raise ValidationError("sendgrid_public_key", "not an elliptic-curve key")
    return loaded


def verify_sendgrid(
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    *,
    public_key: ec.EllipticCurvePublicKey | None,
    secret: str | None,
    now: datetime,
    tolerance_s: int,
) -> None:
    """Raise ``SignatureInvalid`` unless the SendGrid signature over timestamp+body holds."""
    if public_key is None and not secret:
        raise SignatureInvalid("SendGrid webhooks are not configured (no public key or secret)")
    if not signature:
        raise SignatureInvalid("missing X-Twilio-Email-Event-Webhook-Signature header")
    _timestamp(timestamp, now, tolerance_s)
    assert timestamp is not None
    signed = timestamp.encode() + body
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except binascii.Error:
        raise SignatureInvalid("signature is not base64") from None
    if public_key is not None:
        try:
            public_key.verify(raw, signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise SignatureInvalid("signature does not match") from None
        return
    assert secret is not None
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, raw):
        raise SignatureInvalid("signature does not match")
