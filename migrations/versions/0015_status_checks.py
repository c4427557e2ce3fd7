"""Status columns checked by the database; refused webhooks keep their amount (issue #14)

Every status column gets the CHECK its enum generates (mkassa.models.status.check_values): payouts
had none, and changed status by raw UPDATEs, so a mistyped status was stored silently. Existing rows
hold only these values (the code never wrote others), so adding the constraints needs no data change.

bank_webhook_event.amount: the bank console's "Webhook issues" shows the amount of a refused event
(a second payment of a paid QR), next to its type, bank transaction and payment. Existing refused
events keep no amount (their bodies hold it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 10:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# The enums' values at the time of writing (a revision never imports the app): PaymentStatus (the
# payment table has had its CHECK since 0001; payment_day copies its status), PayoutStatus,
# SandboxPayoutStatus, OutboxStatus, ExportStatus, IdempotencyStatus.
PAYMENT = ('pending', 'succeeded', 'failed', 'expired', 'cancelled')
STATUS_CHECKS = (
    ('payment_day', PAYMENT),
    ('payout', ('requested', 'confirmed', 'pending', 'succeeded', 'failed')),
    ('sandbox_bank_payout', ('processing', 'succeeded', 'failed')),
    ('outbox_message', ('pending', 'sent', 'dead')),
    ('export_job', ('pending', 'running', 'done', 'failed')),
    ('idempotency_key', ('started', 'done')),
)


def _condition(values):
    return 'status IN ({})'.format(', '.join(f"'{value}'" for value in values))


def upgrade():
    # Batch mode: SQLite adds a constraint by copying the table (its named constraints come along).
    for table, values in STATUS_CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(op.f(f'ck_{table}_status'), _condition(values))

    with op.batch_alter_table('bank_webhook_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('amount', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('bank_webhook_event', schema=None) as batch_op:
        batch_op.drop_column('amount')

    for table, _ in reversed(STATUS_CHECKS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_status'), type_='check')
