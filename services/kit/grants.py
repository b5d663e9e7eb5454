"""Download grants: the scheduler's signed permission for one node to fetch one blob, checked by transfer.

A grant is a compact JWS (ES256) signed with the scheduler's own TLS key; its certificate travels in the
`x5c` header, so transfer needs no key distribution: it trusts whatever the service CA issued to the
name "scheduler", for as long as that certificate is valid.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

import jwt
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.kit.errors import PermissionDenied
from services.kit.pki import CertifiedKey

__all__ = [
    "GRANT_ALGORITHM",
    "GRANT_TYPE",
    "GRANT_ISSUER",
    "GRANT_AUDIENCE",
    "SIGNER_NAME",
    "issue_grant",
    "verify_grant",
]

GRANT_ALGORITHM = "ES256"
GRANT_TYPE = "convoy-grant"
GRANT_ISSUER = "scheduler"
GRANT_AUDIENCE = "convoy-transfer"
# The certificate name a grant's signer must have: only the scheduler hands out grants.
SIGNER_NAME = "scheduler"
# Clocks of the scheduler and of transfer may differ a little.
LEEWAY = timedelta(seconds=30)
# A grant is a few hundred bytes; anything far larger is not one and is not worth parsing.
_MAX_CHARS = 8192


def issue_grant(signer: CertifiedKey, *, node_id: str, sha256: str, ttl: timedelta) -> str:
    """A grant for `node_id` to download blob `sha256`, valid for `ttl`."""
    if signer.key is None:
        raise ValueError("a grant signer needs its private key")
    now = datetime.now(UTC)
    claims = {
        "iss": GRANT_ISSUER,
        "aud": GRANT_AUDIENCE,
        "sub": node_id,
        "sha256": sha256,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    der = signer.certificate.public_bytes(serialization.Encoding.DER)
    headers = {"typ": GRANT_TYPE, "x5c": [base64.b64encode(der).decode()]}
    return jwt.encode(claims, signer.key, algorithm=GRANT_ALGORITHM, headers=headers)


def verify_grant(token: str, *, trusted_ca: x509.Certificate, node_id: str, sha256: str) -> None:
    """Returns when the grant lets `node_id` download `sha256`; PermissionDenied with a short reason else."""
    if not token:
        raise PermissionDenied("a download grant is required")
    if len(token) > _MAX_CHARS:
        raise PermissionDenied("the download grant is not valid")
    signer = _signer_certificate(token, trusted_ca)
    public_key = signer.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise PermissionDenied("the download grant's signer has no EC key")
    claims = _verified_claims(token, public_key)
    if claims.get("sub") != node_id:
        raise PermissionDenied("the download grant was issued to another node")
    if claims.get("sha256") != sha256:
        raise PermissionDenied("the download grant is for another blob")


def _signer_certificate(token: str, trusted_ca: x509.Certificate) -> x509.Certificate:
    """The certificate in the grant's header, if the service CA issued it to the scheduler and it is valid
    now; the signature itself is checked afterwards with its key."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise PermissionDenied("the download grant is not valid") from exc
    chain = header.get("x5c")
    if header.get("typ") != GRANT_TYPE or not isinstance(chain, list) or not chain:
        raise PermissionDenied("the download grant is not valid")
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise PermissionDenied("the download grant's signer certificate is unreadable") from exc
    try:
        certificate.verify_directly_issued_by(trusted_ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise PermissionDenied("the download grant was not signed by a trusted scheduler") from exc
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != SIGNER_NAME:
        raise PermissionDenied("the download grant was not signed by a trusted scheduler")
    now = datetime.now(UTC)
    if not certificate.not_valid_before_utc - LEEWAY <= now <= certificate.not_valid_after_utc + LEEWAY:
        raise PermissionDenied("the download grant's signer certificate is not valid now")
    return certificate


def _verified_claims(token: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, object]:
    try:
        return jwt.decode(
            token,
            public_key,
            algorithms=[GRANT_ALGORITHM],
            audience=GRANT_AUDIENCE,
            issuer=GRANT_ISSUER,
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "sub", "sha256", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise PermissionDenied("the download grant has expired") from exc
    except jwt.PyJWTError as exc:
        raise PermissionDenied("the download grant is not valid") from exc
