"""Wires the auth process: database, signer, use cases, servicers, and the gRPC server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from convoy.auth.v1 import auth_pb2 as pb
from convoy.auth.v1 import auth_pb2_grpc as pb_grpc
from services.auth.auditlog import AuditUseCases
from services.auth.config import AuthSettings
from services.auth.enrollment import EnrollmentUseCases
from services.auth.join_tokens import JoinTokenUseCases
from services.auth.node_ca import NodeAuthority
from services.auth.passwords import Passwords
from services.auth.service import Core, SessionUseCases
from services.auth.servicer import AuditServicer, AuthServicer, EnrollmentServicer
from services.auth.signing import Signer
from services.auth.users import UserUseCases
from services.kit.db import Database
from services.kit.grpc_server import GrpcServer
from services.kit.logs import configure_logging
from services.kit.metrics import start_metrics_listener
from services.kit.telemetry import configure_tracing
from services.kit.tokens import ALGORITHM, TokenVerifier

__all__ = ["AuthProcess", "build", "serve"]


@dataclass
class AuthProcess:
    server: GrpcServer
    db: Database
    core: Core
    users: UserUseCases


def build_core(settings: AuthSettings) -> Core:
    signer = Signer(
        settings.jwt_key_file.read_bytes(),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        lifetime=timedelta(seconds=settings.access_token_seconds),
    )
    passwords = Passwords(
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
    )
    db = Database(settings.require_database_url(), pool_size=settings.db_pool_size)
    return Core(db, settings, signer, passwords)


def build(settings: AuthSettings) -> AuthProcess:
    core = build_core(settings)
    jwks = pb.GetJwksResponse(
        jwks_json=core.signer.jwks_json(),
        issuer=core.signer.issuer,
        audience=core.signer.audience,
        algorithm=ALGORITHM,
    )
    verifier = TokenVerifier(jwks.jwks_json, issuer=jwks.issuer, audience=jwks.audience)
    server = GrpcServer(settings, verifier=lambda: verifier, probe=core.db.ping)
    users = UserUseCases(core)
    auth_servicer = AuthServicer(SessionUseCases(core), users, jwks)
    server.add(
        pb_grpc.add_AuthServiceServicer_to_server,
        auth_servicer,
        pb.DESCRIPTOR.services_by_name["AuthService"],
    )
    audit_servicer = AuditServicer(AuditUseCases(core))
    server.add(
        pb_grpc.add_AuditServiceServicer_to_server,
        audit_servicer,
        pb.DESCRIPTOR.services_by_name["AuditService"],
    )
    authority = NodeAuthority.load(settings)
    enrollment = EnrollmentServicer(JoinTokenUseCases(core, authority), EnrollmentUseCases(core, authority))
    server.add(
        pb_grpc.add_EnrollmentServiceServicer_to_server,
        enrollment,
        pb.DESCRIPTOR.services_by_name["EnrollmentService"],
    )
    return AuthProcess(server, core.db, core, users)


async def serve(settings: AuthSettings) -> None:
    configure_logging("auth", settings.log_level)
    configure_tracing("auth")
    start_metrics_listener(settings.metrics_listen)
    process = build(settings)
    await process.server.start()
    await process.server.run_until_signalled(on_stopped=process.db.close)
