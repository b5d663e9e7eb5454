"""Trace context: the request that created each deployment, and the dispatch of each attempt; indexes for
the metrics' counts by state."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

S = "scheduler"


def upgrade() -> None:
    # A constant default: PostgreSQL adds the columns without rewriting the tables.
    for table in ("deployments", "targets"):
        op.add_column(
            table, sa.Column("traceparent", sa.String(128), nullable=False, server_default=""), schema=S
        )
    # The gauges count deployments and current targets by state every few seconds, in every replica:
    # index-only scans instead of reading the whole tables.
    op.create_index("deployments_state", "deployments", ["state"], schema=S)
    op.create_index(
        "targets_current_state", "targets", ["state"], schema=S, postgresql_where=sa.text("current")
    )


def downgrade() -> None:
    op.drop_index("targets_current_state", "targets", schema=S)
    op.drop_index("deployments_state", "deployments", schema=S)
    for table in ("deployments", "targets"):
        op.drop_column(table, "traceparent", schema=S)
