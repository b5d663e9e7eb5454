"""Servers, groups, memberships and installed software."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "inventory"
TS = sa.DateTime(timezone=True)
UUID = postgresql.UUID(as_uuid=True)
CATEGORY_CHECK = "('web', 'database', 'data-processing', 'container', 'general')"
FAMILY_CHECK = "('', 'deb', 'rpm')"


def upgrade() -> None:
    _create_servers()
    _create_groups()
    op.create_table(
        "memberships",
        sa.Column("group_id", UUID, sa.ForeignKey(f"{S}.groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "server_id",
            UUID,
            sa.ForeignKey(f"{S}.servers.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        sa.Column("added_at", TS, nullable=False),
        schema=S,
    )
    op.create_table(
        "installed",
        sa.Column("server_id", UUID, sa.ForeignKey(f"{S}.servers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True, index=True),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("package_family", sa.String(8), nullable=False, server_default=""),
        sa.Column("observed_at", TS, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.CheckConstraint(f"package_family IN {FAMILY_CHECK}", name="installed_family_known"),
        sa.CheckConstraint("source IN ('agent_report', 'deployment')", name="installed_source_known"),
        schema=S,
    )


def _create_servers() -> None:
    op.create_table(
        "servers",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("hostname", sa.String(253), nullable=False, server_default=""),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("labels", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("os_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("id_like", postgresql.ARRAY(sa.String(64)), nullable=False, server_default="{}"),
        sa.Column("version_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("pretty_name", sa.String(256), nullable=False, server_default=""),
        sa.Column("package_family", sa.String(8), nullable=False, server_default=""),
        sa.Column("arch", sa.String(32), nullable=False, server_default=""),
        sa.Column("kernel", sa.String(128), nullable=False, server_default=""),
        sa.Column("agent_version", sa.String(64), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("last_seen", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(f"category IN {CATEGORY_CHECK}", name="servers_category_known"),
        sa.CheckConstraint(f"package_family IN {FAMILY_CHECK}", name="servers_family_known"),
        sa.CheckConstraint(
            "status IN ('pending', 'online', 'offline', 'revoked')", name="servers_status_known"
        ),
        schema=S,
    )
    op.create_index("servers_hostname_id", "servers", ["hostname", "id"], schema=S)
    op.create_index(
        "servers_ip_live",
        "servers",
        ["ip_address"],
        unique=True,
        schema=S,
        postgresql_where=sa.text("status <> 'revoked'"),
    )
    for column in ("status", "category", "package_family"):
        op.create_index(f"servers_{column}", "servers", [column], schema=S)
    op.create_index(
        "servers_labels",
        "servers",
        ["labels"],
        schema=S,
        postgresql_using="gin",
        postgresql_ops={"labels": "jsonb_path_ops"},
    )


def _create_groups() -> None:
    op.create_table(
        "groups",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False, server_default=""),
        sa.Column("category", sa.String(32)),
        sa.Column("window_cron", sa.String(128)),
        sa.Column("window_duration_seconds", sa.Integer()),
        sa.Column("window_timezone", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(f"category IS NULL OR category IN {CATEGORY_CHECK}", name="groups_category_known"),
        # The window is all or nothing.
        sa.CheckConstraint(
            "(window_cron IS NULL) = (window_duration_seconds IS NULL)"
            " AND (window_cron IS NULL) = (window_timezone IS NULL)",
            name="groups_window_complete",
        ),
        schema=S,
    )
    op.create_index("groups_name_lower", "groups", [sa.text("lower(name)")], unique=True, schema=S)


def downgrade() -> None:
    for table in ("installed", "memberships", "groups", "servers"):
        op.drop_table(table, schema=S)
