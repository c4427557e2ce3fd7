"""shifts: shift mode, open and closed shifts, payment.shift_id (issue #6)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 22:44:11.906738

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('shift',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=26), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('cashier_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('point_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('closed_automatically', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['cashier_id'], ['user_account.id'], name=op.f('fk_shift_cashier_id_user_account')),
    sa.ForeignKeyConstraint(['closed_by_id'], ['user_account.id'], name=op.f('fk_shift_closed_by_id_user_account')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_shift_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['point_id'], ['point.id'], name=op.f('fk_shift_point_id_point')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shift')),
    sa.UniqueConstraint('public_id', name=op.f('uq_shift_public_id'))
    )
    with op.batch_alter_table('shift', schema=None) as batch_op:
        batch_op.create_index('ix_shift_cashier_opened', ['cashier_id', 'opened_at'], unique=False)
        batch_op.create_index('ix_shift_closed_opened', ['closed_at', 'opened_at'], unique=False)
        batch_op.create_index('ix_shift_merchant_opened', ['merchant_id', 'opened_at'], unique=False)
        # One open shift per person: a partial unique index (PostgreSQL and SQLite both have them).
        batch_op.create_index('uq_shift_open_per_cashier', ['cashier_id'], unique=True, sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))

    # The shift a payment was taken in; nullable: payments outside shift mode have none.
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shift_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_payment_shift_id'), ['shift_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payment_shift_id_shift'), 'shift', ['shift_id'], ['id'])



def downgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_shift_id_shift'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payment_shift_id'))
        batch_op.drop_column('shift_id')

    with op.batch_alter_table('shift', schema=None) as batch_op:
        batch_op.drop_index('uq_shift_open_per_cashier', sqlite_where=sa.text('closed_at IS NULL'), postgresql_where=sa.text('closed_at IS NULL'))
        batch_op.drop_index('ix_shift_merchant_opened')
        batch_op.drop_index('ix_shift_closed_opened')
        batch_op.drop_index('ix_shift_cashier_opened')

    op.drop_table('shift')
