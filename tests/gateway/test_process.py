"""The gateway process as deployed: its metrics on a listener of their own, none on the public API port."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack.ports import free_port
from tests.support.auth_process import REPO, process_env
from tests.support.metrics import sample_value

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
UPSTREAMS = ("AUTH", "INVENTORY", "CATALOG", "TRANSFER", "SCHEDULER")


@contextmanager
def running_gateway(pki_dir: Path, workdir: Path, **extra_env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m services.gateway serve`, its upstreams on a port nobody listens on (liveness does not
    need them); killed on the way out whatever happened."""
    nowhere = f"127.0.0.1:{free_port()}"
    env = process_env(
        CONVOY_ENV="dev",
        CONVOY_PKI_DIR=str(pki_dir),
        **{f"CONVOY_GATEWAY_{name}_TARGET": nowhere for name in UPSTREAMS},
        **extra_env,
    )
    log = workdir / "gateway.log"
    with log.open("wb") as sink:
        command = [sys.executable, "-m", "services.gateway", "serve"]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(STOP_TIMEOUT)


def wait_live(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        assert process.poll() is None, f"the gateway exited early:\n{log.read_text(errors='replace')}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        assert time.monotonic() < deadline, f"the gateway never answered:\n{log.read_text(errors='replace')}"
        time.sleep(0.1)


def test_metrics_are_served_on_their_own_port_and_not_on_the_api_port(pki_dir: Path, tmp_path: Path) -> None:
    # A console build too: its page fallback must not answer /metrics either.
    console = tmp_path / "console"
    console.mkdir()
    (console / "index.html").write_text("<!doctype html><title>Convoy</title>")
    port, metrics_port = free_port(), free_port()
    api = f"http://127.0.0.1:{port}"
    with running_gateway(
        pki_dir,
        tmp_path,
        CONVOY_GATEWAY_ADDR=f"127.0.0.1:{port}",
        CONVOY_GATEWAY_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
        CONVOY_GATEWAY_CONSOLE_DIR=str(console),
    ) as process:
        wait_live(process, api, tmp_path / "gateway.log")
        public = httpx.get(f"{api}/metrics", timeout=5)
        assert public.status_code == 404
        assert public.json()["error"]["code"] == "not_found"
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert scraped.status_code == 200
        live = {"method": "GET", "route": "/healthz", "status": "200"}
        assert (sample_value(scraped.text, "convoy_http_requests_total", live) or 0) >= 1
        # The listener's thread must not keep a stopping gateway alive. uvicorn shuts down gracefully, then
        # raises the signal again, so the exit status is the signal's.
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT) == -signal.SIGTERM
