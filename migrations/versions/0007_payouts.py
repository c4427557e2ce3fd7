"""payouts: withdrawals to MBANK and the sandbox bank's record of them (issue #8)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 22:27:45.160022

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sandbox_bank_payout',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payout_id', sa.String(length=26), nullable=False),
    sa.Column('mbank_phone', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('bank_ref', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_bank_payout')),
    sa.UniqueConstraint('payout_id', name=op.f('uq_sandbox_bank_payout_payout_id'))
    )
    with op.batch_alter_table('sandbox_bank_payout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_bank_payout_due_at'), ['due_at'], unique=False)

    op.create_table('payout',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=26), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('mbank_phone', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bank_ref', sa.String(length=64), nullable=True),
    sa.Column('failure_reason', sa.String(length=200), nullable=True),
    sa.Column('flagged_overdue', sa.Boolean(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payout_amount_positive')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_payout_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_payout_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payout')),
    sa.UniqueConstraint('public_id', name=op.f('uq_payout_public_id'))
    )
    with op.batch_alter_table('payout', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index('ix_payout_status_confirmed', ['status', 'confirmed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('payout', schema=None) as batch_op:
        batch_op.drop_index('ix_payout_status_confirmed')
        batch_op.drop_index(batch_op.f('ix_payout_merchant_id'))

    op.drop_table('payout')
    with op.batch_alter_table('sandbox_bank_payout', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_bank_payout_due_at'))

    op.drop_table('sandbox_bank_payout')