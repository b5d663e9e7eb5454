"""convoyctl end to end: the real command, as installed, against the whole stack and three enrolled agents.
It logs in, sees the fleet, makes a group, uploads a package, deploys it while watching (on a pipe and on a
terminal) and leaves the package on the nodes; a package whose install fails ends in exit 1 naming the
node; every refusal has its exit code; Ctrl-C stops watching and leaves the deployment running; HTTPS with
a private CA; a gateway restart while watching."""

from __future__ import annotations

import json
import re
import signal
import ssl
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.launcher import ADMIN_USERNAME
from devstack.ports import free_port
from tests.convoyctl.running import CLI_TIMEOUT, Cli, Done, Lines, on_terminal
from tests.support.agents import Fleet, build_scripted_deb
from tests.support.e2e_stack import ADMIN_PASSWORD, DEPLOY_TIMEOUT, E2EStack, port_open, wait_for
from tools.console_scripts import write_scripts

E2E_HOSTS = 3
WATCH_TIMEOUT = DEPLOY_TIMEOUT + 30.0

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def cli(e2e: E2EStack, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The installed command (the script `make` writes into .venv/bin), logged in as the admin."""
    home = tmp_path_factory.mktemp("cli-home")
    (home / "bin").mkdir()
    (command,) = write_scripts(home / "bin", sys.executable)
    cli = Cli(command, home)
    done = login(cli, e2e.url)
    assert done.code == 0 and f"logged in to {e2e.url} as admin" in done.stdout, done
    return cli


def login(cli: Cli, server: str, *extra: str, password: str = ADMIN_PASSWORD) -> Done:
    return cli.login(server, ADMIN_USERNAME, password, *extra)


def new_group(cli: Cli, *hostnames: str) -> str:
    """A group of its own for one test, with these members; its name."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    group = cli.json("groups", "create", name, "--category", "web")
    assert (group["name"], group["category"], group["member_count"]) == (name, "web", 0)
    if hostnames:
        assert cli.json("groups", "add-members", name, *hostnames) == {"added": len(hostnames)}
    return name


# --- sessions ----------------------------------------------------------------------------------------------


def test_login_keeps_the_session_private_and_whoami_reads_it(cli: Cli, e2e: E2EStack) -> None:
    assert stat.S_IMODE(cli.credentials.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.credentials.parent.stat().st_mode) == 0o700
    saved = json.loads(cli.credentials.read_text())
    assert saved["current"] == e2e.url and saved["sessions"][e2e.url]["username"] == ADMIN_USERNAME
    user = cli.json("whoami")
    assert (user["username"], user["role"]) == (ADMIN_USERNAME, "admin")


def test_a_wrong_password_exits_3_and_saves_nothing(cli: Cli, e2e: E2EStack, tmp_path: Path) -> None:
    other = cli.elsewhere(tmp_path / "home")
    done = login(other, e2e.url, password="not-the-password")
    assert done.code == 3 and done.stdout == "", done
    assert "error:" in done.stderr
    assert not other.credentials.exists()
    nowhere = other("servers", "list")
    assert nowhere.code == 2 and "no server: give --server URL" in nowhere.stderr, nowhere
    unknown = other("--server", e2e.url, "servers", "list")
    assert unknown.code == 3 and f"not logged in to {e2e.url}" in unknown.stderr, unknown


def test_a_rejected_access_token_is_refreshed_and_saved(cli: Cli, e2e: E2EStack, tmp_path: Path) -> None:
    other = cli.elsewhere(tmp_path / "home")
    assert login(other, e2e.url).code == 0
    saved = json.loads(other.credentials.read_text())
    saved["sessions"][e2e.url]["access_token"] = "not-a-token"
    other.credentials.write_text(json.dumps(saved))
    assert other.json("whoami")["username"] == ADMIN_USERNAME
    session = json.loads(other.credentials.read_text())["sessions"][e2e.url]
    assert session["access_token"] != "not-a-token"
    assert session["refresh_token"] != saved["sessions"][e2e.url]["refresh_token"], "rotated"
    assert stat.S_IMODE(other.credentials.stat().st_mode) == 0o600
    assert other("logout").code == 0
    logged_out = other("whoami")
    assert logged_out.code == 3 and f"not logged in to {e2e.url}" in logged_out.stderr, logged_out


# --- the fleet -----------------------------------------------------------------------------------------------


def test_servers_list_sees_the_fleet(cli: Cli, fleet: Fleet) -> None:
    servers = {server["hostname"]: server for server in cli.json("servers", "list")}
    for host in fleet.hosts:
        assert servers[host.hostname]["id"] == host.node_id
        assert servers[host.hostname]["status"] == "online"
    members = cli.json("servers", "list", "--group", "web-e2e", "--selector", "os_family=deb")
    assert sorted(s["hostname"] for s in members) == ["deb-1", "deb-2"]
    assert cli.json("servers", "get", "rpm-1")["id"] == fleet.rpm.node_id
    table = cli("servers", "list", "--status", "online")
    assert table.code == 0 and table.stdout.split()[:3] == ["ID", "HOSTNAME", "IP"], table
    assert all(host.hostname in table.stdout for host in fleet.hosts)


def test_groups_create_and_add_members(cli: Cli, fleet: Fleet) -> None:
    name = new_group(cli, "deb-1", "rpm-1")
    listed = [g for g in cli.json("groups", "list", "--query", name) if g["name"] == name]
    assert len(listed) == 1 and listed[0]["member_count"] == 2
    assert cli.json("groups", "add-members", name, "deb-1", fleet.debs[1].node_id) == {"added": 1}
    members = cli.json("groups", "members", name)
    assert sorted(s["hostname"] for s in members) == ["deb-1", "deb-2", "rpm-1"]
    again = cli("groups", "create", name)
    assert again.code == 5 and "409" in again.stderr, again


def test_policies_create_and_list(cli: Cli, fleet: Fleet) -> None:
    group = new_group(cli, "deb-1")
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "policy-cli", "1.0-1")))
    name = f"policy-{uuid.uuid4().hex[:8]}"
    argv = ("policies", "create", name, "--software", "policy-cli", "--group", group, "--mode", "report")
    policy = cli.json(*argv, "--batch-size", "1")
    assert (policy["version"], policy["state"], policy["mode"], policy["enabled"]) == (
        "latest",
        "present",
        "report",
        True,
    )
    assert policy["strategy"]["batch_size"] == 1
    assert [p["name"] for p in cli.json("policies", "list", "--software", "policy-cli")] == [name]
    clash = cli(*argv)
    assert clash.code == 5 and "409" in clash.stderr, clash


