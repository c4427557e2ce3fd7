"""payment_hour: a shop's payments per hour, method and status, for one-day reports (issue #19)

Backfilled from the payments already there, in one statement, as services.rollup.add_from_payments
does; services.rollup keeps it exact from then on.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 04:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# The values at the time of writing (a revision never imports the app): models.payment.PaymentStatus
# and money.MAX_BALANCE.
PAYMENT = ("pending", "succeeded", "failed", "expired", "cancelled")
MAX_BALANCE = 100000000000000000


def upgrade():
    op.create_table(
        "payment_hour",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("amount_sum", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in PAYMENT) + ")",
                           name=op.f("ck_payment_hour_status")),
        sa.CheckConstraint(f"amount_sum BETWEEN -{MAX_BALANCE} AND {MAX_BALANCE}",
                           name=op.f("ck_payment_hour_amount_sum_ceiling")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchant.id"], name=op.f("fk_payment_hour_merchant_id_merchant")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_hour")),
        sa.UniqueConstraint("merchant_id", "hour", "method", "status", name="uq_payment_hour_key"),
    )
    # The UTC hour's first moment, as each database keeps the column (SQLite: SQLAlchemy's naive UTC text).
    if op.get_bind().dialect.name == "postgresql":
        hour = "date_trunc('hour', created_at, 'UTC')"
    else:
        hour = "strftime('%Y-%m-%d %H:00:00.000000', created_at)"
    op.execute(
        "INSERT INTO payment_hour (merchant_id, hour, method, status, count, amount_sum) "
        f"SELECT merchant_id, {hour}, method, status, count(*), sum(amount) FROM payment "
        f"GROUP BY merchant_id, {hour}, method, status")


def downgrade():
    op.drop_table("payment_hour")
