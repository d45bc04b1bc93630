"""metric_samples: an index for the fleet control's read (environment, name, t)

The fleet read (store/metric_samples.py `fleet_between`) asks for every other
service's samples of some metrics in an environment and time range; the
lookup index leads with the service, so that read scanned the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_metric_samples_fleet",
        "metric_samples",
        ["environment", "name", "t"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_metric_samples_fleet", table_name="metric_samples")
