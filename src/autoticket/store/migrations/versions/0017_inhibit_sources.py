"""inhibit_sources: firing alerts on the source side of an inhibition rule

Keyed by rule and fingerprint; looked up by rule and the values of the rule's
`equal` labels (policy/inhibit.py, pipeline/correlate.py).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from autoticket.store.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inhibit_sources",
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("since", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rule", "fingerprint", name="pk_inhibit_sources"),
    )
    op.create_index("ix_inhibit_sources_rule_scope", "inhibit_sources", ["rule", "scope"])


def downgrade() -> None:
    op.drop_index("ix_inhibit_sources_rule_scope", table_name="inhibit_sources")
    op.drop_table("inhibit_sources")
