"""Trace context: the request that created each deployment, and the dispatch of each attempt."""

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


def downgrade() -> None:
    for table in ("deployments", "targets"):
        op.drop_column(table, "traceparent", schema=S)
