"""Links (Returnly return <-> AMS RMA) and the append-only stage history of each return."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from ledger.columns import utcnow
from ledger.errors import LedgerConflictError, LedgerNotFoundError
from ledger.models import Link, StageEvent
from ledger.store import Store, in_chunks

DEFAULT_STAGE = "new"


class StageNote(NamedTuple):
    """A history entry written together with a link change (see ``upsert_link``)."""

    stage: str
    outcome: str
    detail: dict[str, Any] | None = None


class LinkChange(NamedTuple):
    """One link to create or fill in (``None`` leaves a stored value alone)."""

    return_id: str
    customer_identifier: str
    rma_number: str | None = None
    ams_uuid: str | None = None
    stage: str | None = None
    status: str | None = None
    history: StageNote | None = None
    platform_updated_at: datetime | None = None
    """The return's ``updated_at`` as just read from its platform (kept only when newer)."""


def _matching_links(
    session: Session,
    merchant: str,
    rids: Sequence[str],
    cids: Sequence[str],
    *,
    for_update: bool = False,
) -> Iterator[Link]:
    """The merchant's links with one of these return ids or customer identifiers, read in
    ``IN`` lists of :data:`ledger.store.IN_CHUNK` (one query for a batch step)."""
    rid_chunks, cid_chunks = list(in_chunks(rids)), list(in_chunks(cids))
    for n in range(max(len(rid_chunks), len(cid_chunks))):
        some_rids = rid_chunks[n] if n < len(rid_chunks) else []
        some_cids = cid_chunks[n] if n < len(cid_chunks) else []
        query = select(Link).where(
            Link.merchant == merchant,
            or_(Link.return_id.in_(some_rids), Link.customer_identifier.in_(some_cids)),
        )
        yield from session.scalars(query.with_for_update() if for_update else query)


class _Known:
    """The links a batch of changes touches, read once and indexed both ways."""

    def __init__(self, session: Session, merchant: str, changes: Sequence[LinkChange]) -> None:
        self.by_rid: dict[str, Link] = {}
        self.by_cid: dict[str, Link] = {}
        rids = sorted({c.return_id for c in changes})
        cids = sorted({c.customer_identifier for c in changes})
        for row in _matching_links(session, merchant, rids, cids, for_update=True):
            self.add(row)

    def add(self, row: Link) -> None:
        self.by_rid[row.return_id] = row
        self.by_cid[row.customer_identifier] = row

    def matching(self, c: LinkChange) -> list[Link]:
        found = [self.by_rid.get(c.return_id), self.by_cid.get(c.customer_identifier)]
        return list({id(row): row for row in found if row is not None}.values())


class _Batch:
    """What one ``apply_link_changes`` call writes: history rows always in one bulk insert;
    new links too when the caller needs no persistent objects back (``bulk``)."""

    def __init__(self, session: Session, merchant: str, bulk: bool) -> None:
        self.session, self.merchant, self.bulk = session, merchant, bulk
        self.events: list[dict[str, Any]] = []
        self.new_links: list[Link] = []

    def flush(self) -> None:
        """Insert the history rows and (``bulk``) the new links: two statements."""
        if self.new_links:
            now = utcnow()
            rows = [
                {col: getattr(link, col) for col in _NEW_LINK_COLUMNS}
                | {"created_at": now, "updated_at": now}
                for link in self.new_links
            ]
            self.session.execute(insert(Link), rows)
        if self.events:
            self.session.execute(insert(StageEvent), self.events)


_NEW_LINK_COLUMNS = (
    "merchant",
    "return_id",
    "customer_identifier",
    "rma_number",
    "ams_uuid",
    "stage",
    "status",
    "platform_updated_at",
)


def _apply(batch: _Batch, c: LinkChange, known: _Known) -> Link:
    """Create or fill in one link (and its history entry) inside the batch's session."""
    merchant = batch.merchant
    if c.history is not None:
        batch.events.append(
            {
                "merchant": merchant,
                "return_id": c.return_id,
                "stage": c.history.stage,
                "outcome": c.history.outcome,
                "detail": c.history.detail,
                "run_id": None,
                "recorded_at": utcnow(),
            }
        )
    rows = known.matching(c)
    for row in rows:
        if (row.return_id, row.customer_identifier) != (c.return_id, c.customer_identifier):
            raise LedgerConflictError(
                f"merchant {merchant!r}: return {c.return_id!r} / customer_identifier "
                f"{c.customer_identifier!r} clashes with existing link "
                f"{row.return_id!r} / {row.customer_identifier!r}"
            )
    if rows:
        link = rows[0]
        changed = False
        for field in ("rma_number", "ams_uuid", "stage", "status"):
            value = getattr(c, field)
            if value is not None and getattr(link, field) != value:
                setattr(link, field, value)
                changed = True
        seen = c.platform_updated_at
        if seen is not None and (
            link.platform_updated_at is None or seen > link.platform_updated_at
        ):
            link.platform_updated_at = seen
            changed = True
        if changed:
            link.updated_at = utcnow()
        return link
    link = Link(
        merchant=merchant,
        return_id=c.return_id,
        customer_identifier=c.customer_identifier,
        rma_number=c.rma_number,
        ams_uuid=c.ams_uuid,
        stage=c.stage or DEFAULT_STAGE,
        status=c.status,
        platform_updated_at=c.platform_updated_at,
    )
    if batch.bulk:
        batch.new_links.append(link)  # inserted by flush(); later changes fill it in first
    else:
        batch.session.add(link)
    known.add(link)
    return link


