"""Excel exports generated in the background (large reports and statements), then downloaded."""
from __future__ import annotations

from datetime import datetime
from enum import nonmember
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import BigId, UTCDateTime, new_public_id, utcnow
from .status import Status, check_values

EXPORT_KINDS = ("report", "statement")


class ExportStatus(Status):
    """An export's progress (services.export); the screen shows a message per state, not a label."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    TRANSITIONS = nonmember({
        "pending": frozenset({"running"}),
        # A worker that died mid-file loses its claim: another takes the job again from the start.
        "running": frozenset({"running", "done", "failed"}),
    })




class ExportJob(db.Model):
    __tablename__ = "export_job"
    __table_args__ = (Index("ix_export_job_status_created", "status", "created_at"),
                      check_values("status", ExportStatus))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(26), unique=True, default=new_public_id)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"), index=True)
    # The person who asked: only they download it (a cashier's export holds only their payments).
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    locale: Mapped[str] = mapped_column(String(8), default="ru")
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.PENDING.value)
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def progress_percent(self) -> int:
        return 100 if self.status == "done" else min(99, self.rows_done * 100 // max(self.rows_total, 1))
