"""Join tokens (stored hashed) and enrolled nodes with their certificate and revocation."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

S = "auth"
TS = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)


def upgrade() -> None:
    op.create_table(
        "join_tokens",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("server_id", UUID),
        sa.Column("group_ids", postgresql.ARRAY(UUID), nullable=False, server_default="{}"),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("revoked", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.CheckConstraint("max_uses >= 1 AND uses >= 0 AND uses <= max_uses", name="join_tokens_uses"),
        schema=S,
    )
    op.create_table(
        "nodes",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False, server_default=""),
        sa.Column("enrolled_at", TS, nullable=False),
        sa.Column("certificate_serial", sa.String(64), nullable=False),
        sa.Column("not_after", TS, nullable=False),
        sa.Column("renewed_at", TS),
        sa.Column("revoked_at", TS),
        sa.Column("revoked_reason", sa.String(1000), nullable=False, server_default=""),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("nodes", schema=S)
    op.drop_table("join_tokens", schema=S)
