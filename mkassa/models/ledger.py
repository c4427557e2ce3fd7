"""Double-entry, append-only ledger for the acquiring sub-ledger.

Each business event is one transfer with a unique code; its entries sum to zero, so the sum over
all accounts is always zero (money is conserved). Account balances are kept in the same
transaction by guarded UPDATEs, and the database refuses a negative merchant balance.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..money import MAX_AMOUNT, MAX_BALANCE
from .base import BigId, UTCDateTime, utcnow

# Per merchant: money received but not yet settled, money the merchant may withdraw, and money
# reserved by a withdrawal the Bank has not yet paid out.
MERCHANT_ACCOUNT_KINDS = ("processing", "available", "payout_pending")
# The Bank's side of every movement (may be negative: they mirror the merchants' claims).
BANK_ACCOUNT_KINDS = ("bank_incoming", "bank_payouts", "bank_refunds")
# Each Bank account kind is kept in this many rows, and a movement uses the row its own id picks
# (services.ledger.get_account): every payment of every shop moves a Bank balance, and in one row
# each credit waited for the one before it to commit (bench_webhooks, 40 writers of 10 shops: 13.4 of
# 14.6 busy database sessions waited on a row lock, 10.8 on ledger_account; with 16 rows still 4–9,
# with 64 rows 1–4, the rest on the shops' own accounts). A kind's balance is the sum of its rows.
BANK_STRIPES = 64
# Money reserved by a refund the Bank has not yet returned to the payer. Opened on a merchant's first
# refund (not at onboarding), so a merchant who never refunds has the three accounts above only.
REFUND_PENDING = "refund_pending"


class LedgerAccount(db.Model):
    __tablename__ = "ledger_account"
    __table_args__ = (
        CheckConstraint("merchant_id IS NULL OR balance >= 0", name="merchant_balance_nonnegative"),
        # Bank accounts run negative: both directions are bounded, so no sum can overflow 64 bits.
        CheckConstraint(f"balance BETWEEN -{MAX_BALANCE} AND {MAX_BALANCE}", name="balance_ceiling"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerTransfer(db.Model):
    __tablename__ = "ledger_transfer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "payment:<public id>", "settle:<public id>", "payout:<id>:reserve"…: a replay cannot post twice.
    code: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payment.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    memo: Mapped[str | None] = mapped_column(String(200))

    entries: Mapped[list["LedgerEntry"]] = relationship(back_populates="transfer")


class LedgerEntry(db.Model):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="amount_nonzero"),
        CheckConstraint(f"amount BETWEEN -{MAX_AMOUNT} AND {MAX_AMOUNT}", name="amount_ceiling"),
        Index("ix_ledger_entry_account_created", "account_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("ledger_transfer.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    transfer: Mapped[LedgerTransfer] = relationship(back_populates="entries")
    account: Mapped[LedgerAccount] = relationship()
