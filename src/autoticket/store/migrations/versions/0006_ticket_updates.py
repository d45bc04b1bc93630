"""ticket_updates: what the last ticket update said, for coalescing updates

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import autoticket.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_updates",
        sa.Column(
            "incident_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("sent_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_alerts", sa.Integer(), nullable=False),
        sa.Column("sent_priority", sa.String(length=16), nullable=False),
        sa.Column("seen", sa.JSON(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("pending_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_ticket_updates")),
    )


def downgrade() -> None:
    op.drop_table("ticket_updates")
