"""QR payments: bank webhook events, the sandbox bank's payments, payment settlement time (issue #3)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 22:17:07.226986

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sandbox_bank_payment',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('bank_txn_id', sa.String(length=64), nullable=False),
    sa.Column('transaction_id', sa.String(length=32), nullable=True),
    sa.Column('link_type', sa.String(length=8), nullable=False),
    sa.Column('recipient_id', sa.String(length=32), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('payer_bank', sa.String(length=64), nullable=False),
    sa.Column('payer_name_masked', sa.String(length=64), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sandbox_bank_payment')),
    sa.UniqueConstraint('bank_txn_id', name=op.f('uq_sandbox_bank_payment_bank_txn_id'))
    )
    with op.batch_alter_table('sandbox_bank_payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sandbox_bank_payment_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('bank_webhook_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('webhook_id', sa.String(length=128), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=True),
    sa.Column('bank_txn_id', sa.String(length=64), nullable=True),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_bank_webhook_event_payment_id_payment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bank_webhook_event')),
    sa.UniqueConstraint('webhook_id', name=op.f('uq_bank_webhook_event_webhook_id'))
    )
    with op.batch_alter_table('bank_webhook_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bank_webhook_event_bank_txn_id'), ['bank_txn_id'], unique=False)
        batch_op.create_index('ix_bank_webhook_event_outcome_received', ['outcome', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_bank_webhook_event_payment_id'), ['payment_id'], unique=False)

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_payment_status_settled_paid', ['status', 'settled_at', 'paid_at'], unique=False)


def downgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_status_settled_paid')
        batch_op.drop_column('settled_at')

    with op.batch_alter_table('bank_webhook_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bank_webhook_event_payment_id'))
        batch_op.drop_index('ix_bank_webhook_event_outcome_received')
        batch_op.drop_index(batch_op.f('ix_bank_webhook_event_bank_txn_id'))

    op.drop_table('bank_webhook_event')
    with op.batch_alter_table('sandbox_bank_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sandbox_bank_payment_transaction_id'))

    op.drop_table('sandbox_bank_payment')