# --- deploying ------------------------------------------------------------------------------------------------


def test_upload_then_deploy_and_watch_installs_the_package(cli: Cli, fleet: Fleet) -> None:
    group = new_group(cli, "deb-1", "deb-2", "rpm-1")
    v1 = cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "hello-cli", "1.0-1")))
    assert (v1["software_name"], v1["version"], v1["format"]) == ("hello-cli", "1.0-1", "deb")
    assert v1["id"] in [p["id"] for p in cli.json("packages", "list", "--software", "hello-cli")]

    preview = cli.json("deploy", "hello-cli=1.0-1", "--group", group, "--dry-run")
    covered = {server["hostname"] for server in preview["resolved"]}
    left_out = {server["hostname"] for server in preview["incompatible"]}
    assert preview["deployment"] is None and {"deb-1", "deb-2"} <= covered, preview
    assert covered | left_out == {"deb-1", "deb-2", "rpm-1"}

    done = cli(
        "deploy", "hello-cli=1.0-1", "--group", group, "--batch-size", "1", "--watch", timeout=WATCH_TIMEOUT
    )
    assert done.code == 0, done
    for host in fleet.debs:
        assert host.dpkg_query("hello-cli") == ("1.0-1", "ii "), done
        assert re.search(rf"^\d\d:\d\d:\d\d {host.hostname} succeeded$", done.stdout, re.M), done
    assert re.search(r"^\d\d:\d\d:\d\d rpm-1 skipped: ", done.stdout, re.M), done
    assert re.search(r"\) succeeded, .*: 2 succeeded, 1 skipped$", done.stdout, re.M), done

    # The newest version when none is named; -o json: the final deployment and nothing else on stdout.
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "hello-cli", "1.1-1")))
    final = cli.json(
        "deploy", "hello-cli", "--action", "update", "--group", group, "-w", timeout=WATCH_TIMEOUT
    )
    assert (final["state"], final["version"], final["counts"]["succeeded"]) == ("succeeded", "1.1-1", 2)
    assert [host.dpkg_query("hello-cli") for host in fleet.debs] == [("1.1-1", "ii ")] * 2
    assert cli.json("deployments", "get", final["id"]) == final
    assert final["id"] in [d["id"] for d in cli.json("deployments", "list", "--software", "hello-cli")]


