"""The agent's commands: `enroll` once, then `run` (as a service), and `approve` for local approval."""

import argparse
import logging
import os
import signal
import sys
import threading
import time
from typing import List, Optional

from convoy_agent import __version__, approvals, enroll
from convoy_agent import config as configuration

LOG = logging.getLogger("convoy_agent")
# Acknowledged journal entries older than this are dropped at start-up.
JOURNAL_KEEP_SECONDS = 14 * 24 * 3600.0
# The join token from the environment, when neither --token-file nor --token is given.
TOKEN_ENV = "CONVOY_JOIN_TOKEN"
# One Download call lasts at most this long (and never past the assignment's deadline); a longer
# download goes on in a new call from where the last one stopped.
DOWNLOAD_CALL_SECONDS = 3600.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convoy-agent", description="The Convoy node agent.")
    parser.add_argument("--version", action="version", version="convoy-agent " + __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    join = commands.add_parser("enroll", help="enroll this node with a join token")
    join.add_argument("--server", required=True, help="HOST:PORT of the scheduler's enrollment port")
    join.add_argument("--token-file", help="a file holding the join token (cvj_…); or set %s" % TOKEN_ENV)
    join.add_argument(
        "--token", help="the join token itself (visible to other users in ps; prefer --token-file)"
    )
    join.add_argument(
        "--ca-fingerprint", required=True, help="sha256:… of the Convoy CA, from the join command"
    )
    join.add_argument("--ca-file", help="the CA certificate (PEM) instead of reading it from the server")
    join.add_argument(
        "--state-dir", default=configuration.DEFAULT_STATE_DIR, help="key, certificates, journal"
    )
    join.add_argument(
        "--config", help="configuration file to write (default %s)" % configuration.DEFAULT_CONFIG
    )
    join.add_argument(
        "--sandbox-root", default="", help="confine package tools to this directory (tests, demos)"
    )
    join.add_argument("--hostname", default="", help="report this host name instead of the system's")
    join.add_argument(
        "--address",
        action="append",
        default=[],
        help="report this IP address (repeatable) instead of probing",
    )

    run = commands.add_parser("run", help="connect to the scheduler and carry out deployments")
    run.add_argument("--config", help="configuration file (default %s)" % configuration.DEFAULT_CONFIG)
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    approve = commands.add_parser("approve", help="approve a task waiting for approval on this node")
    approve.add_argument("task", nargs="?", help="the task (assignment id); without it: list waiting tasks")
    approve.add_argument("--config", help="configuration file (default %s)" % configuration.DEFAULT_CONFIG)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "enroll":
            return _enroll(args)
        if args.command == "run":
            return _run(args)
        return _approve(args)
    except (configuration.ConfigError, enroll.EnrollError, approvals.ApprovalError) as error:
        sys.stderr.write("convoy-agent %s: %s\n" % (args.command, error))
        return 1


def _join_token(args: argparse.Namespace) -> str:
    """From --token-file, --token or CONVOY_JOIN_TOKEN: exactly one of them."""
    given = [name for name in ("token_file", "token") if getattr(args, name)]
    if len(given) > 1:
        raise enroll.EnrollError("give the join token once: --token-file or --token, not both")
    if args.token_file:
        try:
            with open(args.token_file) as handle:
                token = handle.read().strip()
        except OSError as error:
            raise enroll.EnrollError(
                "cannot read the token file %s: %s" % (args.token_file, error.strerror or error)
            ) from None
        if not token:
            raise enroll.EnrollError("the token file %s is empty" % args.token_file)
        return token
    if args.token:
        return str(args.token)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise enroll.EnrollError("no join token: give --token-file FILE, set %s, or --token" % TOKEN_ENV)
    return token


def _enroll(args: argparse.Namespace) -> int:
    result = enroll.enroll(
        args.server,
        _join_token(args),
        args.ca_fingerprint,
        args.state_dir,
        config_file=args.config,
        sandbox_root=args.sandbox_root,
        ca_file=args.ca_file,
        overrides=_overrides(args),
    )
    sys.stdout.write(
        "enrolled as node %s; configuration written to %s\nstart the agent with: convoy-agent run%s\n"
        % (result.node_id, result.path, "" if args.config is None else " --config " + str(result.path))
    )
    return 0


def _overrides(args: argparse.Namespace) -> dict:
    overrides = {}  # type: dict
    if args.hostname:
        overrides["hostname"] = args.hostname
    if args.address:
        overrides["ip_addresses"] = list(args.address)
    return overrides


def _approve(args: argparse.Namespace) -> int:
    config = configuration.load(args.config)
    if not args.task:
        tasks = approvals.waiting(config.approvals_dir)
        if not tasks:
            sys.stdout.write("no task is waiting for approval\n")
        for about in tasks:
            sys.stdout.write("%s  %s %s\n" % (about["task"], about.get("name", ""), about.get("version", "")))
        return 0
    about = approvals.approve(config.approvals_dir, args.task)
    sys.stdout.write("approved %s (%s %s)\n" % (args.task, about.get("name", ""), about.get("version", "")))
    return 0


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = configuration.load(args.config)
    config.require_enrolled()
    agent = build_agent(config)
    from convoy_agent import metrics

    exporter = metrics.serve(config.metrics_listen)
    runner = agent.runner
    stopped = threading.Event()

    def stop(signum, frame):  # noqa: ARG001
        LOG.info("stopping on signal %d", signum)
        runner.stop_taking_work()
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info("convoy-agent %s, node %s, state %s", __version__, config.node_id, config.state_dir)
    recovered = runner.recover()
    if recovered:
        LOG.info("recovered %d interrupted task(s); their results go out after the hello", len(recovered))
    # The stream runs on its own thread so that the main thread stays free for signals.
    thread = threading.Thread(target=agent.run, name="connection")
    thread.daemon = True
    thread.start()
    while thread.is_alive() and not stopped.is_set():
        thread.join(1.0)
    # Tasks that have not begun their package operation stop (they run again when redelivered); a
    # package operation under way is waited for, so that it is not cut off in the middle, and its
    # result goes out on the stream while it is still up.
    left = runner.shutdown(config.command_timeout)
    if left:
        LOG.warning(
            "%d package operation(s) still running after %.0f s; exiting", len(left), config.command_timeout
        )
    agent.stop()
    thread.join(10.0)
    if exporter is not None:
        exporter.shutdown()
    return 0


def build_agent(config: configuration.Config):
    """The connection and task runner of a `run`, wired together (tests build theirs the same way)."""
    from convoy_agent import connection, download, executors, journal, tasks
    from convoy_agent.proto import transfer_pb2, transfer_pb2_grpc

    state = journal.Journal(config.state_dir)
    state.prune(JOURNAL_KEEP_SECONDS)
    holder = []  # type: List[connection.Agent]

    def fetch(config_, task, progress):
        """A download over mutual TLS: every call carries the task's newest grant, lasts no longer than
        the deadline allows, and is registered with the task so that a cancel aborts it."""
        agent = holder[0]
        first = task.assignment
        package = first.package
        target = config_.transfer_target(first.transfer_address)
        channel = connection.open_channel(target, agent.identity, configuration.TRANSFER_NAME)
        stub = transfer_pb2_grpc.TransferServiceStub(channel)

        def open_stream(offset):
            timeout = task.seconds_left(DOWNLOAD_CALL_SECONDS)
            if timeout <= 0:
                raise download.DownloadError("the deadline passed")
            if offset:
                LOG.info(
                    "task %s: resuming the download of %s from byte %d",
                    task.key[0],
                    package.sha256[:12],
                    offset,
                )
            request = transfer_pb2.DownloadRequest(
                sha256=package.sha256, offset=offset, grant=task.assignment.download_grant
            )
            call = stub.Download(
                request,
                timeout=max(1.0, min(DOWNLOAD_CALL_SECONDS, timeout)),
                metadata=task.trace.metadata(),
            )
            task.attach(call)
            return call

        def give_up_at():
            return task.deadline_at or started + tasks.DEFAULT_RETRY_SECONDS

        started = time.time()
        try:
            return download.download(
                open_stream,
                package.sha256,
                package.size,
                config_.state_dir,
                progress,
                task.cancelled,
                sleep=task.sleep,
                give_up_at=give_up_at,
            )
        finally:
            channel.close()

    runner = tasks.TaskRunner(
        config,
        state,
        lambda name: executors.select_executor(name, config),
        fetch,
    )
    agent = connection.Agent(
        config, runner, lambda: enroll.collect_facts(config.sandbox_root, config.values.get("facts"))
    )
    holder.append(agent)
    runner.send = agent.send
    runner.task_ended = agent.reporter.wake
    return agent
