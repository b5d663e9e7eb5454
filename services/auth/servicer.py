"""gRPC servicers of the auth package: proto messages in, use cases called, proto messages out."""

from __future__ import annotations

from convoy.auth.v1 import auth_pb2 as pb
from convoy.auth.v1 import auth_pb2_grpc as pb_grpc
from services.auth.audit import DENIED, FAILURE, SUCCESS, AuditEvent
from services.auth.auditlog import AuditFilter, AuditUseCases
from services.auth.enrollment import EnrollmentUseCases
from services.auth.join_tokens import JoinTokenRequest, JoinTokenUseCases
from services.auth.models import AuditEntry, JoinToken, User
from services.auth.service import Session, SessionUseCases
from services.auth.users import UserChanges, UserUseCases
from services.kit.timestamps import from_timestamp, to_timestamp

__all__ = ["AuthServicer", "AuditServicer", "EnrollmentServicer", "ROLE_TO_PROTO", "ROLE_FROM_PROTO"]

ROLE_TO_PROTO = {"admin": pb.ROLE_ADMIN, "operator": pb.ROLE_OPERATOR, "viewer": pb.ROLE_VIEWER}
ROLE_FROM_PROTO = {value: name for name, value in ROLE_TO_PROTO.items()}
RESULT_TO_PROTO = {
    SUCCESS: pb.AUDIT_RESULT_SUCCESS,
    DENIED: pb.AUDIT_RESULT_DENIED,
    FAILURE: pb.AUDIT_RESULT_FAILURE,
}
RESULT_FROM_PROTO = {value: name for name, value in RESULT_TO_PROTO.items()}


def _role_name(role: int) -> str:
    # An unknown or unset enum value becomes "" and the use case rejects it with a clear message.
    return ROLE_FROM_PROTO.get(role, "")


def user_to_proto(user: User) -> pb.User:
    return pb.User(
        id=str(user.id),
        username=user.username,
        display_name=user.display_name,
        role=ROLE_TO_PROTO.get(user.role, pb.ROLE_UNSPECIFIED),
        disabled=user.disabled,
        created_at=to_timestamp(user.created_at),
        updated_at=to_timestamp(user.updated_at),
        last_login_at=to_timestamp(user.last_login_at),
    )


def _tokens(session: Session) -> pb.TokenPair:
    tokens = session.tokens
    return pb.TokenPair(
        access_token=tokens.access_token,
        access_expires_at=to_timestamp(tokens.access_expires_at),
        refresh_token=tokens.refresh_token,
        refresh_expires_at=to_timestamp(tokens.refresh_expires_at),
        token_type="Bearer",
    )


def audit_to_proto(entry: AuditEntry) -> pb.AuditRecord:
    return pb.AuditRecord(
        id=entry.id or 0,
        time=to_timestamp(entry.time),
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        result=RESULT_TO_PROTO.get(entry.result, pb.AUDIT_RESULT_UNSPECIFIED),
        reason=entry.reason,
        request_id=entry.request_id,
        client_address=entry.client_address,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
        source=entry.source,
    )


def join_token_to_proto(row: JoinToken) -> pb.JoinToken:
    return pb.JoinToken(
        id=str(row.id),
        server_id=str(row.server_id) if row.server_id else "",
        group_ids=[str(group_id) for group_id in row.group_ids],
        expires_at=to_timestamp(row.expires_at),
        max_uses=row.max_uses,
        uses=row.uses,
        revoked=row.revoked,
        created_by=row.created_by,
        created_at=to_timestamp(row.created_at),
    )


