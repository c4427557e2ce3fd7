"""payment_day: daily rollup of payments for reports (issue #7)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 23:21:36.462855

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# Asia/Bishkek is UTC+6 with no daylight saving time since 2005: on SQLite (naive UTC text, no time
# zones) the Bishkek day is the date of created_at + 6 hours, as in mkassa.timeutil.local_day.
BISHKEK_UTC_OFFSET_HOURS = 6
# payment_day.point_id / cashier_id for "none" (NULLs are distinct in a unique constraint): models.payment.NO_ID.
NO_ID = 0


def upgrade():
    op.create_table('payment_day',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('point_id', sa.BigInteger(), nullable=False),
    sa.Column('cashier_id', sa.BigInteger(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('amount_sum', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_payment_day_merchant_id_merchant')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_day')),
    sa.UniqueConstraint('merchant_id', 'day', 'point_id', 'cashier_id', 'method', 'status', name='uq_payment_day_key')
    )
    # Backfill from the payments already there, in one statement.
    if op.get_bind().dialect.name == 'postgresql':
        day = "(created_at AT TIME ZONE 'Asia/Bishkek')::date"
    else:
        day = f"date(created_at, '+{BISHKEK_UTC_OFFSET_HOURS} hours')"
    op.execute(
        "INSERT INTO payment_day (merchant_id, day, point_id, cashier_id, method, status, count, amount_sum) "
        f"SELECT merchant_id, {day}, COALESCE(point_id, {NO_ID}), COALESCE(cashier_id, {NO_ID}), method, status, "
        "count(*), sum(amount) FROM payment "
        f"GROUP BY merchant_id, {day}, COALESCE(point_id, {NO_ID}), COALESCE(cashier_id, {NO_ID}), method, status")


def downgrade():
    op.drop_table('payment_day')
