"""reports: background Excel exports, and a covering index for report totals (issue #7)

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-27 22:17:32.273410

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('export_job',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('public_id', sa.String(length=26), nullable=False),
    sa.Column('merchant_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=True),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchant.id'], name=op.f('fk_export_job_merchant_id_merchant')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_export_job_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_job')),
    sa.UniqueConstraint('public_id', name=op.f('uq_export_job_public_id'))
    )
    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_job_merchant_id'), ['merchant_id'], unique=False)
        batch_op.create_index('ix_export_job_status_created', ['status', 'created_at'], unique=False)

    # Report totals and charts per status and period, answered from the index alone.
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index('ix_payment_report', ['merchant_id', 'status', 'created_at', 'method', 'point_id', 'cashier_id', 'amount'], unique=False)



def downgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_report')

    with op.batch_alter_table('export_job', schema=None) as batch_op:
        batch_op.drop_index('ix_export_job_status_created')
        batch_op.drop_index(batch_op.f('ix_export_job_merchant_id'))

    op.drop_table('export_job')