class AuthServicer(pb_grpc.AuthServiceServicer):
    def __init__(self, sessions: SessionUseCases, users: UserUseCases, jwks: pb.GetJwksResponse) -> None:
        self._sessions, self._users, self._jwks = sessions, users, jwks

    async def Login(self, request: pb.LoginRequest, context: object) -> pb.LoginResponse:
        session = await self._sessions.login(request.username, request.password)
        return pb.LoginResponse(tokens=_tokens(session), user=user_to_proto(session.user))

    async def Refresh(self, request: pb.RefreshRequest, context: object) -> pb.RefreshResponse:
        session = await self._sessions.refresh(request.refresh_token)
        return pb.RefreshResponse(tokens=_tokens(session), user=user_to_proto(session.user))

    async def Logout(self, request: pb.LogoutRequest, context: object) -> pb.LogoutResponse:
        await self._sessions.logout(request.refresh_token)
        return pb.LogoutResponse()

    async def GetJwks(self, request: pb.GetJwksRequest, context: object) -> pb.GetJwksResponse:
        return self._jwks

    async def GetCurrentUser(
        self, request: pb.GetCurrentUserRequest, context: object
    ) -> pb.GetCurrentUserResponse:
        return pb.GetCurrentUserResponse(user=user_to_proto(await self._sessions.current_user()))

    async def ChangePassword(
        self, request: pb.ChangePasswordRequest, context: object
    ) -> pb.ChangePasswordResponse:
        await self._sessions.change_password(request.current_password, request.new_password)
        return pb.ChangePasswordResponse()

    async def CreateUser(self, request: pb.CreateUserRequest, context: object) -> pb.CreateUserResponse:
        user = await self._users.create(
            request.username, request.display_name, _role_name(request.role), request.password
        )
        return pb.CreateUserResponse(user=user_to_proto(user))

    async def GetUser(self, request: pb.GetUserRequest, context: object) -> pb.GetUserResponse:
        return pb.GetUserResponse(user=user_to_proto(await self._users.get(request.id)))

    async def ListUsers(self, request: pb.ListUsersRequest, context: object) -> pb.ListUsersResponse:
        role = _role_name(request.role) if request.role else ""
        page = await self._users.list(
            size=request.page_size, token=request.page_token, query=request.query, role=role
        )
        return pb.ListUsersResponse(
            users=[user_to_proto(user) for user in page.users],
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def UpdateUser(self, request: pb.UpdateUserRequest, context: object) -> pb.UpdateUserResponse:
        changes = UserChanges(
            display_name=request.display_name if request.HasField("display_name") else None,
            role=_role_name(request.role) if request.HasField("role") else None,
            disabled=request.disabled if request.HasField("disabled") else None,
            password=request.password if request.HasField("password") else None,
        )
        return pb.UpdateUserResponse(user=user_to_proto(await self._users.update(request.id, changes)))

    async def DeleteUser(self, request: pb.DeleteUserRequest, context: object) -> pb.DeleteUserResponse:
        await self._users.delete(request.id)
        return pb.DeleteUserResponse()


class AuditServicer(pb_grpc.AuditServiceServicer):
    def __init__(self, audit_log: AuditUseCases) -> None:
        self._audit = audit_log

    async def RecordAudit(self, request: pb.RecordAuditRequest, context: object) -> pb.RecordAuditResponse:
        event = AuditEvent(
            request.action, request.target, RESULT_FROM_PROTO.get(request.result, ""), request.reason
        )
        return pb.RecordAuditResponse(record=audit_to_proto(await self._audit.record(event, request.actor)))

    async def ListAudit(self, request: pb.ListAuditRequest, context: object) -> pb.ListAuditResponse:
        where = AuditFilter(
            actor=request.actor,
            action=request.action,
            target=request.target,
            result=RESULT_FROM_PROTO.get(request.result, str(request.result)) if request.result else "",
            request_id=request.request_id,
            since=from_timestamp(request, "since"),
            until=from_timestamp(request, "until"),
        )
        page = await self._audit.list(where, size=request.page_size, token=request.page_token)
        return pb.ListAuditResponse(
            records=[audit_to_proto(entry) for entry in page.records], next_page_token=page.next_page_token
        )

    async def VerifyAuditChain(
        self, request: pb.VerifyAuditChainRequest, context: object
    ) -> pb.VerifyAuditChainResponse:
        report = await self._audit.verify()
        return pb.VerifyAuditChainResponse(
            ok=report.ok,
            records_checked=report.checked,
            first_bad_id=report.first_bad_id,
            reason=report.reason,
        )


class EnrollmentServicer(pb_grpc.EnrollmentServiceServicer):
    def __init__(self, join_tokens: JoinTokenUseCases, enrollment: EnrollmentUseCases) -> None:
        self._join_tokens, self._enrollment = join_tokens, enrollment

    async def CreateJoinToken(
        self, request: pb.CreateJoinTokenRequest, context: object
    ) -> pb.CreateJoinTokenResponse:
        created = await self._join_tokens.create(
            JoinTokenRequest(
                server_id=request.server_id,
                group_ids=list(request.group_ids),
                ttl_seconds=request.ttl_seconds,
                max_uses=request.max_uses,
            )
        )
        return pb.CreateJoinTokenResponse(
            join_token=join_token_to_proto(created.join_token),
            token=created.token,
            ca_fingerprint=created.ca_fingerprint,
        )

    async def ListJoinTokens(
        self, request: pb.ListJoinTokensRequest, context: object
    ) -> pb.ListJoinTokensResponse:
        page = await self._join_tokens.list(
            size=request.page_size, token=request.page_token, include_expired=request.include_expired
        )
        return pb.ListJoinTokensResponse(
            join_tokens=[join_token_to_proto(row) for row in page.join_tokens],
            next_page_token=page.next_page_token,
        )

    async def RevokeJoinToken(
        self, request: pb.RevokeJoinTokenRequest, context: object
    ) -> pb.RevokeJoinTokenResponse:
        await self._join_tokens.revoke(request.id)
        return pb.RevokeJoinTokenResponse()

    async def RedeemJoinToken(
        self, request: pb.RedeemJoinTokenRequest, context: object
    ) -> pb.RedeemJoinTokenResponse:
        enrollment = await self._enrollment.redeem(
            request.token, request.csr_pem, request.hostname, request.peer_address
        )
        return pb.RedeemJoinTokenResponse(
            node_id=str(enrollment.node_id),
            certificate_pem=enrollment.certificate.pem,
            ca_certificate_pem=enrollment.ca_certificate_pem,
            not_after=to_timestamp(enrollment.certificate.not_after),
            server_id=str(enrollment.node_id),
            group_ids=[str(group_id) for group_id in enrollment.group_ids],
        )

    async def RenewNodeCertificate(
        self, request: pb.RenewNodeCertificateRequest, context: object
    ) -> pb.RenewNodeCertificateResponse:
        signed = await self._enrollment.renew(request.node_id, request.csr_pem)
        return pb.RenewNodeCertificateResponse(
            certificate_pem=signed.pem, not_after=to_timestamp(signed.not_after)
        )

    async def RevokeNode(self, request: pb.RevokeNodeRequest, context: object) -> pb.RevokeNodeResponse:
        await self._enrollment.revoke(request.node_id, request.reason)
        return pb.RevokeNodeResponse()

    async def GetNodeStatus(
        self, request: pb.GetNodeStatusRequest, context: object
    ) -> pb.GetNodeStatusResponse:
        status = await self._enrollment.status(request.node_id)
        return pb.GetNodeStatusResponse(
            enrolled=status.enrolled,
            revoked=status.revoked,
            revoked_at=to_timestamp(status.revoked_at),
            enrolled_at=to_timestamp(status.enrolled_at),
        )

    async def GetCaBundle(self, request: pb.GetCaBundleRequest, context: object) -> pb.GetCaBundleResponse:
        pem, ca_fingerprint = self._enrollment.ca_bundle()
        return pb.GetCaBundleResponse(ca_certificate_pem=pem, fingerprint=ca_fingerprint)
