"""Nodes remember the join token they enrolled with (revoking the node revokes it), and join tokens are
found by server id without a scan (revocation voids every token naming the node)."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

S = "auth"


def upgrade() -> None:
    # No foreign key: expired join tokens are purged, the node keeps the id for the record.
    op.add_column("nodes", sa.Column("join_token_id", postgresql.UUID(as_uuid=True)), schema=S)
    op.create_index("join_tokens_server_id", "join_tokens", ["server_id"], schema=S)
    # The purge of long-expired tokens looks them up by expiry.
    op.create_index("join_tokens_expires_at", "join_tokens", ["expires_at"], schema=S)


def downgrade() -> None:
    op.drop_index("join_tokens_expires_at", table_name="join_tokens", schema=S)
    op.drop_index("join_tokens_server_id", table_name="join_tokens", schema=S)
    op.drop_column("nodes", "join_token_id", schema=S)
