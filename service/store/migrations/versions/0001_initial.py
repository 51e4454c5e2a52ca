"""initial schema: suggestions, drafts, audit log, idempotency, api keys

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("api_keys",
    sa.Column("id", sa.String(length=16), nullable=False),
    sa.Column("name", sa.String(length=100), nullable=False),
    sa.Column("hash", sa.String(length=64), nullable=False),
    sa.Column("prefix", sa.String(length=16), nullable=False),
    sa.Column("roles", sa.JSON(), nullable=False),
    sa.Column("shops", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("hash")
    )
    op.create_table("idempotency",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("scope", sa.String(length=64), nullable=False),
    sa.Column("key", sa.String(length=255), nullable=False),
    sa.Column("request_hash", sa.String(length=64), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("response", sa.JSON(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("scope", "key", name="uq_idempotency_scope_key")
    )
    op.create_table("suggestions",
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("shop", sa.String(length=64), nullable=False),
    sa.Column("conversation_id", sa.String(length=128), nullable=True),
    sa.Column("intent", sa.String(length=32), nullable=False),
    sa.Column("backend", sa.String(length=16), nullable=False),
    sa.Column("model", sa.String(length=128), nullable=True),
    sa.Column("prompt_version", sa.String(length=64), nullable=True),
    sa.Column("product", sa.String(length=64), nullable=True),
    sa.Column("request", sa.JSON(), nullable=False),
    sa.Column("understanding", sa.JSON(), nullable=False),
    sa.Column("notes", sa.JSON(), nullable=False),
    sa.Column("usage", sa.JSON(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("created_by", sa.String(length=128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suggestions_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_suggestions_shop"), ["shop"], unique=False)
    op.create_table("drafts",
    sa.Column("id", sa.String(length=32), nullable=False),
    sa.Column("suggestion_id", sa.String(length=32), nullable=False),
    sa.Column("shop", sa.String(length=64), nullable=False),
    sa.Column("rank", sa.Integer(), nullable=False),
    sa.Column("intent", sa.String(length=32), nullable=False),
    sa.Column("backend", sa.String(length=16), nullable=False),
    sa.Column("product", sa.String(length=64), nullable=True),
    sa.Column("style", sa.String(length=32), nullable=False),
    sa.Column("original_text", sa.Text(), nullable=False),
    sa.Column("original_verdict", sa.String(length=8), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("verdict", sa.String(length=8), nullable=False),
    sa.Column("violations", sa.JSON(), nullable=False),
    sa.Column("citations", sa.JSON(), nullable=False),
    sa.Column("escalate", sa.Boolean(), nullable=False),
    sa.Column("state", sa.String(length=16), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("edited", sa.Boolean(), nullable=False),
    sa.Column("reject_reason", sa.Text(), nullable=True),
    sa.Column("override_reason", sa.Text(), nullable=True),
    sa.Column("learned", sa.Boolean(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(["suggestion_id"], ["suggestions.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drafts_shop"), ["shop"], unique=False)
        batch_op.create_index(batch_op.f("ix_drafts_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_drafts_suggestion_id"), ["suggestion_id"], unique=False)
    op.create_table("audit_log",
    sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
    sa.Column("draft_id", sa.String(length=32), nullable=False),
    sa.Column("shop", sa.String(length=64), nullable=False),
    sa.Column("action", sa.String(length=16), nullable=False),
    sa.Column("actor", sa.String(length=128), nullable=False),
    sa.Column("agent", sa.String(length=128), nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("before", sa.JSON(), nullable=False),
    sa.Column("after", sa.JSON(), nullable=False),
    sa.Column("detail", sa.JSON(), nullable=False),
    sa.Column("idempotency_key", sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(["draft_id"], ["drafts.id"], ),
    sa.PrimaryKeyConstraint("id")
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_draft_id"), ["draft_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_shop"), ["shop"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_shop"))
        batch_op.drop_index(batch_op.f("ix_audit_log_draft_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drafts_suggestion_id"))
        batch_op.drop_index(batch_op.f("ix_drafts_state"))
        batch_op.drop_index(batch_op.f("ix_drafts_shop"))

    op.drop_table("drafts")
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suggestions_shop"))
        batch_op.drop_index(batch_op.f("ix_suggestions_conversation_id"))

    op.drop_table("suggestions")
    op.drop_table("idempotency")
    op.drop_table("api_keys")
