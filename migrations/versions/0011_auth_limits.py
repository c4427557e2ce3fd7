"""auth_attempt: sign-in and recovery attempts counted by address, device, account and phone (#12)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:38:11.374719

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('auth_attempt',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scope', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_attempt'))
    )
    with op.batch_alter_table('auth_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_auth_attempt_at'), ['at'], unique=False)
        batch_op.create_index('ix_auth_attempt_scope_key_at', ['scope', 'key', 'at'], unique=False)



def downgrade():
    with op.batch_alter_table('auth_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_attempt_scope_key_at')
        batch_op.drop_index(batch_op.f('ix_auth_attempt_at'))

    op.drop_table('auth_attempt')
