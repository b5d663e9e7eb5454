"""The agent's configuration file and state directory.

The configuration is one JSON file written by `enroll` and read by `run`; what an operator may tune
(sandbox root, heartbeat, backoff) sits beside what enrollment learned (node id, addresses). Secrets never
go into it: the private key lives in the state directory, readable by the agent's user only.
"""

import ipaddress
import json
import os

from convoy_agent.files import write_atomically

DEFAULT_CONFIG = "/etc/convoy-agent/agent.json"
DEFAULT_STATE_DIR = "/var/lib/convoy-agent"
CONFIG_ENV = "CONVOY_AGENT_CONFIG"

# File names inside the state directory.
KEY_FILE = "node-key.pem"
CERT_FILE = "node.pem"
CA_FILE = "ca.pem"
APPROVALS_DIR = "approvals"
# The software names the scheduler asked the agent to watch besides what it installed itself.
WATCH_FILE = "watch.json"

# The names in the scheduler's and transfer's server certificates: node-facing addresses need no IP SANs.
SCHEDULER_NAME = "scheduler"
TRANSFER_NAME = "transfer"


class ConfigError(Exception):
    """The configuration file is missing, unreadable or incomplete; the message says what to do."""


class Config:
    """What `run` needs; built from the JSON file, with defaults for everything an operator may leave out."""

    def __init__(self, values, path=None):
        # type: (Dict[str, Any], Optional[str]) -> None
        self.path = path
        self.values = dict(values)
        self.state_dir = str(values.get("state_dir") or DEFAULT_STATE_DIR)
        self.server = str(values.get("server") or "")
        self.node_id = str(values.get("node_id") or "")
        self.agent_address = str(values.get("agent_address") or "")
        self.ca_fingerprint = str(values.get("ca_fingerprint") or "")
        self.sandbox_root = str(values.get("sandbox_root") or "")
        self.heartbeat_seconds = _positive(values, "heartbeat_seconds", 10.0)
        self.backoff_initial_seconds = _positive(values, "backoff_initial_seconds", 1.0)
        self.backoff_max_seconds = _positive(values, "backoff_max_seconds", 60.0)
        self.connect_timeout_seconds = _positive(values, "connect_timeout_seconds", 20.0)
        # How long one package command may run (never past the assignment's deadline either).
        self.command_timeout = _positive(values, "command_timeout_seconds", 1800.0)
        # How often the installed versions of managed and watched software are read again in any case, and
        # how often the package databases are looked at (a stat of their files) for a package tool's work.
        self.inventory_interval_seconds = _positive(values, "inventory_interval_seconds", 300.0)
        self.package_check_seconds = _positive(values, "package_check_seconds", 5.0)
        # host:port of the Prometheus metrics ("" serves none): 127.0.0.1 or a management network only.
        self.metrics_listen = _listen(values, "metrics_listen")

    def to_dict(self):
        # type: () -> Dict[str, Any]
        values = dict(self.values)
        values.update(
            {
                "state_dir": self.state_dir,
                "server": self.server,
                "node_id": self.node_id,
                "agent_address": self.agent_address,
                "ca_fingerprint": self.ca_fingerprint,
                "sandbox_root": self.sandbox_root,
                "heartbeat_seconds": self.heartbeat_seconds,
                "backoff_initial_seconds": self.backoff_initial_seconds,
                "backoff_max_seconds": self.backoff_max_seconds,
                "connect_timeout_seconds": self.connect_timeout_seconds,
                "command_timeout_seconds": self.command_timeout,
                "inventory_interval_seconds": self.inventory_interval_seconds,
                "package_check_seconds": self.package_check_seconds,
                "metrics_listen": self.metrics_listen,
            }
        )
        return values

    def state_path(self, name):
        # type: (str) -> str
        return os.path.join(self.state_dir, name)

    @property
    def key_file(self):
        # type: () -> str
        return self.state_path(KEY_FILE)

    @property
    def cert_file(self):
        # type: () -> str
        return self.state_path(CERT_FILE)

    @property
    def ca_file(self):
        # type: () -> str
        return self.state_path(CA_FILE)

    @property
    def watch_file(self):
        # type: () -> str
        return self.state_path(WATCH_FILE)

    @property
    def approvals_dir(self):
        # type: () -> str
        return self.state_path(APPROVALS_DIR)

    def scheduler_target(self):
        # type: () -> str
        """Where Connect and Renew go: agent_address, a bare ':port' on the host the node enrolled through."""
        return resolve_address(self.agent_address, self.server)

    def transfer_target(self, address):
        # type: (str) -> str
        """An assignment's transfer address; ':port' means on the host the agent talks to the scheduler on."""
        return resolve_address(address, self.scheduler_target())

    def require_enrolled(self):
        # type: () -> None
        missing = [name for name in ("node_id", "agent_address", "server") if not getattr(self, name)]
        files = [path for path in (self.key_file, self.cert_file, self.ca_file) if not os.path.isfile(path)]
        if missing or files:
            raise ConfigError(
                "this node is not enrolled (missing %s): run `convoy-agent enroll` first"
                % ", ".join(missing + files)
            )


