"""Leases kept alive by the node, throttled progress events, finishing cancelled and paused deployments,
and event retention."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "scheduler"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # pushed_at: first delivered to a connected node (its deadline starts then, not at assignment).
    # event_at: when the last progress event of the attempt was written (progress events are throttled).
    op.add_column("targets", sa.Column("pushed_at", TS), schema=S)
    op.add_column("targets", sa.Column("event_at", TS), schema=S)
    # What the rollout loop claims besides pending and running deployments: paused ones (their leases
    # still expire) and cancelled ones whose nodes are still working.
    op.create_index(
        "deployments_unfinished",
        "deployments",
        ["state"],
        schema=S,
        postgresql_where=sa.text(
            "state IN ('pending', 'running', 'paused') OR (state = 'cancelled' AND finished_at IS NULL)"
        ),
    )
    # Event retention finds finished deployments by age.
    op.create_index(
        "deployments_finished",
        "deployments",
        ["finished_at"],
        schema=S,
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("deployments_finished", table_name="deployments", schema=S)
    op.drop_index("deployments_unfinished", table_name="deployments", schema=S)
    op.drop_column("targets", "event_at", schema=S)
    op.drop_column("targets", "pushed_at", schema=S)
