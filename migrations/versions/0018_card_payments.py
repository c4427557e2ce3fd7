"""Card payments through MPOS: the sandbox bank's record of MPOS results (issue #15)

The payment table has carried card columns (method 'card', card_mask, rrn, auth_code) since 0001 and
the merchant its has_mpos_contract flag; what is new is the sandbox bank's own record of what its MPOS
simulator answered, so that `find_card_payment` can repair a lost `card.*` notification.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

MAX_AMOUNT = 10**13 - 1  # mkassa.money.MAX_AMOUNT when written (a revision never imports the app)


def upgrade():
    op.create_table(
        'sandbox_card_payment',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('payment_id', sa.String(length=26), nullable=False),
        sa.Column('result', sa.String(length=16), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('rrn', sa.String(length=32), nullable=True),
        sa.Column('auth_code', sa.String(length=16), nullable=True),
        sa.Column('card_mask', sa.String(length=32), nullable=True),
        sa.Column('reason', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f'amount > 0 AND amount <= {MAX_AMOUNT}', name=op.f('ck_sandbox_card_payment_amount_range')),
        sa.CheckConstraint("result IN ('approved', 'declined')", name=op.f('ck_sandbox_card_payment_result')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_card_payment')),
        sa.UniqueConstraint('payment_id', name=op.f('uq_sandbox_card_payment_payment_id')),
    )


def downgrade():
    op.drop_table('sandbox_card_payment')