def test_watching_on_a_terminal_draws_a_bar_per_node(cli: Cli, fleet: Fleet) -> None:
    group = new_group(cli, "deb-1", "deb-2")
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "terminal-cli", "1.0-1")))
    deployment = cli.json("deploy", "terminal-cli", "--group", group, "--batch-size", "1")
    code, screen = on_terminal(cli, "deployments", "watch", deployment["id"], timeout=WATCH_TIMEOUT)
    assert code == 0, screen
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)  # colours and cursor moves
    assert "━" in text and "100%" in text, screen
    final_frame = text[text.rindex("NODE") :]
    for host in fleet.debs:
        assert re.search(rf"{host.hostname}\s+succeeded\s+━+\s+100%", final_frame), screen
    assert [host.installed_version("terminal-cli") for host in fleet.debs] == ["1.0-1"] * 2


def test_a_failing_install_exits_1_and_names_the_node(cli: Cli, fleet: Fleet) -> None:
    broken = build_scripted_deb(fleet.workdir, "broken-cli", "1.0-1", always_fail=True)
    cli.json("packages", "upload", str(broken))
    done = cli("deploy", "broken-cli", "--server", "deb-2", "--watch", "-o", "json", timeout=WATCH_TIMEOUT)
    assert done.code == 1, done
    deployment = json.loads(done.stdout)
    assert deployment["state"] in ("failed", "paused") and deployment["counts"]["failed"] == 1, done
    assert re.search(r"^  deb-2 failed: .+", done.stderr, re.M), done
    assert fleet.debs[1].installed_version("broken-cli") is None
    log = cli("deployments", "log", deployment["id"], "deb-2")
    assert log.code == 0 and "postinst fails on purpose" in log.stdout, log


def test_refusals_have_their_exit_codes(cli: Cli, fleet: Fleet) -> None:
    unknown_package = cli("deploy", "no-such-software-cli", "--all")
    assert (
        unknown_package.code == 4
        and "no package of software 'no-such-software-cli'" in unknown_package.stderr
    )
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "refused-cli", "1.0-1")))
    unknown_version = cli("deploy", "refused-cli=9.9", "--all")
    assert unknown_version.code == 4 and "has no version '9.9'" in unknown_version.stderr, unknown_version
    assert cli("servers", "get", "no-such-host").code == 4
    assert cli("servers", "list", "--group", "no-such-group").code == 4
    assert cli("deployments", "get", str(uuid.uuid4())).code == 4
    bad_selector = cli("servers", "list", "--selector", "os_family=windows")
    assert bad_selector.code == 2 and "os_family" in bad_selector.stderr, bad_selector
    for done in (unknown_package, bad_selector):
        assert done.stdout == ""


def test_ctrl_c_stops_watching_and_the_deployment_goes_on(cli: Cli, fleet: Fleet) -> None:
    group = new_group(cli, "deb-1")
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "approved-cli", "1.0-1")))
    with cli.start("deploy", "approved-cli", "--group", group, "--require-approval", "--watch") as watcher:
        lines = Lines(watcher)
        deployment_id = lines.wait_for(r"^deployment (\S+) created").group(1)
        lines.wait_for(r" deb-1 awaiting_approval$")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(CLI_TIMEOUT) == 130
        lines.close()
        assert watcher.stderr is not None
        assert f"deployment {deployment_id} goes on" in watcher.stderr.read()
    assert cli.json("deployments", "get", deployment_id)["state"] == "running"

    assert cli.json("deployments", "pause", deployment_id, "--reason", "lunch")["state"] == "paused"
    assert cli.json("deployments", "resume", deployment_id)["state"] == "running"
    approved = cli.json("deployments", "approve", deployment_id, "--server", "deb-1")
    assert approved["approved"] == 1
    watched = cli("deployments", "watch", deployment_id, timeout=WATCH_TIMEOUT)
    assert watched.code == 0, watched
    assert fleet.debs[0].installed_version("approved-cli") == "1.0-1"


