"""The returns-platform seam: what the stages need from Returnly, Loop or the next platform.

The stages (:mod:`stages`) talk to a :class:`ReturnsPlatform`, never to a platform's client;
:mod:`runtime.platforms` builds the merchant's platform from its configuration
(``MerchantConfig.platform``). Only what the stages do today is behind it: list changed
returns, read one, refund, the review and cancellation semantics, the reconciliation read.

The return the stages see is the bridge's return model. Today that is the Returnly client's
model (:class:`clients.returnly.Return`, re-exported here as :data:`Return`), because the
mapping, the refund rules and the drift frames (:mod:`core`) are written against it. A new
platform's adapter returns its returns in that shape: statuses in :data:`KNOWN_STATUSES`
(cancelled ones in :data:`CANCELLED_STATUSES`), units per line, refunds made. What differs
between the platforms is said by :class:`Capabilities` and ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from clients.errors import BridgeClientError, ConflictError, NotFoundError

# The bridge's return model and its status vocabulary (see the module docstring): imported
# from the Returnly client because core is written against it; stages import them from here.
from clients.returnly import CANCELED_STATUSES, KNOWN_STATUSES, Refund, Return
from core.refunds import RefundDecision

CANCELLED_STATUSES = CANCELED_STATUSES
"""Return statuses that mean the return was cancelled (intake deletes an open RMA)."""

__all__ = [
    "CANCELLED_STATUSES",
    "KNOWN_STATUSES",
    "Capabilities",
    "PlatformErrors",
    "Refund",
    "RefundQueued",
    "Return",
    "ReturnsPlatform",
]

RefundAmounts = Literal["bridge", "platform"]
RefundCompletion = Literal["immediate", "deferred"]
ReviewPlace = Literal["bridge", "platform"]


@dataclass(frozen=True)
class Capabilities:
    """How a platform refunds and reviews, where the stages must behave differently.

    Returnly: the bridge computes the amounts, the refund exists when the POST answers, and a
    held refund waits in the bridge's own review queue. Loop (``loop.md`` §C): Loop computes
    the amounts (``process`` takes none), the refund is done only when the return is
    ``closed`` (``deferred``), and review is ``flag`` + ``note`` in Loop Admin (``platform``).
    """

    refund_amounts: RefundAmounts = "bridge"
    refund_completion: RefundCompletion = "immediate"
    review: ReviewPlace = "bridge"


@dataclass(frozen=True)
class PlatformErrors:
    """The error classes a platform's client raises, for the stages' ``except`` clauses.

    Every one is a :mod:`clients.errors` kind, so retry rules (``is_retryable``) hold as they
    are; the stages catch ``platform.errors.not_found`` instead of a client's class by name.
    """

    any: type[BridgeClientError]
    """Any failure of this platform's client (transport, status, response)."""
    not_found: type[NotFoundError]
    conflict: type[ConflictError]
    """The platform refused a refund because one exists already."""


@dataclass(frozen=True)
class RefundQueued:
    """A refund the platform accepted but makes later (Loop's ``process``: 200 means queued).

    No adapter returns it yet: completion records only :class:`Refund` (Returnly refunds at
    once). The Loop adapter returns it and completion then waits for the return to close.
    """

    return_id: str


class ReturnsPlatform(Protocol):
    """One merchant's returns platform, as the stages use it (an adapter over its client)."""

    @property
    def name(self) -> str:
        """The configuration value naming it (``MerchantConfig.platform``): ``returnly``."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """How it refunds and reviews (what the stages must do differently)."""
        ...

    @property
    def errors(self) -> PlatformErrors:
        """Its client's error classes."""
        ...

    @property
    def send_status_filter(self) -> bool:
        """Whether listing by status and ``updated_before`` is done by the server (reconciliation
        reads old open returns in a pass of their own only then)."""
        ...

    def changed_returns(
        self,
        *,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        statuses: Collection[str] | None = None,
    ) -> list[Return]:
        """Returns updated in the window (intake's poll, the backfill), in those statuses."""
        ...

    def iter_changed_returns(
        self,
        *,
        updated_since: datetime | None = None,
        updated_before: datetime | None = None,
        statuses: Collection[str] | None = None,
    ) -> Iterator[Return]:
        """The reconciliation frame's read: returns page by page, with lines and refunds."""
        ...

    def read_return(self, return_id: str, *, frame: bool = False) -> Return:
        """One return as the platform has it now (``frame``: only what the drift frames read).

        Raises ``errors.not_found`` when the platform does not know it.
        """
        ...

    def read_listed(
        self, return_ids: Collection[str], *, updated_since: datetime
    ) -> dict[str, Return]:
        """As many of ``return_ids`` as a listing from ``updated_since`` finds at a profit.

        ``updated_since`` must be a lower bound of every one's ``updated_at`` now (the value
        the bridge last read). The caller reads the others one by one with
        :meth:`read_return`; a platform with no such listing returns nothing.
        """
        ...

    def refund(
        self, ret: Return, decision: RefundDecision, *, idempotency_key: str
    ) -> Refund | RefundQueued:
        """Refund the decided lines of ``ret`` (re-read under the refund lease by the caller).

        Not idempotent: after an ambiguous failure the caller reads the return back before
        any repeat. A platform that computes amounts itself uses the lines only.
        """
        ...

    def flag_for_review(self, return_id: str, note: str) -> bool:
        """Tell the platform a person must look at the return; False when it has no such
        place (the bridge's own review queue holds it: Returnly)."""
        ...
