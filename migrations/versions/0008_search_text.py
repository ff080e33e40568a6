"""listings: search_text (title, keywords and body, lower-cased once) for the search page

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 06:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

BODY = {"demands": "description", "achievements": "abstract"}
BATCH = 2000


def upgrade() -> None:
    for table in BODY:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    conn = op.get_bind()
    for table, body in BODY.items():
        # lower-cased in Python, as models.listing.search_text_of does on every save (SQLite's lower() is
        # ASCII only), in batches so a large table does not sit in memory twice
        t = sa.table(table, sa.column("id", sa.Integer), sa.column("title", sa.String),
                     sa.column("keywords", sa.String), sa.column(body, sa.Text), sa.column("search_text", sa.Text))
        last = 0
        while True:
            rows = conn.execute(sa.select(t.c.id, t.c.title, t.c.keywords, t.c[body]).where(t.c.id > last)
                                .order_by(t.c.id).limit(BATCH)).all()
            if not rows:
                break
            conn.execute(t.update().where(t.c.id == sa.bindparam("row_id")).values(search_text=sa.bindparam("text")),
                         [{"row_id": r[0], "text": "\n".join((r[1] or "", r[2] or "", r[3] or "")).lower()}
                          for r in rows])
            last = rows[-1][0]


def downgrade() -> None:
    for table in BODY:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('search_text')