def test_a_cancelled_deployment_watches_as_exit_1(cli: Cli, fleet: Fleet) -> None:
    group = new_group(cli, "deb-2")
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "cancelled-cli", "1.0-1")))
    deployment = cli.json("deploy", "cancelled-cli", "--group", group, "--require-approval")
    cancelled = cli.json("deployments", "cancel", deployment["id"], "--reason", "wrong build")
    assert cancelled["state"] == "cancelled"
    watched = cli("deployments", "watch", deployment["id"], timeout=WATCH_TIMEOUT)
    assert watched.code == 1 and f"deployment {deployment['id']} cancelled" in watched.stderr, watched
    assert fleet.debs[1].installed_version("cancelled-cli") is None


# --- HTTPS with a private CA ---------------------------------------------------------------------------------


@pytest.fixture
def https_gateway(e2e: E2EStack) -> Iterator[str]:
    """A second gateway on the same services, serving HTTPS with the stack's gateway certificate."""
    address = f"127.0.0.1:{free_port()}"
    pki = e2e.pki_dir
    env = {
        "CONVOY_GATEWAY_ADDR": address,
        "CONVOY_GATEWAY_HTTPS_CERT": str(pki / "gateway.pem"),
        "CONVOY_GATEWAY_HTTPS_KEY": str(pki / "gateway-key.pem"),
    }
    e2e.spawn("gateway-https", "services.gateway", env=env)
    url = f"https://{address}"
    try:
        wait_for(lambda: port_open(address), timeout=CLI_TIMEOUT, what="the HTTPS gateway listening")
        trust = ssl.create_default_context(cafile=str(pki / "ca.pem"))
        with httpx.Client(verify=trust, timeout=5.0) as client:
            wait_for(lambda: _ready(client, url), timeout=CLI_TIMEOUT, what="the HTTPS gateway ready")
        yield url
    finally:
        e2e.kill("gateway-https", signal.SIGTERM)
        # Gone on purpose: the stack's liveness checks are about its own services.
        del e2e.services["gateway-https"]


def _ready(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(f"{url}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_https_with_a_private_ca(cli: Cli, e2e: E2EStack, https_gateway: str, tmp_path: Path) -> None:
    ca_file = str(e2e.pki_dir / "ca.pem")
    other = cli.elsewhere(tmp_path / "home")
    untrusted = login(other, https_gateway)
    assert untrusted.code == 6 and "--ca-file" in untrusted.stderr, untrusted
    assert login(other, https_gateway, "--ca-file", ca_file).code == 0
    # The CA given at login is used for that server from then on.
    assert len(other.json("servers", "list", "--group", "web-e2e")) == 3
    from_env = cli.elsewhere(tmp_path / "env-home")
    from_env.env.update(CONVOY_SERVER=https_gateway, CONVOY_CA_FILE=ca_file)
    done = from_env("login", "--username", ADMIN_USERNAME, "--password-stdin", stdin=ADMIN_PASSWORD)
    assert done.code == 0 and f"logged in to {https_gateway}" in done.stdout, done
    assert from_env.json("whoami")["username"] == ADMIN_USERNAME


# --- a gateway restart while watching --------------------------------------------------------------------------


def test_watching_survives_a_gateway_restart(cli: Cli, e2e: E2EStack, fleet: Fleet) -> None:
    group = new_group(cli, "deb-1", "deb-2")
    cli.json("packages", "upload", str(build_scripted_deb(fleet.workdir, "restart-cli", "1.0-1")))
    argv = ("deploy", "restart-cli", "--group", group, "--batch-size", "1", "--pause-between", "3", "--watch")
    with cli.start(*argv) as watcher:
        lines = Lines(watcher)
        first = lines.wait_for(r" (deb-\d) succeeded$").group(1)
        # The second batch waits a few seconds; the stream breaks in between and is reopened.
        e2e.restart("gateway")
        e2e.wait_ready()
        second = lines.wait_for(rf" ((?!{first})deb-\d) succeeded$").group(1)
        assert watcher.wait(WATCH_TIMEOUT) == 0, lines.seen
        lines.close()
    assert {first, second} == {"deb-1", "deb-2"}
    # Each change once: what the reconnection replayed or re-read was not shown again.
    for host in (first, second):
        assert sum(line.endswith(f" {host} succeeded") for line in lines.seen) == 1, lines.seen
    assert [host.installed_version("restart-cli") for host in fleet.debs] == ["1.0-1"] * 2
