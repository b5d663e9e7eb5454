"""When each node last enrolled: certificates signed before it belong to an earlier holder of the node id
and are refused at Connect and Renew."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

S = "scheduler"


def upgrade() -> None:
    # NULL for nodes enrolled before this column existed: their certificates are not compared.
    op.add_column("nodes", sa.Column("enrolled_at", sa.DateTime(timezone=True)), schema=S)


def downgrade() -> None:
    op.drop_column("nodes", "enrolled_at", schema=S)
