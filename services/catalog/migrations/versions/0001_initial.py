"""Packages and their references."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "catalog"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "packages",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("software_name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("release", sa.String(128), nullable=False, server_default=""),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("arch", sa.String(32), nullable=False),
        sa.Column("package_families", postgresql.ARRAY(sa.String(8)), nullable=False),
        sa.Column("description", sa.String(), nullable=False, server_default=""),
        sa.Column("depends", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("artifact_sha256", sa.String(64), nullable=False, index=True),
        sa.Column("artifact_size", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False, server_default=""),
        sa.Column("deploy_profile", postgresql.JSONB()),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint(
            "software_name", "version", "release", "format", "arch", name="packages_identity_key"
        ),
        sa.CheckConstraint("format IN ('deb', 'rpm', 'tar', 'container')", name="packages_format_known"),
        sa.CheckConstraint(
            "package_families <@ ARRAY['deb', 'rpm']::varchar[]", name="packages_families_known"
        ),
        schema=S,
    )
    # The listing's keyset order.
    op.create_index("packages_listing", "packages", ["software_name", "created_at", "id"], schema=S)
    op.create_table(
        "package_references",
        sa.Column(
            "package_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{S}.packages.id", ondelete="RESTRICT"),
            primary_key=True,
        ),
        sa.Column("holder", sa.String(200), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        schema=S,
    )


def downgrade() -> None:
    op.drop_table("package_references", schema=S)
    op.drop_table("packages", schema=S)
