"""metric_samples: pushed SLI samples for the release judge

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import autoticket.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("series", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=128), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("t", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("v", sa.Float(), nullable=False),
        sa.Column("received_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_samples")),
        sa.UniqueConstraint("series", "t", name=op.f("uq_metric_samples_series_t")),
    )
    op.create_index(
        "ix_metric_samples_lookup",
        "metric_samples",
        ["service", "environment", "name", "t"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_metric_samples_lookup", table_name="metric_samples")
    op.drop_table("metric_samples")