def _positive(values, name, default):
    # type: (Dict[str, Any], str, float) -> float
    value = values.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError("%s must be a number of seconds, not %r" % (name, value)) from None
    if number <= 0:
        raise ConfigError("%s must be above 0, not %r" % (name, value))
    return number


def _listen(values, name):
    # type: (Dict[str, Any], str) -> str
    """An address to listen on, "" when not given; the host must be named (never all interfaces)."""
    value = values.get(name) or ""
    if not value:
        return ""
    try:
        host, port = split_address(value) if isinstance(value, str) else ("", 0)
    except ConfigError:
        host, port = "", 0
    if not host or port > 65535:
        raise ConfigError("%s must be host:port, e.g. 127.0.0.1:9464, not %r" % (name, value))
    if _all_interfaces(host):
        raise ConfigError(
            "%s must name a local or management address, not %r: all interfaces would show the metrics"
            " to anyone who reaches the node" % (name, value)
        )
    return value


def _all_interfaces(host):
    # type: (str) -> bool
    """0.0.0.0, ::, and their other spellings (0, ::0, 0:0:0:0:0:0:0:0)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == "0"  # inet_aton's spelling of 0.0.0.0


def split_address(address):
    # type: (str) -> tuple
    """'host:port' or '[v6]:port' → (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError("%r is not host:port" % address)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def resolve_address(address, base):
    # type: (str, str) -> str
    """address as is, or, when it is ':port' only, that port on the host of base (host:port)."""
    if not address:
        raise ConfigError("no address given")
    if not address.startswith(":"):
        return address
    host, _ = split_address(base)
    if ":" in host:
        host = "[" + host + "]"
    return host + address


def config_path(path=None):
    # type: (Optional[str]) -> str
    return path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load(path=None):
    # type: (Optional[str]) -> Config
    path = config_path(path)
    try:
        with open(path) as handle:
            values = json.load(handle)
    except OSError as error:
        raise ConfigError("cannot read the configuration %s: %s" % (path, error.strerror or error)) from None
    except ValueError as error:
        raise ConfigError("%s is not valid JSON: %s" % (path, error)) from None
    if not isinstance(values, dict):
        raise ConfigError("%s must hold a JSON object" % path)
    return Config(values, path)


def save(config, path=None):
    # type: (Config, Optional[str]) -> str
    path = config_path(path or config.path)
    data = json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    write_atomically(path, data.encode("utf-8"), 0o644)
    config.path = path
    return path


def ensure_state_dir(path):
    # type: (str) -> None
    """The state directory holds the node's private key: only the agent's user may enter it."""
    if not os.path.isdir(path):
        os.makedirs(path, 0o700)
    os.chmod(path, 0o700)
