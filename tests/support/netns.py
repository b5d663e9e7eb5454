"""Several hosts on one machine: network namespaces on a private bridge, each with its own address.

Each `Network` creates a bridge on the host, holding the first address of a 10.x.y.0/24 that no route or address
of the host touches, and one namespace per test host, joined to the bridge by a veth pair. Processes run "on" a
host through `ip netns exec`; setting the host-side veth down cuts that host off (a partition) and setting it up
heals it. Whatever a network created is deleted again on close, at interpreter exit if the test never closed
it, and by the next network created on this machine if the process that made it died without either.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Namespace", "Network", "NetnsError", "network", "require_netns_tools"]

IP_TIMEOUT = 30.0
KILL_TIMEOUT = 10.0
# Interface names are at most 15 bytes (IFNAMSIZ - 1).
IFNAME_MAX = 15
# What each live network created, so that the next run can remove what a killed run left behind.
RECORDS = Path("/run/convoy-test-netns")
# Every name this module creates starts with this, so a leftover is recognisable in `ip link`/`ip netns`.
PREFIX = "cvt"
SUBNET_ATTEMPTS = 200


class NetnsError(Exception):
    """The namespaces could not be set up; the message says what is missing or what `ip` answered."""


def require_netns_tools() -> str:
    """The `ip` binary; fails (never skips) when this machine cannot run namespaced hosts."""
    if os.geteuid() != 0:
        raise NetnsError(
            "end-to-end tests put each test host in a network namespace, which needs root: run them as root "
            "(CI does)"
        )
    ip = shutil.which("ip") or ("/sbin/ip" if os.access("/sbin/ip", os.X_OK) else None)
    if ip is None:
        raise NetnsError("the `ip` command is missing: install iproute2 (tools/bootstrap.sh does)")
    return ip


def _run_ip(ip: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [ip, *args], capture_output=True, text=True, timeout=IP_TIMEOUT, stdin=subprocess.DEVNULL
    )
    if check and done.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done


def _used_networks(ip: str) -> list[ipaddress.IPv4Network]:
    """Every IPv4 prefix the host routes or holds an address in, default routes aside."""
    used: list[ipaddress.IPv4Network] = []
    routes = json.loads(_run_ip(ip, "-j", "-4", "route", "show", "table", "all").stdout or "[]")
    for route in routes:
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(dst, strict=False))
    for link in json.loads(_run_ip(ip, "-j", "-4", "addr", "show").stdout or "[]"):
        for info in link.get("addr_info", []):
            with contextlib.suppress(ValueError, KeyError):
                used.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    return used


def _free_subnet(ip: str) -> ipaddress.IPv4Network:
    used = _used_networks(ip)
    rng = random.SystemRandom()
    for _ in range(SUBNET_ATTEMPTS):
        # 10.0/16 and 10.255/16 are the ones most often taken by VPNs and container tools.
        candidate = ipaddress.IPv4Network(f"10.{rng.randint(1, 254)}.{rng.randint(0, 255)}.0/24")
        if not any(candidate.overlaps(other) for other in used):
            return candidate
    raise NetnsError("no free 10.x.y.0/24 on this host for the test network")


def _local_mac() -> str:
    """A random locally administered unicast MAC address."""
    octets = bytearray(os.urandom(6))
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{octet:02x}" for octet in octets)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(ip: str) -> None:
    """Deletes what networks of processes that no longer exist left behind."""
    if not RECORDS.is_dir():
        return
    for record in RECORDS.glob("*.json"):
        try:
            data = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _pid_alive(int(data.get("pid", 0))):
            continue
        _delete(ip, data.get("veths", []), data.get("bridge"), data.get("namespaces", []))
        record.unlink(missing_ok=True)


def _delete(ip: str, veths: Sequence[str], bridge: str | None, namespaces: Sequence[str]) -> None:
    # Deleting one end of a veth pair deletes the other; deleting a namespace only unmounts it while a
    # process still runs inside, so processes go first (see Network.close) and the links are deleted
    # explicitly rather than left to the namespace's destruction.
    for veth in veths:
        _run_ip(ip, "link", "del", veth, check=False)
    if bridge:
        _run_ip(ip, "link", "del", bridge, check=False)
    for name in namespaces:
        _run_ip(ip, "netns", "del", name, check=False)


@dataclass
class Namespace:
    """One test host: a namespace with `eth0` at `ip` on the bridge, `host_veth` its end on the host."""

    network: Network
    index: int
    name: str
    ip: str
    host_veth: str

    def popen(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[Any]:
        """Starts `argv` on this host (`ip netns exec`); see `Network.run_in`."""
        return self.network.run_in(self, argv, env, **kwargs)

    def run(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        timeout: float = 60.0,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        """Runs `argv` on this host to completion, output captured as text; bounded by `timeout`."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = self.popen(argv, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.network.kill(proc)
            out, err = proc.communicate()
            raise NetnsError(
                f"{list(argv)} on {self.name} did not finish within {timeout:.0f} s:\n{err}"
            ) from exc
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)

    def link_down(self) -> None:
        self.network.link_down(self)

    def link_up(self) -> None:
        self.network.link_up(self)