def apply_link_changes(
    session: Session, merchant: str, changes: Sequence[LinkChange], *, bulk: bool = False
) -> list[Link]:
    """Create or fill in links (and their history) inside ``session``: one read for the batch.

    ``bulk``: new links are written in one insert and come back unbound to the session (no
    ``id``); 3x cheaper than ORM objects (150 writes of 30 links: 0.79 s against 2.71 s).
    """
    if not changes:
        return []
    known = _Known(session, merchant, changes)
    batch = _Batch(session, merchant, bulk)
    links = [_apply(batch, c, known) for c in changes]
    batch.flush()
    return links


class LinksMixin(Store):
    """Operations on ``links`` and ``stage_events``."""

    def upsert_link(
        self,
        merchant: str,
        return_id: str,
        customer_identifier: str,
        rma_number: str | None = None,
        ams_uuid: str | None = None,
        stage: str | None = None,
        status: str | None = None,
        history: StageNote | None = None,
    ) -> Link:
        """Create the link or fill in what is new; concurrent calls converge on one row.

        ``None`` arguments leave stored values alone. A return already linked to another
        customer identifier, or an identifier already used by another return, is a
        :class:`LedgerConflictError`: identity never changes silently. ``history``, when
        given, is appended to the stage history in the same transaction.
        """
        change = LinkChange(
            return_id, customer_identifier, rma_number, ams_uuid, stage, status, history
        )
        return self.upsert_links(merchant, [change])[0]

    def upsert_links(self, merchant: str, changes: Sequence[LinkChange]) -> list[Link]:
        """:meth:`upsert_link` for many returns in one transaction (all or nothing)."""
        for c in changes:
            if not (merchant and c.return_id and c.customer_identifier):
                raise ValueError("merchant, return_id and customer_identifier are required")

        def attempt() -> list[Link]:
            with self._write() as session:
                return apply_link_changes(session, merchant, changes)

        return self._retry_race(attempt) if changes else []

    def get_link(
        self,
        merchant: str,
        return_id: str | None = None,
        customer_identifier: str | None = None,
        ams_uuid: str | None = None,
    ) -> Link | None:
        """The link matching every identifier given (at least one), or ``None``."""
        filters: list[Any] = [Link.merchant == merchant]
        if return_id is not None:
            filters.append(Link.return_id == return_id)
        if customer_identifier is not None:
            filters.append(Link.customer_identifier == customer_identifier)
        if ams_uuid is not None:
            filters.append(Link.ams_uuid == ams_uuid)
        if len(filters) == 1:
            raise ValueError("give return_id, customer_identifier or ams_uuid")
        with self._read() as session:
            return session.scalars(select(Link).where(*filters)).first()

    def links_for(
        self,
        merchant: str,
        *,
        return_ids: Iterable[str] = (),
        customer_identifiers: Iterable[str] = (),
    ) -> list[Link]:
        """Every link of these returns or identifiers (batch steps; any number of them)."""
        rids, cids = list(return_ids), list(customer_identifiers)
        if not (rids or cids):
            return []
        with self._read() as session:
            rows = _matching_links(session, merchant, rids, cids)
            return list({row.id: row for row in rows}.values())

    def links_in_stage(self, merchant: str | None, stages: Iterable[str]) -> list[Link]:
        """Links currently in one of ``stages`` (e.g. open RMAs to poll), oldest change first.

        ``merchant=None`` means every merchant.
        """
        wanted = list(stages)
        query = select(Link).where(Link.stage.in_(wanted))
        if merchant is not None:
            query = query.where(Link.merchant == merchant)
        with self._read() as session:
            return list(session.scalars(query.order_by(Link.updated_at, Link.id)))

    def set_stage(
        self, merchant: str, return_id: str, stage: str, status: str | None = None
    ) -> Link:
        """Move a link to ``stage`` (and ``status`` when given)."""
        with self._write() as session:
            link = session.scalars(
                select(Link)
                .where(Link.merchant == merchant, Link.return_id == return_id)
                .with_for_update()
            ).first()
            if link is None:
                raise LedgerNotFoundError(f"no link for merchant {merchant!r} return {return_id!r}")
            link.stage = stage
            if status is not None:
                link.status = status
            link.updated_at = utcnow()
            return link

    def record_stage(
        self,
        merchant: str,
        return_id: str,
        stage: str,
        outcome: str,
        detail: dict[str, Any] | None = None,
        run_id: str | None = None,
    ) -> StageEvent:
        """Append one step to the return's history (there is no way to edit or delete it)."""
        event = StageEvent(
            merchant=merchant,
            return_id=return_id,
            stage=stage,
            outcome=outcome,
            detail=detail,
            run_id=run_id,
        )
        with self._write() as session:
            session.add(event)
        return event

    def history(self, merchant: str, return_id: str) -> list[StageEvent]:
        """Every recorded step of a return, in the order it was recorded."""
        with self._read() as session:
            query = (
                select(StageEvent)
                .where(StageEvent.merchant == merchant, StageEvent.return_id == return_id)
                .order_by(StageEvent.id)
            )
            return list(session.scalars(query))
