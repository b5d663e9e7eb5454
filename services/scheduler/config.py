"""Settings of the scheduler process (CONVOY_SCHEDULER_* plus the shared CONVOY_* variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.kit.runtime import AuthClientSettings

__all__ = ["SchedulerSettings"]


class SchedulerSettings(AuthClientSettings):
    service_name = "scheduler"
    model_config = SettingsConfigDict(env_prefix="CONVOY_SCHEDULER_", extra="ignore", frozen=True)

    # Gateway and services (mutual TLS, service CA).
    listen: str = "127.0.0.1:50054"
    # Agents with node certificates: Connect, Renew (mutual TLS, node CA).
    agent_listen: str = "127.0.0.1:50057"
    # Agents without a certificate yet: Enroll (server-only TLS).
    enroll_listen: str = "127.0.0.1:50058"
    inventory_target: str = "127.0.0.1:50052"
    catalog_target: str = "127.0.0.1:50053"
    transfer_target: str = "127.0.0.1:50055"
    # EnrollResponse.agent_address; empty: ":<agent port>" (the host the agent enrolled through).
    agent_advertise: str = ""
    # Assignment.transfer_address; empty: ":<port of transfer_target>".
    transfer_advertise: str = ""
    grant_ttl_seconds: int = Field(3600, ge=60, le=86400)
    heartbeat_seconds: float = Field(10.0, gt=0)
    offline_grace_seconds: float = Field(30.0, ge=0)
    # How long the rollout waits for a node's result without hearing from the node: every heartbeat and
    # progress report of a node extends the leases of its work by this much.
    lease_seconds: float = Field(30.0, gt=0)
    # How far beyond its deadline a node that is still alive may keep working on an assignment.
    install_grace_seconds: float = Field(6 * 3600.0, ge=0)
    # Events of deployments finished longer ago than this are deleted.
    event_retention_days: int = Field(30, ge=1)
    # How often the rollout looks for work when no notification woke it.
    poll_seconds: float = Field(2.0, gt=0)
    # How often the rollout reads the groups' maintenance windows from the inventory (and again, at most
    # once a second, for a deployment created after the last read).
    window_refresh_seconds: float = Field(30.0, gt=0)
    task_deadline_seconds: int = Field(3600, ge=10)
    # Sync policies: a full check this often, and soon after a hint (a node reconnected, a package arrived, a
    # policy changed). Hints within the debounce are taken together.
    reconcile_seconds: float = Field(60.0, gt=0)
    reconcile_debounce_seconds: float = Field(0.5, ge=0)
    # After a policy changes, nodes that have reported nothing of its software yet are left alone this long:
    # agents learn the names to re-read from the policy, and their reports may be on the way.
    reconcile_settle_seconds: float = Field(10.0, ge=0)
    # After a policy's deployment fails on a node: wait this long, doubling with each failure in a row up to
    # the maximum, and give up (the node stays failed) after this many attempts until the policy changes.
    reconcile_backoff_seconds: float = Field(60.0, gt=0)
    reconcile_backoff_max_seconds: float = Field(3600.0, gt=0)
    reconcile_max_attempts: int = Field(5, ge=1, le=100)
    log_head_lines: int = Field(200, ge=0, le=100_000)
    log_tail_lines: int = Field(800, ge=1, le=100_000)
    # How often the deployment, target and compliance gauges (/metrics) are read from the database.
    stats_seconds: float = Field(15.0, gt=0)

    def node_ca_file(self) -> Path | None:
        """The node CA certificate that verifies agents' client certificates (kit's node_ca setting)."""
        return self.node_ca
