"""Keeps a TokenVerifier built from auth's published keys, for every process that checks access tokens."""

from __future__ import annotations

import asyncio
import logging
import time

import grpc

from convoy.auth.v1 import auth_pb2 as auth_pb
from convoy.auth.v1 import auth_pb2_grpc as auth_grpc
from services.kit.tokens import TokenVerifier

__all__ = ["TokenKeys", "KEY_REFRESH_SECONDS"]

log = logging.getLogger("convoy.keys")
KEY_REFRESH_SECONDS = 30.0
# How often a loaded key set is fetched again, so a rotation reaches processes that never see the new kid.
KEY_RELOAD_SECONDS = 300.0


class TokenKeys:
    """auth's JWKS as a verifier: loaded in the background, reloaded when a token names an unknown key."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = 5.0) -> None:
        self._stub = auth_grpc.AuthServiceStub(channel)
        self._timeout = timeout
        self._lock = asyncio.Lock()
        self._loaded_at = 0.0
        self.verifier: TokenVerifier | None = None
        self._loaded = asyncio.Event()

    async def load(self) -> TokenVerifier:
        """Fetches the keys, at most once per KEY_REFRESH_SECONDS, so tokens with made-up key ids
        cannot turn every request into a call to auth."""
        async with self._lock:
            now = time.monotonic()
            if self.verifier is None or now - self._loaded_at >= KEY_REFRESH_SECONDS:
                jwks = await self._stub.GetJwks(auth_pb.GetJwksRequest(), timeout=self._timeout)
                self.verifier = TokenVerifier(jwks.jwks_json, issuer=jwks.issuer, audience=jwks.audience)
                self._loaded_at = now
                self._loaded.set()
            return self.verifier

    async def keep_loading(self) -> None:
        """Background task for the life of the process: auth may start later, and keys may rotate."""
        delay = 0.2
        while True:
            try:
                first = self.verifier is None
                await self.load()
                if first:
                    log.info("loaded token keys from auth")
                delay = KEY_RELOAD_SECONDS
            except grpc.aio.AioRpcError as exc:
                log.warning("auth not reachable for token keys (%s); retrying", exc.code().name)
                delay = min(delay * 2, 5.0) if self.verifier is None else KEY_REFRESH_SECONDS
            await asyncio.sleep(delay)

    async def wait_loaded(self, timeout: float) -> TokenVerifier:
        await asyncio.wait_for(self._loaded.wait(), timeout)
        assert self.verifier is not None
        return self.verifier
