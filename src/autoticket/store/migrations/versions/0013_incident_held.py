"""incidents.held: why an incident's ticket is held back (e.g. `severity info`)

While set, no ticket action of the incident is sent (each is explained as
held instead); the engine lifts it when the reason no longer applies (an
info incident whose severity rises opens its ticket then).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("held", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("held")
