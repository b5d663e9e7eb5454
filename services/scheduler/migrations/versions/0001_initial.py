"""Deployments, their targets per attempt, target logs, events and agent sessions."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "scheduler"
TS = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)
ACTION_CHECK = "('install', 'update', 'uninstall', 'rollback')"
DEPLOYMENT_STATE_CHECK = "('scheduled', 'pending', 'running', 'paused', 'succeeded', 'failed', 'cancelled')"
TARGET_STATE_CHECK = (
    "('pending', 'assigned', 'downloading', 'installing', 'succeeded', 'unchanged', 'failed', 'skipped',"
    " 'cancelled', 'awaiting_approval')"
)
FORMAT_CHECK = "('deb', 'rpm', 'tar', 'container')"


def upgrade() -> None:
    _create_deployments()
    _create_targets()
    op.create_table(
        "target_logs",
        sa.Column("deployment_id", UUID, primary_key=True),
        sa.Column("server_id", UUID, primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("seq", sa.BigInteger(), primary_key=True),
        sa.Column("time", TS, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        schema=S,
    )
    op.create_table(
        "events",
        sa.Column("sequence", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("time", TS, nullable=False),
        sa.Column("deployment_id", UUID, nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        schema=S,
    )
    op.create_index("events_deployment", "events", ["deployment_id", "sequence"], schema=S)
    op.create_table(
        "nodes",
        sa.Column("node_id", UUID, primary_key=True),
        sa.Column("hostname", sa.String(253), nullable=False, server_default=""),
        sa.Column("revoked_at", TS),
        sa.Column("connected_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("connected_at", TS),
        sa.Column("last_seen", TS),
        sa.Column("disconnected_at", TS),
        schema=S,
    )


def _create_deployments() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("package_id", UUID, index=True),
        sa.Column("software_name", sa.String(128), nullable=False, index=True),
        sa.Column("version", sa.String(128), nullable=False, server_default=""),
        sa.Column("release", sa.String(128), nullable=False, server_default=""),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("arch", sa.String(32), nullable=False, server_default=""),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_value", sa.String(4096), nullable=False, server_default=""),
        sa.Column("strategy", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("failure_budget", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("state_reason", sa.String(1024), nullable=False, server_default=""),
        sa.Column("origin", sa.String(16), nullable=False, server_default="manual"),
        sa.Column("policy_id", UUID, index=True),
        sa.Column("schedule_id", UUID),
        sa.Column("rollback_deployment_id", UUID),
        sa.Column("created_by", sa.String(200), nullable=False, index=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("current_batch", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("batch_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failure_baseline", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("canary_done", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("next_batch_at", TS),
        sa.Column("request_id", sa.String(128), nullable=False, server_default=""),
        sa.CheckConstraint(f"action IN {ACTION_CHECK}", name="deployments_action_known"),
        sa.CheckConstraint(f"state IN {DEPLOYMENT_STATE_CHECK}", name="deployments_state_known"),
        sa.CheckConstraint("batch_size >= 1 AND failure_budget >= 0", name="deployments_strategy_sane"),
        schema=S,
    )
    op.create_index("deployments_created", "deployments", ["created_at", "id"], schema=S)
    op.create_index(
        "deployments_active",
        "deployments",
        ["state"],
        schema=S,
        postgresql_where=sa.text("state IN ('pending', 'running')"),
    )


def _create_targets() -> None:
    op.create_table(
        "targets",
        sa.Column(
            "deployment_id", UUID, sa.ForeignKey(f"{S}.deployments.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("server_id", UUID, primary_key=True),
        sa.Column("attempt", sa.Integer(), primary_key=True),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("hostname", sa.String(253), nullable=False, server_default=""),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("progress_percent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("message", sa.String(2048), nullable=False, server_default=""),
        sa.Column("previous_version", sa.String(256), nullable=False, server_default=""),
        sa.Column("installed_version", sa.String(256), nullable=False, server_default=""),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("package_id", UUID),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False, server_default=""),
        sa.Column("release", sa.String(128), nullable=False, server_default=""),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("arch", sa.String(32), nullable=False, server_default=""),
        sa.Column("sha256", sa.String(64), nullable=False, server_default=""),
        sa.Column("size", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("signature", sa.Text(), nullable=False, server_default=""),
        sa.Column("deploy_profile", postgresql.JSONB()),
        sa.Column("assignment_id", UUID),
        sa.Column("approved", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reported", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("leased_by", sa.String(128), nullable=False, server_default=""),
        sa.Column("lease_until", TS),
        sa.Column("deadline", TS),
        sa.Column("assigned_at", TS),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("log_line_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.CheckConstraint(f"action IN {ACTION_CHECK}", name="targets_action_known"),
        sa.CheckConstraint(f"state IN {TARGET_STATE_CHECK}", name="targets_state_known"),
        sa.CheckConstraint(f"format IN {FORMAT_CHECK}", name="targets_format_known"),
        sa.CheckConstraint("progress_percent BETWEEN 0 AND 100", name="targets_progress_percent"),
        schema=S,
    )
    op.create_index(
        "targets_current",
        "targets",
        ["deployment_id", "server_id"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("current"),
    )
    op.create_index("targets_assignment", "targets", ["assignment_id"], unique=True, schema=S)
    op.create_index(
        "targets_node_in_flight",
        "targets",
        ["server_id"],
        schema=S,
        postgresql_where=sa.text(
            "current AND state IN ('assigned', 'downloading', 'installing', 'awaiting_approval')"
        ),
    )
    op.create_index(
        "targets_batch_order", "targets", ["deployment_id", "batch", "hostname", "server_id"], schema=S
    )


def downgrade() -> None:
    for table in ("nodes", "events", "target_logs", "targets", "deployments"):
        op.drop_table(table, schema=S)
