"""The namespace harness: hosts reach a server on the bridge address, a downed link cuts one off, nothing stays."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.support.netns import Namespace, Network

DIAL = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        s.sendall(b"ping")
        print(s.recv(64).decode())
except OSError as exc:
    print("error", exc)
    sys.exit(3)
"""


class EchoServer:
    """Answers every connection with the address it came from."""

    def __init__(self, host: str) -> None:
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return  # closed
            with conn:
                conn.recv(64)
                conn.sendall(peer[0].encode())

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def net() -> Iterator[Network]:
    with Network(3) as network:
        yield network


def dial(ns: Namespace, host: str, port: int, timeout: float = 2.0) -> tuple[int, str]:
    done = ns.run([sys.executable, "-c", DIAL, host, str(port), str(timeout)], timeout=timeout + 20)
    return done.returncode, done.stdout.strip()


def test_hosts_reach_the_bridge_address_until_their_link_goes_down(net: Network) -> None:
    assert len({ns.ip for ns in net.namespaces}) == 3
    assert all(ipaddress.ip_address(ns.ip) in net.subnet and ns.ip != net.host_ip for ns in net.namespaces)
    server = EchoServer(net.host_ip)
    try:
        # Each host reaches the server from its own address.
        for ns in net.namespaces:
            assert dial(ns, net.host_ip, server.port) == (0, ns.ip)
        # The host's loopback is not theirs: 127.0.0.1 inside a namespace is the namespace's own.
        code, _ = dial(net.namespaces[0], "127.0.0.1", server.port)
        assert code == 3

        cut = net.namespaces[1]
        cut.link_down()
        code, out = dial(cut, net.host_ip, server.port)
        assert code == 3, out
        # The others are not affected.
        assert dial(net.namespaces[0], net.host_ip, server.port) == (0, net.namespaces[0].ip)
        assert dial(net.namespaces[2], net.host_ip, server.port) == (0, net.namespaces[2].ip)

        cut.link_up()
        assert dial(cut, net.host_ip, server.port, timeout=10.0) == (0, cut.ip)
    finally:
        server.close()


def test_close_kills_processes_and_leaves_nothing_behind() -> None:
    net = Network(3)
    names = [ns.name for ns in net.namespaces]
    assert sorted(net.leftovers()) == sorted([net.bridge, *(ns.host_veth for ns in net.namespaces), *names])
    sleeper = net.namespaces[0].popen(["sleep", "600"])
    net.close()
    assert sleeper.wait(10) is not None
    assert net.leftovers() == []
    net.close()  # twice is harmless
