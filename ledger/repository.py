"""``Ledger``: the repository object the tasks and the webhook receiver talk to."""

from __future__ import annotations

from types import TracebackType

from ledger.held import HeldReviewMixin
from ledger.inbox import InboxMixin
from ledger.leases import LeasesMixin
from ledger.links import LinksMixin
from ledger.refunds import RefundsMixin
from ledger.requests import RequestCountsMixin
from ledger.review import ReviewMixin
from ledger.summary import SummaryMixin
from ledger.watermarks import WatermarksMixin


class Ledger(
    LinksMixin,
    InboxMixin,
    RefundsMixin,
    LeasesMixin,
    WatermarksMixin,
    RequestCountsMixin,
    ReviewMixin,
    HeldReviewMixin,
    SummaryMixin,
):
    """The bridge's durable state behind a small, thread-safe API.

    Each call runs in its own short transaction and returns detached rows (plain
    snapshots: changing their attributes changes nothing in the database). Build one
    with :func:`ledger.open_ledger`; close it (or use it as a context manager) to
    release its connections.
    """

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # URL's repr masks the password.
        return f"Ledger({self._engine.url!r})"
