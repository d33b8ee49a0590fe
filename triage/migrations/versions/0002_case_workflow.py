"""Case workflow (issue 7): customer and order facts, routing, silence tracking, attachments,
mailboxes, labelled history, and draft review/sending state.

Existing rows keep their data; new columns get neutral defaults (the customer domain is filled in
from the address).

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CASE_COLUMNS = [
    sa.Column("customer_domain", sa.String(255), nullable=False, server_default=""),
    sa.Column("customer_company", sa.String(320), nullable=False, server_default=""),
    sa.Column("key_account", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("other_refs", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("product", sa.String(500), nullable=False, server_default=""),
    sa.Column("quantity_affected", sa.String(100), nullable=False, server_default=""),
    sa.Column("quantity_ordered", sa.String(100), nullable=False, server_default=""),
    sa.Column("amounts", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("remedy", sa.JSON, nullable=False, server_default="[]"),
    sa.Column("assignee", sa.String(200), nullable=False, server_default=""),
    sa.Column("department", sa.String(200), nullable=False, server_default=""),
    sa.Column("last_inbound_at", sa.DateTime, nullable=True),
    sa.Column("last_outbound_at", sa.DateTime, nullable=True),
    sa.Column("silent_flagged_at", sa.DateTime, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=True),
]
_DRAFT_COLUMNS = [
    sa.Column("to_address", sa.String(320), nullable=False, server_default=""),
    sa.Column("edited_by", sa.String(200), nullable=True),
    sa.Column("rejected_reason", sa.Text, nullable=True),
    sa.Column("imap_folder", sa.String(500), nullable=True),
    sa.Column("imap_uid", sa.Integer, nullable=True),
    sa.Column("message_id", sa.String(998), nullable=True),
    sa.Column("sent_at", sa.DateTime, nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("cases") as b:
        for c in _CASE_COLUMNS:
            b.add_column(c)
        b.create_index("ix_cases_customer_domain", ["customer_domain"])
    with op.batch_alter_table("drafts") as b:
        for c in _DRAFT_COLUMNS:
            b.add_column(c)
    with op.batch_alter_table("messages") as b:
        b.add_column(sa.Column("direction", sa.String(4), nullable=False, server_default="in"))
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_db_id", sa.Integer, sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("content_type", sa.String(200), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("is_photo", sa.Boolean, nullable=False),
        sa.Column("path", sa.String(1000), nullable=True),
    )
    op.create_index("ix_attachments_message_db_id", "attachments", ["message_db_id"])
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "label_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("old", sa.Text, nullable=True),
        sa.Column("new", sa.Text, nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_label_history_case_id", "label_history", ["case_id"])
    # Fill the new customer_domain from existing addresses (in Python: portable across databases).
    bind = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("customer", sa.String), sa.column("customer_domain", sa.String))
    for row in bind.execute(sa.select(cases.c.id, cases.c.customer)).all():
        if row.customer and "@" in row.customer:
            bind.execute(cases.update().where(cases.c.id == row.id).values(customer_domain=row.customer.rsplit("@", 1)[1].lower()))


def downgrade() -> None:
    op.drop_table("label_history")
    op.drop_table("mailboxes")
    op.drop_table("attachments")
    with op.batch_alter_table("messages") as b:
        b.drop_column("direction")
    with op.batch_alter_table("drafts") as b:
        for c in _DRAFT_COLUMNS:
            b.drop_column(c.name)
    with op.batch_alter_table("cases") as b:
        b.drop_index("ix_cases_customer_domain")
        for c in _CASE_COLUMNS:
            b.drop_column(c.name)