class Network:
    """A bridge on the host and `count` namespaces on it; `close()` (or leaving the `with`) deletes them."""

    def __init__(self, count: int) -> None:
        if not 1 <= count <= 200:
            raise ValueError("between 1 and 200 namespaces")
        self.ip = require_netns_tools()
        _sweep_stale(self.ip)
        token = uuid.uuid4().hex[:6]
        self.token = token
        self.bridge = f"{PREFIX}{token}b"
        self.namespaces: list[Namespace] = []
        self._veths: list[str] = []
        self._netns_names: list[str] = []
        self._bridge_created = False
        self._procs: list[subprocess.Popen[Any]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._record = RECORDS / f"{token}.json"
        atexit.register(self.close)
        try:
            self.subnet = self._create_bridge()
            self.host_ip = str(self.subnet.network_address + 1)
            for index in range(1, count + 1):
                self.namespaces.append(self._create_namespace(index))
        except BaseException:
            self.close()
            raise

    # --- setup -------------------------------------------------------------------------------------------

    def _save_record(self) -> None:
        RECORDS.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {
            "pid": os.getpid(),
            "bridge": self.bridge if self._bridge_created else None,
            "veths": self._veths,
            "namespaces": self._netns_names,
        }
        tmp = self._record.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self._record)

    def _create_bridge(self) -> ipaddress.IPv4Network:
        _run_ip(self.ip, "link", "add", self.bridge, "type", "bridge")
        self._bridge_created = True
        self._save_record()
        # A bridge without an address of its own takes the lowest one of its ports, so it would change
        # when a port goes down, and the hosts' ARP entries for the bridge address would then point nowhere.
        _run_ip(self.ip, "link", "set", self.bridge, "address", _local_mac())
        for _ in range(5):
            subnet = _free_subnet(self.ip)
            _run_ip(self.ip, "addr", "add", f"{subnet.network_address + 1}/24", "dev", self.bridge)
            # Another run may have picked the same prefix a moment ago: then ours is not the only route.
            routes = json.loads(_run_ip(self.ip, "-j", "-4", "route", "show", str(subnet)).stdout or "[]")
            if [route.get("dev") for route in routes] in ([self.bridge], []):
                _run_ip(self.ip, "link", "set", self.bridge, "up")
                return subnet
            _run_ip(self.ip, "addr", "flush", "dev", self.bridge)
        raise NetnsError("could not claim a 10.x.y.0/24 for the test network")

    def _create_namespace(self, index: int) -> Namespace:
        name = f"{PREFIX}-{self.token}-{index}"
        veth = f"{PREFIX}{self.token}v{index}"
        assert len(veth) <= IFNAME_MAX and len(self.bridge) <= IFNAME_MAX
        address = str(self.subnet.network_address + 10 + index)
        _run_ip(self.ip, "netns", "add", name)
        self._netns_names.append(name)
        self._save_record()
        _run_ip(self.ip, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
        self._veths.append(veth)
        self._save_record()
        _run_ip(self.ip, "link", "set", veth, "master", self.bridge, "up")
        _run_ip(self.ip, "-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
        _run_ip(self.ip, "-n", name, "link", "set", "eth0", "up")
        _run_ip(self.ip, "-n", name, "link", "set", "lo", "up")
        return Namespace(self, index, name, address, veth)

    # --- use ---------------------------------------------------------------------------------------------

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_in(
        self, ns: Namespace, argv: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any
    ) -> subprocess.Popen[Any]:
        """`subprocess.Popen` of `argv` inside `ns`, in a session of its own (so that `kill` reaches its
        children too); `env` replaces the environment (PATH is added when missing). Killed on close."""
        if self._closed:
            raise NetnsError("the network is closed")
        if env is not None:
            env = dict(env)
            env.setdefault("PATH", os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"))
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen([self.ip, "netns", "exec", ns.name, *argv], env=env, **kwargs)
        with self._lock:
            self._procs = [p for p in self._procs if p.poll() is None]
            self._procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
        """Sends `sig` to the process group `run_in` started (the process and whatever it started)."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def link_down(self, ns: Namespace) -> None:
        """Cuts `ns` off: its host-side veth goes down, nothing passes in either direction."""
        _run_ip(self.ip, "link", "set", ns.host_veth, "down")

    def link_up(self, ns: Namespace) -> None:
        """Heals the partition. Address resolution that ran out of probes during the outage is forgotten on
        both sides; otherwise the next packet waits for the failing one and reports "no route to host"."""
        _run_ip(self.ip, "link", "set", ns.host_veth, "up")
        _run_ip(self.ip, "-n", ns.name, "neigh", "flush", "dev", "eth0")
        _run_ip(self.ip, "neigh", "flush", "dev", self.bridge, "to", ns.ip)

    def leftovers(self) -> list[str]:
        """What of this network still exists on the host (empty after close)."""
        links = {
            entry["ifname"] for entry in json.loads(_run_ip(self.ip, "-j", "link", "show").stdout or "[]")
        }
        found = sorted(links & {self.bridge, *self._all_veth_names()})
        names = _run_ip(self.ip, "netns", "list").stdout.split()
        found += sorted(n for n in names if n.startswith(f"{PREFIX}-{self.token}-"))
        return found

    def _all_veth_names(self) -> list[str]:
        return [f"{PREFIX}{self.token}v{index}" for index in range(1, len(self._netns_names) + 1)]

    def close(self) -> None:
        """Stops every process started in the namespaces, then deletes links, bridge and namespaces."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            procs = list(self._procs)
        for proc in procs:
            self.kill(proc)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(KILL_TIMEOUT)
        _delete(self.ip, self._veths, self.bridge if self._bridge_created else None, self._netns_names)
        self._record.unlink(missing_ok=True)
        atexit.unregister(self.close)


@contextlib.contextmanager
def network(count: int) -> Iterator[Network]:
    net = Network(count)
    try:
        yield net
    finally:
        net.close()
