"""Domain signals: let one area react to another's events inside the same transaction.

Receivers run synchronously in the sender's transaction; anything that leaves the process must
go through the outbox.
"""
from blinker import Namespace

_signals = Namespace()

# sender: the Payment, just credited as succeeded (still uncommitted).
payment_succeeded = _signals.signal("payment-succeeded")
