"""timers: one agenda for every timer kind; auto-resolve moves onto it

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import autoticket.store.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("due_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
        sa.UniqueConstraint("kind", "subject", name=op.f("uq_timers_kind_subject")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index("ix_timers_kind_due_at", ["kind", "due_at"], unique=False)
    # Pending auto-resolves of open incidents, from the column that held them.
    op.execute(
        "INSERT INTO timers (kind, subject, due_at, payload, created_at) "
        "SELECT 'auto_resolve', CAST(id AS VARCHAR(128)), resolve_due_at, '{}', updated_at "
        "FROM incidents WHERE resolve_due_at IS NOT NULL AND open_key IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index("ix_timers_kind_due_at")
    op.drop_table("timers")
