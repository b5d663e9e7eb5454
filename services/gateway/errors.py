"""The one table from gRPC status codes to HTTP status codes, and the JSON error body."""

from __future__ import annotations

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse

__all__ = ["HTTP_STATUS_BY_GRPC", "http_status", "error_response", "ApiError"]

HTTP_STATUS_BY_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    # "Not in the right state for this" (still referenced, not paused …) is a conflict with the
    # resource's current state, which 409 tells a client better than a bare 400.
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS_BY_GRPC.get(code, 500)


class ApiError(Exception):
    """An error the gateway itself raises (bad token, missing role …), rendered like upstream ones."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "error": {"code": code, "message": message, "request_id": getattr(request.state, "request_id", "")}
    }
    return JSONResponse(body, status_code=status, headers=headers)
