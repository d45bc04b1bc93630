"""incidents.toggles, incidents.flapping_since: flap detection

`toggles` keeps the times (ISO, the last few) its alerts fired again after
resolving; `flapping_since` is set when they reach the configured count
within the window (pipeline/correlate.py), and the incident then resolves
only after a longer quiet time.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoticket.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("toggles", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("flapping_since", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("flapping_since")
        batch.drop_column("toggles")
