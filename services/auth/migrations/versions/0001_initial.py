"""Users, refresh-token families, login throttling and the insert-only audit chain."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "auth"
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("last_login_at", TS),
        sa.CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="users_role_known"),
        schema=S,
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("family_id", postgresql.UUID(as_uuid=True), nullable=False, index=True),
        sa.Column(
            "user_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey(f"{S}.users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS),
        sa.Column("revoked_at", TS),
        schema=S,
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_started_at", TS, nullable=False),
        sa.Column("blocked_until", TS),
        schema=S,
    )
    _create_audit_log()


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("time", TS, nullable=False, index=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False, index=True),
        sa.Column("action", sa.String(100), nullable=False, index=True),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("request_id", sa.String(100), nullable=False),
        sa.Column("client_address", sa.String(200), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        schema=S,
    )
    # Insert-only in the database itself, not just by convention: only a superuser who disables the
    # trigger can rewrite history, and the hash chain then shows where.
    op.execute(
        f"""
        CREATE FUNCTION {S}.audit_log_is_insert_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is insert-only';
        END $$
        """
    )
    op.execute(
        f"""
        CREATE TRIGGER audit_log_insert_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {S}.audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION {S}.audit_log_is_insert_only();
        """
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {S}.audit_log")
    op.execute(f"DROP FUNCTION {S}.audit_log_is_insert_only()")
    for table in ("login_throttle", "refresh_tokens", "users"):
        op.drop_table(table, schema=S)
