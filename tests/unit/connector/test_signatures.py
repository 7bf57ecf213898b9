"""Webhook signatures: valid passes; missing, wrong, mutated and stale fail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendflowr.connector.signatures import (
    load_ec_public_key,
    verify_klaviyo,
    verify_sendgrid,
)
from sendflowr.errors import SignatureInvalid
from tests.unit.connector.signing import (
    klaviyo_headers,
    sendgrid_headers,
    sendgrid_hmac_headers,
    sendgrid_keypair,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
BODY = b'{"data": []}'
SECRET = "klaviyo-secret-0123456789"


def klaviyo(body: bytes, headers: dict[str, str], secret: str | None = SECRET) -> None:
    verify_klaviyo(
        body,
        headers.get("Klaviyo-Signature"),
        headers.get("Klaviyo-Timestamp"),
        secret=secret,
        now=NOW,
        tolerance_s=300,
    )


def test_klaviyo_valid_signature_passes() -> None:
    klaviyo(BODY, klaviyo_headers(BODY, SECRET, TS))


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (BODY, {}, "missing"),
        (BODY, {"Klaviyo-Timestamp": TS}, "missing"),
        (BODY, klaviyo_headers(BODY, "another-secret-value", TS), "does not match"),
        (BODY + b" ", klaviyo_headers(BODY, SECRET, TS), "does not match"),
        (BODY, klaviyo_headers(BODY, SECRET, str(int(NOW.timestamp()) - 301)), "tolerance"),
        (BODY, klaviyo_headers(BODY, SECRET, str(int(NOW.timestamp()) + 301)), "tolerance"),
        (BODY, klaviyo_headers(BODY, SECRET, "not-a-time"), "unparsable"),
    ],
)
def test_klaviyo_bad_signatures_fail(body: bytes, headers: dict[str, str], reason: str) -> None:
    with pytest.raises(SignatureInvalid) as info:
        klaviyo(body, headers)
    assert reason in info.value.reason


def test_klaviyo_without_a_secret_refuses_everything() -> None:
    with pytest.raises(SignatureInvalid, match="not configured"):
        klaviyo(BODY, klaviyo_headers(BODY, SECRET, TS), secret=None)


def test_klaviyo_accepts_iso_timestamps() -> None:
    iso = NOW.isoformat()
    klaviyo(BODY, klaviyo_headers(BODY, SECRET, iso))


def sendgrid(body: bytes, headers: dict[str, str], key: str | None, secret: str | None) -> None:
    verify_sendgrid(
        body,
        headers.get("X-Twilio-Email-Event-Webhook-Signature"),
        headers.get("X-Twilio-Email-Event-Webhook-Timestamp"),
        public_key=load_ec_public_key(key) if key else None,
        secret=secret,
        now=NOW,
        tolerance_s=300,
    )


def test_sendgrid_ecdsa_valid_and_invalid() -> None:
    private, public = sendgrid_keypair()
    other, _ = sendgrid_keypair()
    sendgrid(BODY, sendgrid_headers(BODY, private, TS), public, None)
    stale = str(int(NOW.timestamp()) - 1000)
    cases = [
        (BODY, {}),
        (BODY, sendgrid_headers(BODY, other, TS)),
        (b"[1]", sendgrid_headers(BODY, private, TS)),
        (BODY, sendgrid_headers(BODY, private, stale)),
        (
            BODY,
            {**sendgrid_headers(BODY, private, TS), "X-Twilio-Email-Event-Webhook-Signature": "%%"},
        ),
    ]
    for body, headers in cases:
        with pytest.raises(SignatureInvalid):
            sendgrid(body, headers, public, None)


def test_sendgrid_hmac_fallback_and_unconfigured() -> None:
    sendgrid(BODY, sendgrid_hmac_headers(BODY, "sg-secret", TS), None, "sg-secret")
    with pytest.raises(SignatureInvalid):
        sendgrid(BODY, sendgrid_hmac_headers(BODY, "wrong", TS), None, "sg-secret")
    with pytest.raises(SignatureInvalid, match="not configured"):
        sendgrid(BODY, sendgrid_hmac_headers(BODY, "sg-secret", TS), None, None)


def test_sendgrid_public_key_may_be_pem() -> None:
    private, public = sendgrid_keypair()
    pem = f"-----BEGIN PUBLIC KEY-----\n{public}\n-----END PUBLIC KEY-----\n"
    sendgrid(BODY, sendgrid_headers(BODY, private, TS), pem, None)
