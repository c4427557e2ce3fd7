"""Partner API (#18): API keys, the payments partners made, their signed callbacks and attempts.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
UTC = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        'api_key',
        sa.Column('id', BigId, nullable=False),
        sa.Column('public_id', sa.String(length=26), nullable=False),
        sa.Column('merchant_id', BigId, nullable=False),
        sa.Column('point_id', BigId, nullable=True),
        sa.Column('created_by_id', BigId, nullable=False),
        sa.Column('name', sa.String(length=60), nullable=False),
        sa.Column('mode', sa.String(length=4), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('callback_secret', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('last_used_at', UTC, nullable=True),
        sa.Column('revoked_at', UTC, nullable=True),
        sa.CheckConstraint("mode IN ('live', 'test')", name=op.f('ck_api_key_mode')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_api_key_merchant_id_merchant')),
        sa.ForeignKeyConstraint(['point_id'], ['point.id'], name=op.f('fk_api_key_point_id_point')),
        sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'],
                                name=op.f('fk_api_key_created_by_id_user_account')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
        sa.UniqueConstraint('public_id', name=op.f('uq_api_key_public_id')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash')),
    )
    op.create_index('ix_api_key_merchant_created', 'api_key', ['merchant_id', 'created_at'])

    op.create_table(
        'api_payment',
        sa.Column('id', BigId, nullable=False),
        sa.Column('payment_id', BigId, nullable=False),
        sa.Column('api_key_id', BigId, nullable=False),
        sa.Column('order_ref', sa.String(length=64), nullable=True),
        sa.Column('description', sa.String(length=200), nullable=True),
        sa.Column('callback_url', sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_api_payment_payment_id_payment')),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_api_payment_api_key_id_api_key')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_payment')),
        sa.UniqueConstraint('payment_id', name=op.f('uq_api_payment_payment_id')),
    )
    op.create_index(op.f('ix_api_payment_api_key_id'), 'api_payment', ['api_key_id'])

    op.create_table(
        'api_callback',
        sa.Column('id', BigId, nullable=False),
        sa.Column('public_id', sa.String(length=26), nullable=False),
        sa.Column('merchant_id', BigId, nullable=False),
        sa.Column('api_key_id', BigId, nullable=False),
        sa.Column('payment_id', BigId, nullable=False),
        sa.Column('event_type', sa.String(length=32), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('delivered_at', UTC, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead')", name=op.f('ck_api_callback_status')),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_api_callback_merchant_id_merchant')),
        sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_api_callback_api_key_id_api_key')),
        sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_api_callback_payment_id_payment')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_callback')),
        sa.UniqueConstraint('public_id', name=op.f('uq_api_callback_public_id')),
    )
    op.create_index('ix_api_callback_merchant_created', 'api_callback', ['merchant_id', 'created_at'])
    op.create_index(op.f('ix_api_callback_api_key_id'), 'api_callback', ['api_key_id'])
    op.create_index(op.f('ix_api_callback_payment_id'), 'api_callback', ['payment_id'])

    op.create_table(
        'api_callback_attempt',
        sa.Column('id', BigId, nullable=False),
        sa.Column('callback_id', BigId, nullable=False),
        sa.Column('attempted_at', UTC, nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(['callback_id'], ['api_callback.id'],
                                name=op.f('fk_api_callback_attempt_callback_id_api_callback')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_callback_attempt')),
    )
    op.create_index(op.f('ix_api_callback_attempt_callback_id'), 'api_callback_attempt', ['callback_id'])


def downgrade():
    op.drop_index(op.f('ix_api_callback_attempt_callback_id'), table_name='api_callback_attempt')
    op.drop_table('api_callback_attempt')
    op.drop_index(op.f('ix_api_callback_payment_id'), table_name='api_callback')
    op.drop_index(op.f('ix_api_callback_api_key_id'), table_name='api_callback')
    op.drop_index('ix_api_callback_merchant_created', table_name='api_callback')
    op.drop_table('api_callback')
    op.drop_index(op.f('ix_api_payment_api_key_id'), table_name='api_payment')
    op.drop_table('api_payment')
    op.drop_index('ix_api_key_merchant_created', table_name='api_key')
    op.drop_table('api_key')
