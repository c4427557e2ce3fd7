"""Amount ceilings: every amount at most 13 digits of tyiyn, every balance and daily sum bounded (issue #12)

A signed static-QR webhook could credit 2^62 tyiyn, and a second one overflowed the 64-bit balance
(SQLite turns the sum into a float). The webhook now refuses such amounts; these CHECK constraints
make the databases refuse them too, whatever writes them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 06:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# mkassa.money.MAX_AMOUNT and MAX_BALANCE at the time of writing (a revision never imports the app).
MAX_AMOUNT = 10**13 - 1
MAX_BALANCE = 10**17

CONSTRAINTS = (
    ('payment', 'ck_payment_amount_ceiling', f'amount <= {MAX_AMOUNT}'),
    ('payment_day', 'ck_payment_day_amount_sum_ceiling', f'amount_sum BETWEEN -{MAX_BALANCE} AND {MAX_BALANCE}'),
    ('payout', 'ck_payout_amount_ceiling', f'amount <= {MAX_AMOUNT}'),
    ('sandbox_bank_payout', 'ck_sandbox_bank_payout_amount_range', f'amount > 0 AND amount <= {MAX_AMOUNT}'),
    ('sandbox_bank_payment', 'ck_sandbox_bank_payment_amount_range', f'amount > 0 AND amount <= {MAX_AMOUNT}'),
    ('ledger_account', 'ck_ledger_account_balance_ceiling', f'balance BETWEEN -{MAX_BALANCE} AND {MAX_BALANCE}'),
    ('ledger_entry', 'ck_ledger_entry_amount_ceiling', f'amount BETWEEN -{MAX_AMOUNT} AND {MAX_AMOUNT}'),
)


def upgrade():
    # Batch mode: SQLite adds a constraint by copying the table (its named constraints come along).
    for table, name, condition in CONSTRAINTS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(op.f(name), condition)


def downgrade():
    for table, name, _ in reversed(CONSTRAINTS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(name), type_='check')
