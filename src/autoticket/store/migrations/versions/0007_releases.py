"""releases: deploy events, one row per (service, environment, version)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import autoticket.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("service", sa.String(length=128), nullable=False),
        sa.Column("environment", sa.String(length=128), nullable=False),
        sa.Column("version", sa.String(length=128), nullable=False),
        sa.Column("started_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rollout_percent", sa.Float(), nullable=True),
        sa.Column("commit", sa.String(length=64), nullable=True),
        sa.Column("deployer", sa.String(length=128), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", autoticket.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint(
            "service",
            "environment",
            "version",
            name=op.f("uq_releases_service_environment_version"),
        ),
    )
    op.create_index(
        "ix_releases_timeline", "releases", ["service", "environment", "started_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_releases_timeline", table_name="releases")
    op.drop_table("releases")
