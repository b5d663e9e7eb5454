"""Agent sessions: why a node was revoked, and when the edge last reported it offline to inventory."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "scheduler"


def upgrade() -> None:
    # revoked_reason: said to the node (Disconnect) when it comes back. offline_at: set once the node is
    # reported offline, so the sweep does not report it again; cleared when it connects.
    op.add_column(
        "nodes", sa.Column("revoked_reason", sa.String(1000), nullable=False, server_default=""), schema=S
    )
    op.add_column("nodes", sa.Column("offline_at", sa.DateTime(timezone=True)), schema=S)
    # The offline sweep looks only at nodes not yet reported offline.
    op.create_index(
        "nodes_not_offline",
        "nodes",
        ["last_seen"],
        schema=S,
        postgresql_where=sa.text("offline_at IS NULL AND revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("nodes_not_offline", table_name="nodes", schema=S)
    op.drop_column("nodes", "offline_at", schema=S)
    op.drop_column("nodes", "revoked_reason", schema=S)
