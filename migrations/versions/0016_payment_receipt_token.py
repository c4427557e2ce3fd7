"""payment.receipt_token: the unguessable id of the payer's public receipt (issue #17 item 4)

A receipt link never expires, so existing payments get their token here too (128 random bits from
Python's `secrets`, as the model's default makes them): a database's own random() is not meant
for secrets. Filled in batches, then made NOT NULL and unique.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 14:00:00

"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receipt_token', sa.String(length=32), nullable=True))

    conn = op.get_bind()
    payment = sa.table('payment', sa.column('id', sa.BigInteger), sa.column('receipt_token', sa.String))
    update = (sa.update(payment).where(payment.c.id == sa.bindparam('pid'))
              .values(receipt_token=sa.bindparam('token')))
    while True:
        ids = conn.execute(sa.select(payment.c.id).where(payment.c.receipt_token.is_(None)).limit(BATCH)).scalars().all()
        if not ids:
            break
        conn.execute(update, [{'pid': pid, 'token': secrets.token_urlsafe(16)} for pid in ids])

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.alter_column('receipt_token', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_payment_receipt_token'), ['receipt_token'])


def downgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_payment_receipt_token'), type_='unique')
        batch_op.drop_column('receipt_token')
