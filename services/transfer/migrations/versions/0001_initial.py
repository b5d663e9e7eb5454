"""Blobs and the holders that reference them."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "transfer"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False, server_default=""),
        sa.Column("content_type", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="blobs_sha256_hex"),
        sa.CheckConstraint("size >= 0", name="blobs_size_not_negative"),
        sa.CheckConstraint("format IN ('deb', 'rpm', 'tar', 'container')", name="blobs_format_known"),
        schema=S,
    )
    # ListBlobs pages newest first, optionally within one format.
    op.create_index("blobs_newest", "blobs", [sa.text("created_at DESC"), sa.text("sha256 DESC")], schema=S)
    op.create_index(
        "blobs_format_newest",
        "blobs",
        ["format", sa.text("created_at DESC"), sa.text("sha256 DESC")],
        schema=S,
    )
    op.create_table(
        "blob_references",
        # No cascade: a referenced blob must not disappear, so the database refuses it too.
        sa.Column("sha256", sa.String(64), sa.ForeignKey(f"{S}.blobs.sha256"), primary_key=True),
        sa.Column("holder", sa.String(200), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("blob_references", schema=S)
    op.drop_table("blobs", schema=S)
