"""Returnly behind the returns-platform interface: a thin adapter over
:class:`clients.returnly.ReturnlyClient` (contracts ``README.md`` §A)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from clients.returnly import (
    Refund,
    Return,
    ReturnlyClient,
    ReturnlyConflictError,
    ReturnlyError,
    ReturnlyNotFoundError,
)
from core.refunds import RefundDecision
from platforms.base import Capabilities, PlatformErrors

NAME: Final = "returnly"
FRAME_INCLUDE: Final = ("return_line_items", "refunds")
"""Only what the drift frames read: lines and refunds (labels, vouchers... are not compared)."""
LIST_MIN: Final = 10
"""Fewer returns than this are re-read one GET each: when the list does not pay, its
``LIST_SLACK`` wasted pages would add more than a fifth to their requests."""
LIST_SLACK: Final = 2
"""Pages a listed re-read may read beyond the returns it found before it gives up."""
ERRORS: Final = PlatformErrors(
    any=ReturnlyError, not_found=ReturnlyNotFoundError, conflict=ReturnlyConflictError
)


@dataclass(frozen=True)
class ReturnlyPlatform:
    """Returnly: the bridge computes refund amounts and POSTs them; a refund exists when the
    POST answers; a held refund waits in the bridge's review queue (no Returnly call)."""

    client: ReturnlyClient
    name: str = NAME
    capabilities: Capabilities = field(default_factory=Capabilities)
    errors: PlatformErrors = ERRORS

    @property
    def send_status_filter(self) -> bool:
        """The client's setting (statuses and ``max_updated_at`` sent to the server)."""
        return self.client.send_status_filter

    def changed_returns(
        self,
        *,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        statuses: Collection[str] | None = None,
    ) -> list[Return]:
        """``GET /returns.json?min_updated_at=…``, every page (``links.next``)."""
        return self.client.list_returns(
            updated_since=updated_since, updated_before=updated_before, statuses=statuses
        )

    def iter_changed_returns(
        self,
        *,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        statuses: Collection[str] | None = None,
    ) -> Iterator[Return]:
        """Pages of ``GET /returns.json`` with lines and refunds only."""
        return self.client.iter_returns(
            updated_since=updated_since,
            updated_before=updated_before,
            statuses=statuses,
            include=FRAME_INCLUDE,
        )

    def read_return(self, return_id: str, *, frame: bool = False) -> Return:
        """``GET /returns/{id}.json`` (everything, or only lines and refunds for a frame)."""
        if frame:
            return self.client.get_return(return_id, include=FRAME_INCLUDE)
        return self.client.get_return(return_id)

    def read_listed(
        self, return_ids: Collection[str], *, updated_since: datetime
    ) -> dict[str, Return]:
        """Pages of ``GET /returns.json?min_updated_at=`` until every return is found, or until
        the pages read outnumber the returns found by :data:`LIST_SLACK` (then one GET each
        is cheaper: the rest of the list is mostly other returns).

        A return seen twice (it moved while the pages were read) keeps its later record. At
        most ``LIST_SLACK`` requests more than one GET per return; with returns sorted by
        ``updated_at`` into batches, about one request per page of returns.
        """
        wanted = set(return_ids)
        found: dict[str, Return] = {}
        if len(wanted) < LIST_MIN:
            return found
        pages = self.client.iter_return_pages(updated_since=updated_since)
        for read, page in enumerate(pages, start=1):
            found.update((ret.id, ret) for ret in page if ret.id in wanted)
            if len(found) == len(wanted) or read - len(found) >= LIST_SLACK:
                break
        return found

    def refund(self, ret: Return, decision: RefundDecision, *, idempotency_key: str) -> Refund:
        """``POST /refunds.json`` with the amounts the bridge decided (``restock: false``)."""
        return self.client.create_refund(
            decision.to_refund_create(ret), idempotency_key=idempotency_key
        )

    def flag_for_review(self, return_id: str, note: str) -> bool:  # noqa: ARG002 (interface)
        """Returnly has no review flag: the bridge's review queue holds the refund."""
        return False
