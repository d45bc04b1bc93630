"""incidents.parent_id: the storm incident a child incident is part of

A child's alerts are shown and counted under its parent, whose ticket covers
them; the child files no ticket of its own (its `held` says which parent).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column(
                "parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch.create_index("ix_incidents_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_index("ix_incidents_parent_id")
        batch.drop_column("parent_id")
