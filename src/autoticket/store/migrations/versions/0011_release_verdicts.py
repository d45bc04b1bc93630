"""releases: the judge's stored decision (verdict, score, action, when, evidence)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import autoticket.store.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = ("verdict", "score", "action", "decided_at", "decided_by", "judged_at", "evidence")


def upgrade() -> None:
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verdict", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("action", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "decided_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("decided_by", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("judged_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
