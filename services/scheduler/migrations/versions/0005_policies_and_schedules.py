"""Sync policies and per-node compliance, schedules, and maintenance windows on deployments and targets."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

S = "scheduler"
TS = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)
ACTION_CHECK = "('install', 'update', 'uninstall', 'rollback')"


def upgrade() -> None:
    op.add_column(
        "deployments",
        sa.Column("override_window", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=S,
    )
    op.add_column("targets", sa.Column("group_ids", postgresql.JSONB()), schema=S)
    _create_policies()
    _create_schedules()


def _create_policies() -> None:
    op.create_table(
        "policies",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_value", sa.String(4096), nullable=False, server_default=""),
        sa.Column("software_name", sa.String(128), nullable=False, index=True),
        sa.Column("version_mode", sa.String(16), nullable=False),
        sa.Column("exact_version", sa.String(128), nullable=False, server_default=""),
        sa.Column("desired_state", sa.String(16), nullable=False),
        sa.Column("strategy", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("checked_at", TS),
        sa.CheckConstraint("version_mode IN ('exact', 'latest')", name="policies_version_mode_known"),
        sa.CheckConstraint("desired_state IN ('present', 'absent')", name="policies_desired_state_known"),
        sa.CheckConstraint("mode IN ('enforce', 'report')", name="policies_mode_known"),
        sa.CheckConstraint(
            "version_mode <> 'exact' OR desired_state <> 'present' OR exact_version <> ''",
            name="policies_exact_has_version",
        ),
        schema=S,
    )
    op.create_index("policies_name", "policies", [sa.text("lower(name)")], unique=True, schema=S)
    op.create_table(
        "compliance",
        sa.Column("policy_id", UUID, sa.ForeignKey(f"{S}.policies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("server_id", UUID, primary_key=True),
        sa.Column("hostname", sa.String(253), nullable=False, server_default=""),
        sa.Column("group_ids", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("desired_version", sa.String(256), nullable=False, server_default=""),
        sa.Column("installed_version", sa.String(256), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.String(2048), nullable=False, server_default=""),
        sa.Column("deployment_id", UUID),
        sa.Column("outcome_counted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_failure", sa.String(1024), nullable=False, server_default=""),
        sa.Column("retry_at", TS),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("checked_at", TS, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.CheckConstraint(
            "state IN ('compliant', 'drifted', 'converging', 'failed', 'incompatible')",
            name="compliance_state_known",
        ),
        schema=S,
    )
    op.create_index("compliance_state", "compliance", ["policy_id", "state"], schema=S)


def _create_schedules() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("package_id", UUID, nullable=False),
        sa.Column("software_name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False, server_default=""),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_value", sa.String(4096), nullable=False, server_default=""),
        sa.Column("strategy", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("override_window", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("run_at", TS),
        sa.Column("cron", sa.String(128), nullable=False, server_default=""),
        sa.Column("timezone", sa.String(64), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("next_run_at", TS),
        sa.Column("last_run_at", TS),
        sa.Column("last_deployment_id", UUID),
        sa.Column("next_deployment_id", UUID),
        sa.Column("last_error", sa.String(2048), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False, server_default=""),
        sa.CheckConstraint(f"action IN {ACTION_CHECK}", name="schedules_action_known"),
        sa.CheckConstraint("kind IN ('at', 'cron')", name="schedules_kind_known"),
        sa.CheckConstraint("state IN ('active', 'done', 'cancelled')", name="schedules_state_known"),
        schema=S,
    )
    op.create_index(
        "schedules_due", "schedules", ["next_run_at"], schema=S, postgresql_where=sa.text("state = 'active'")
    )


def downgrade() -> None:
    op.drop_table("schedules", schema=S)
    op.drop_table("compliance", schema=S)
    op.drop_table("policies", schema=S)
    op.drop_column("targets", "group_ids", schema=S)
    op.drop_column("deployments", "override_window", schema=S)
