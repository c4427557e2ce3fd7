"""reserved payment ids for QR codes made while the phone is offline, and the amount the phone showed (issue #16)

payment_reservation: the ids a device holds (bound to device, point and user, valid a day); a payment
recorded for one (the Bank's notice or the phone's upload first) links to it, once.
payment.offline_amount: the amount an offline QR showed, once the phone uploaded it; the Bank's
amount is what counts, a different one flags the payment.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 17:23:23.554799

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('payment_reservation',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=26), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('point_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('device_key', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('payment_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('uploaded_amount', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('uploaded_amount > 0 AND uploaded_amount <= 9999999999999', name=op.f('ck_payment_reservation_uploaded_amount_range')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_payment_reservation_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['payment_id'], ['payment.id'], name=op.f('fk_payment_reservation_payment_id_payment')),
    sa.ForeignKeyConstraint(['point_id'], ['point.id'], name=op.f('fk_payment_reservation_point_id_point')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_payment_reservation_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_reservation')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_payment_reservation_payment_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_payment_reservation_public_id'))
    )
    with op.batch_alter_table('payment_reservation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_reservation_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index('ix_payment_reservation_stock', ['user_id', 'device_key', 'expires_at'], unique=False)

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('offline_amount', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_payment_offline_amount_range'),
                                         'offline_amount > 0 AND offline_amount <= 9999999999999')



def downgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_payment_offline_amount_range'), type_='check')
        batch_op.drop_column('offline_amount')

    with op.batch_alter_table('payment_reservation', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_reservation_stock')
        batch_op.drop_index(batch_op.f('ix_payment_reservation_merchant_id'))

    op.drop_table('payment_reservation')
