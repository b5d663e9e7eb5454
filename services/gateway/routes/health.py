"""Liveness and readiness (checks the upstreams); metrics have a listener of their own, off the API port."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.gateway.security import UpstreamsDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Every upstream answers and token keys are loaded")
async def readyz(upstreams: UpstreamsDep) -> JSONResponse:
    checks = await upstreams.check()
    ready = all(state == "ok" for state in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )
