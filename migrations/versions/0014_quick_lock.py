"""quick lock: merchant's quick-lock minutes, session alive_at, passkey's device (issue #11)

Existing merchants get the default (2 minutes); existing sessions have no alive_at yet and are judged
by last_seen_at until their next request; existing passkeys keep no device (signing out cannot tell
which phone they were added on, so it revokes only the device's PIN for them).

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-30 06:45:12.933902

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quick_lock_minutes', sa.Integer(), server_default='2', nullable=False))
        batch_op.create_check_constraint(op.f('ck_merchant_quick_lock_minutes_range'),
                                         'quick_lock_minutes BETWEEN 1 AND 15')

    with op.batch_alter_table('passkey', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_index(batch_op.f('ix_passkey_device_id'), ['device_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_passkey_device_id_device'), 'device', ['device_id'], ['id'])

    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alive_at', sa.DateTime(timezone=True), nullable=True))



def downgrade():
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('alive_at')

    with op.batch_alter_table('passkey', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_passkey_device_id_device'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_passkey_device_id'))
        batch_op.drop_column('device_id')

    with op.batch_alter_table('merchant', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_merchant_quick_lock_minutes_range'), type_='check')
        batch_op.drop_column('quick_lock_minutes')

