"""Download grants: only the scheduler's certificate from the service CA signs one, for one node and one
blob, for a short while; every other grant is refused with a short reason."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.kit import grants, pki
from services.kit.errors import PermissionDenied

NODE = "6f1c7a52-6d0c-4a44-9d0e-6c9a8f0e3b11"
BLOB = "ab" * 32
OTHER_BLOB = "cd" * 32


@pytest.fixture(scope="module")
def service_ca(pki_dir: Path) -> pki.CertifiedKey:
    return pki.load_certified_key(pki_dir / "ca.pem", pki_dir / "ca-key.pem")


@pytest.fixture(scope="module")
def scheduler(pki_dir: Path) -> pki.CertifiedKey:
    return pki.load_certified_key(pki_dir / "scheduler.pem", pki_dir / "scheduler-key.pem")


def grant(signer: pki.CertifiedKey, *, node_id: str = NODE, sha256: str = BLOB, minutes: int = 10) -> str:
    return grants.issue_grant(signer, node_id=node_id, sha256=sha256, ttl=timedelta(minutes=minutes))


def refusal(token: str, ca: pki.CertifiedKey, *, node_id: str = NODE, sha256: str = BLOB) -> str:
    with pytest.raises(PermissionDenied) as refused:
        grants.verify_grant(token, trusted_ca=ca.certificate, node_id=node_id, sha256=sha256)
    return refused.value.message


def test_a_grant_from_the_scheduler_lets_its_node_fetch_its_blob(
    scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey
) -> None:
    token = grant(scheduler)

    grants.verify_grant(token, trusted_ca=service_ca.certificate, node_id=NODE, sha256=BLOB)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (header["alg"], header["typ"]) == ("ES256", "convoy-grant")
    der = scheduler.certificate.public_bytes(serialization.Encoding.DER)
    assert header["x5c"] == [base64.b64encode(der).decode()]
    assert {key: claims[key] for key in ("iss", "aud", "sub", "sha256")} == {
        "iss": "scheduler",
        "aud": "convoy-transfer",
        "sub": NODE,
        "sha256": BLOB,
    }
    assert claims["exp"] - claims["iat"] == 600


def test_a_grant_for_another_node_is_refused(
    scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey
) -> None:
    token = grant(scheduler, node_id="another-node")

    assert refusal(token, service_ca) == "the download grant was issued to another node"


def test_a_grant_for_another_blob_is_refused(
    scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey
) -> None:
    assert (
        refusal(grant(scheduler, sha256=OTHER_BLOB), service_ca) == "the download grant is for another blob"
    )


def test_an_expired_grant_is_refused(scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey) -> None:
    assert refusal(grant(scheduler, minutes=-5), service_ca) == "the download grant has expired"


def test_no_grant_is_refused(service_ca: pki.CertifiedKey) -> None:
    assert refusal("", service_ca) == "a download grant is required"


@pytest.mark.parametrize("token", ["x", "a.b.c", "e30.e30.", "A" * 10_000])
def test_garbage_is_refused(service_ca: pki.CertifiedKey, token: str) -> None:
    assert refusal(token, service_ca) == "the download grant is not valid"


def test_another_service_of_the_same_ca_cannot_sign_grants(
    pki_dir: Path, service_ca: pki.CertifiedKey
) -> None:
    transfer = pki.load_certified_key(pki_dir / "transfer.pem", pki_dir / "transfer-key.pem")

    assert refusal(grant(transfer), service_ca) == "the download grant was not signed by a trusted scheduler"


def test_a_scheduler_certificate_from_another_ca_cannot_sign_grants(service_ca: pki.CertifiedKey) -> None:
    impostor = pki.issue_certificate(pki.create_ca(pki.CA_COMMON_NAME), "scheduler")

    assert refusal(grant(impostor), service_ca) == "the download grant was not signed by a trusted scheduler"


def test_an_expired_scheduler_certificate_cannot_sign_grants(service_ca: pki.CertifiedKey) -> None:
    expired = pki.issue_certificate(service_ca, "scheduler", lifetime=timedelta(minutes=-2))

    assert refusal(grant(expired), service_ca) == "the download grant's signer certificate is not valid now"


def test_the_schedulers_certificate_with_another_key_is_refused(
    scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey
) -> None:
    forged = pki.CertifiedKey(scheduler.certificate, ec.generate_private_key(ec.SECP256R1()))

    assert refusal(grant(forged), service_ca) == "the download grant is not valid"


def test_changed_claims_break_the_signature(
    scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey
) -> None:
    header, _, signature = grant(scheduler, sha256=OTHER_BLOB).split(".")
    claims = jwt.decode(grant(scheduler, sha256=OTHER_BLOB), options={"verify_signature": False})
    claims["sha256"] = BLOB
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    assert refusal(f"{header}.{body}.{signature}", service_ca) == "the download grant is not valid"


def test_an_unsigned_grant_is_refused(scheduler: pki.CertifiedKey, service_ca: pki.CertifiedKey) -> None:
    der = scheduler.certificate.public_bytes(serialization.Encoding.DER)
    headers = {"typ": "convoy-grant", "x5c": [base64.b64encode(der).decode()]}
    claims = {
        "iss": "scheduler",
        "aud": "convoy-transfer",
        "sub": NODE,
        "sha256": BLOB,
        "iat": 0,
        "exp": 2**40,
    }
    token = jwt.encode(claims, None, algorithm="none", headers=headers)

    assert refusal(token, service_ca) == "the download grant is not valid"
