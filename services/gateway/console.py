"""The built web console (frontend/dist) at `/`, with the single-page app's fallback to index.html."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["serve_console"]

# Prefixes the console never answers, so an unknown API path stays a JSON 404 instead of a page.
_NOT_CONSOLE = ("/api", "/healthz", "/readyz", "/metrics")
# Vite names every built asset after its content hash: such a file never changes under its name.
_IMMUTABLE = "public, max-age=31536000, immutable"


def serve_console(app: FastAPI, directory: Path | None) -> None:
    """Answer what no route matched from the console build, if there is one.

    It replaces the router's not-found handler rather than adding a catch-all route: every API route
    keeps priority and its own 405 for a wrong method, and nothing changes when no build is present.
    """
    if directory is None or not (directory / "index.html").is_file():
        return
    app.router.default = _Console(directory.resolve(), app.router.default)


class _Console:
    """GET/HEAD of a file in the build returns it; any other page path returns index.html."""

    def __init__(self, root: Path, not_found: ASGIApp) -> None:
        self.root = root
        self.not_found = not_found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        page = scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not _reserved(path)
        target = self._file(path) if page else None
        if target is None:
            await self.not_found(scope, receive, send)
            return
        cache = _IMMUTABLE if target.parent.name == "assets" else "no-cache"
        await FileResponse(target, headers={"Cache-Control": cache})(scope, receive, send)

    def _file(self, path: str) -> Path | None:
        """The build file for a path, index.html for a client-side route, None for a missing file."""
        candidate = (self.root / path.lstrip("/")).resolve()
        if candidate.is_relative_to(self.root) and candidate.is_file():
            return candidate
        # A missing "name.ext" is a stale or mistyped asset: a 404 tells the browser, HTML would not.
        if PurePosixPath(path).suffix:
            return None
        return self.root / "index.html"


def _reserved(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in _NOT_CONSOLE)
