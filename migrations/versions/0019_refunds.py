"""refunds of succeeded payments, confirmed by SMS code, and the sandbox bank's record of them (issue #17)

merchant.cashiers_may_refund: off by default; existing merchants keep cashiers from refunding until
the owner turns it on.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 13:50:39.837752

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sandbox_bank_refund',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('refund_id', sa.String(length=26), nullable=False),
    sa.Column('payment_id', sa.String(length=26), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('bank_ref', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('processing', 'succeeded', 'failed')", name=op.f('ck_sandbox_bank_refund_status')),
    sa.CheckConstraint('amount > 0 AND amount <= 9999999999999', name=op.f('ck_sandbox_bank_refund_amount_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_bank_refund')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_sandbox_bank_refund_refund_id'))
    )
    with op.batch_alter_table('sandbox_bank_refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_bank_refund_due_at'), ['due_at'], unique=False)

    op.create_table('refund',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=26), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('requested_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bank_ref', sa.String(length=64), nullable=True),
    sa.Column('failure_reason', sa.String(length=200), nullable=True),
    sa.CheckConstraint("status IN ('requested', 'confirmed', 'pending', 'succeeded', 'failed')", name=op.f('ck_refund_status')),
    sa.CheckConstraint('amount <= 9999999999999', name=op.f('ck_refund_amount_ceiling')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_refund_amount_positive')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_refund_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_refund_payment_id_payment')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id'], name=op.f('fk_refund_requested_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_refund')),
    sa.UniqueConstraint('public_id', name=op.f('uq_refund_public_id'))
    )
    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.create_index('ix_refund_merchant_finished', ['merchant_id', 'finished_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_refund_payment_id'), ['payment_id'], unique=False)
        batch_op.create_index('ix_refund_status_confirmed', ['status', 'confirmed_at'], unique=False)

    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cashiers_may_refund', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade():
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_column('cashiers_may_refund')

    with op.batch_alter_table('refund', schema=None) as batch_op:
        batch_op.drop_index('ix_refund_status_confirmed')
        batch_op.drop_index(batch_op.f('ix_refund_payment_id'))
        batch_op.drop_index(batch_op.f('ix_refund_merchant_id'))
        batch_op.drop_index('ix_refund_merchant_finished')

    op.drop_table('refund')
    with op.batch_alter_table('sandbox_bank_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_bank_refund_due_at'))

    op.drop_table('sandbox_bank_refund')
