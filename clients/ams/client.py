"""AmsClient: the MasonHub AMS v1 API over one httpx client (contracts §B).

Writes take arrays of at most 30 records and answer per record inside an HTTP 200, so every
write returns a :class:`BatchResult`. POSTs are sent once (AMS has no idempotency key; a
retried create would come back as a duplicate ``customer_identifier``); GET, full-record PUT
and DELETE are retried on transient faults by :class:`clients.http.HttpSession`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar, get_args

import httpx
from pydantic import SecretStr

from clients.ams.batch import AmsBatchError
from clients.ams.errors import AMS_ERRORS, AmsError, AmsResponseError
from clients.ams.models import (
    BatchRecordResult,
    BatchResult,
    Callback,
    CallbackCreate,
    Rma,
    RmaCreate,
)
from clients.ams.validation import (
    MAX_IDS_PER_QUERY,
    MAX_PAGE_LIMIT,
    MAX_RECORDS_PER_BATCH,
    AmsRequestRejectedError,
    check_batch,
    check_callback,
    check_rmas,
)
from clients.http import (
    PARSE_FAILURES,
    ClosingClient,
    HttpSession,
    RetryPolicy,
    default_timeout,
    parsing,
    secret_value,
)

__all__ = ["DATA_FACTORY_EVENTS", "AmsClient", "DataFactoryEvent", "in_batches"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
DataFactoryEvent = Literal[
    "receiveFull",
    "receivePartial",
    "receiveUnexpected",
    "receivingStarted",
    "tendered",
    "inTransit",
    "delivered",
    "undeliverable",
]
DATA_FACTORY_EVENTS: tuple[str, ...] = get_args(DataFactoryEvent)


def in_batches(items: Sequence[T], size: int = MAX_RECORDS_PER_BATCH) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (AMS takes 30 per write or read)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _rfc3339(field: str, value: datetime) -> str:
    if value.tzinfo is None:
        raise AmsRequestRejectedError(field, "must be timezone-aware (RFC3339 needs an offset)")
    return value.isoformat()


def _identifiers(field: str, values: Sequence[str]) -> list[str]:
    """Non-empty strings, duplicates dropped (order kept)."""
    if isinstance(values, str):
        raise AmsRequestRejectedError(field, "a list of strings is expected, not one string")
    out: list[str] = []
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise AmsRequestRejectedError(f"{field}[{i}]", "empty identifier")
        if value not in out:
            out.append(value)
    if not out:
        raise AmsRequestRejectedError(field, "at least 1 identifier required")
    return out


def _list_of(body: Any, *keys: str) -> list[Any]:
    """The record list of a reply: a bare array, or the first of ``keys`` holding one."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), list):
                return list(body[key])
    raise AmsError(f"unexpected AMS reply shape ({type(body).__name__}), expected a list")


_CALLBACK_READ_FAILURES: tuple[type[Exception], ...] = (*PARSE_FAILURES, AmsError)


def _callback_failures(
    response: httpx.Response, sent: Sequence[CallbackCreate]
) -> list[BatchRecordResult]:
    """Failed records of a POST /callbacks reply: bare array, records envelope or MD's form.

    An unreadable reply is logged, not raised: the GET that follows tells what was saved.
    """
    try:
        return _read_callback_failures(response, sent)
    except _CALLBACK_READ_FAILURES:
        logger.warning("AMS POST /callbacks: unexpected reply shape; re-reading with GET")
        return []


def _read_callback_failures(
    response: httpx.Response, sent: Sequence[CallbackCreate]
) -> list[BatchRecordResult]:
    items = _list_of(response.json(), "results", "callbacks", "data")
    failed: list[BatchRecordResult] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        status = str(item.get("status", "success"))
        if status.strip().lower() == "success":
            continue
        fallback = sent[i] if i < len(sent) else None
        url = item.get("url") or (fallback.url if fallback else None)
        kind = item.get("message_type") or (fallback.message_type if fallback else None)
        failed.append(
            BatchRecordResult(
                customer_identifier=f"{kind} {url}" if url or kind else None,
                status=status,
                messages=item.get("messages"),
            )
        )
    return failed


class AmsClient(ClosingClient):
    """Typed access to AMS RMAs, callbacks and the sandbox DataFactory.

    Parameters
    ----------
    base_url:
        Host part, e.g. ``https://sandbox.masonhub.co``; ``/{account}/api/v1`` is appended.
    account:
        The merchant's AMS URL slug.
    api_token:
        The bearer token; kept as ``SecretStr`` and never shown in reprs or errors.
    retry, timeout, http_client:
        Retry policy (injectable sleep for tests), timeouts, or a ready ``httpx.Client``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        account: str,
        api_token: SecretStr | str,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        token = secret_value(api_token)
        if not token.get_secret_value().strip():
            raise ValueError("AMS api_token is empty (set BRIDGE_AMS_API_TOKEN)")
        if not account.strip() or "/" in account:
            raise ValueError("AMS account slug is empty or contains '/' (BRIDGE_AMS_ACCOUNT)")
        self._token = token
        self.account = account
        self.base_url = f"{base_url.rstrip('/')}/{account}/api/v1"
        if isinstance(timeout, int | float):
            timeout = httpx.Timeout(float(timeout))
        self._session = HttpSession(
            base_url=self.base_url,
            auth_headers=self._auth_headers,
            family=AMS_ERRORS,
            retry=retry,
            timeout=timeout or default_timeout(),
            http_client=http_client,
            extra_headers={"Accept": "application/json"},
        )

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token.get_secret_value()}"}

    def __repr__(self) -> str:
        return f"AmsClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the connection pool (only if this client created it)."""
        self._session.close()

    # --- RMA writes ---------------------------------------------------------------------

    def _write(self, method: str, body: list[dict[str, Any]], *, idempotent: bool) -> BatchResult:
        check_batch(body)
        response = self._session.request(
            method, "rmas", json=body, idempotent=idempotent, retry_unsent=True
        )
        with parsing(AmsResponseError, response):
            return BatchResult.model_validate(response.json())

    def create_rmas(self, rmas: Sequence[RmaCreate]) -> BatchResult:
        """POST new RMAs in chunks of 30, each chunk sent once; per-record outcomes merged."""
        check_rmas(rmas)
        parts = [
            self._write("POST", [r.to_wire() for r in chunk], idempotent=False)
            for chunk in in_batches(rmas, MAX_RECORDS_PER_BATCH)
        ]
        result = BatchResult.merge(parts)
        logger.info(
            "AMS create: %d submitted, %d failed", result.records_submitted, len(result.failed)
        )
        return result

    def update_rmas(self, rmas: Sequence[RmaCreate]) -> BatchResult:
        """PUT full replacements (allowed while open/tendered/inTransit); safe to retry."""
        check_rmas(rmas)
        return BatchResult.merge(
            self._write("PUT", [r.to_wire() for r in chunk], idempotent=True)
            for chunk in in_batches(rmas, MAX_RECORDS_PER_BATCH)
        )

    def delete_rmas(self, customer_identifiers: Sequence[str]) -> BatchResult:
        """Soft-delete open RMAs by customer_identifier; safe to retry."""
        cids = _identifiers("customer_identifiers", customer_identifiers)
        return BatchResult.merge(
            self._write("DELETE", [{"customer_identifier": c} for c in chunk], idempotent=True)
            for chunk in in_batches(cids, MAX_RECORDS_PER_BATCH)
        )

    # --- RMA reads ----------------------------------------------------------------------

    def _get_rmas(self, params: dict[str, Any]) -> list[Rma]:
        response = self._session.request("GET", "rmas", params=params, idempotent=True)
        with parsing(AmsResponseError, response):
            return [Rma.from_api(item) for item in _list_of(response.json(), "data")]

    def get_rmas_by_id(self, ids: Sequence[str]) -> list[Rma]:
        """Detail of RMAs by AMS uuid, 30 ids per request; unknown ids are simply absent."""
        wanted = _identifiers("ids", ids)
        out: list[Rma] = []
        for chunk in in_batches(wanted, MAX_IDS_PER_QUERY):
            params = {"id": ",".join(chunk), "list_type": "detail", "limit": MAX_IDS_PER_QUERY}
            out.extend(self._get_rmas(params))
        return out

    def get_rma_by_cid(self, customer_identifier: str) -> Rma | None:
        """The RMA with this customer_identifier: the live one if any, else the latest deleted."""
        (cid,) = _identifiers("customer_identifier", [customer_identifier])
        found = self._get_rmas({"cid": cid, "list_type": "detail", "limit": MAX_PAGE_LIMIT})
        found = [r for r in found if r.customer_identifier == cid]
        if not found:
            return None
        live = [r for r in found if not r.is_deleted]
        pool = live or found
        return max(pool, key=lambda r: (r.created_at is not None, r.created_at or 0, r.id))

    def iter_rmas(
        self,
        *,
        status: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        list_type: Literal["detail", "summary"] = "detail",
        page_size: int = MAX_PAGE_LIMIT,
    ) -> Iterator[Rma]:
        """Every RMA matching the filters (``sdt``/``edt`` filter on *created* date), paged."""
        if not 1 <= page_size <= MAX_PAGE_LIMIT:
            raise AmsRequestRejectedError("page_size", f"{page_size} not in 1..{MAX_PAGE_LIMIT}")
        params: dict[str, Any] = {"list_type": list_type, "limit": page_size}
        if status is not None:
            params["status"] = status
        if created_from is not None:
            params["sdt"] = _rfc3339("created_from", created_from)
        if created_to is not None:
            params["edt"] = _rfc3339("created_to", created_to)
        offset = 0
        while True:
            page = self._get_rmas({**params, "offset": offset})
            yield from page
            if len(page) < page_size:
                return
            offset += len(page)

    # --- callbacks ----------------------------------------------------------------------

    def list_callbacks(self, message_type: str = "all") -> list[Callback]:
        """Registered callbacks, optionally of one message type."""
        response = self._session.request(
            "GET", "callbacks", params={"message_type": message_type}, idempotent=True
        )
        with parsing(AmsResponseError, response):
            items = _list_of(response.json(), "callbacks", "data", "results")
            return [Callback.model_validate(item) for item in items]

    def register_callbacks(self, callbacks: Sequence[CallbackCreate]) -> list[Callback]:
        """POST callbacks once, then re-read them with GET to learn their ids (§B.6).

        The POST reply is read in any of its shapes (a bare array, the ``results`` records
        envelope, ``{callbacks: [...]}``); a record it marks as failed raises
        :class:`AmsBatchError`. The GET stays the source of truth for ids.
        """
        check_batch(callbacks, field="callbacks")
        for i, callback in enumerate(callbacks):
            check_callback(callback, i)
        body = [c.to_wire() for c in callbacks]
        response = self._session.request("POST", "callbacks", json=body, idempotent=False)
        failed = _callback_failures(response, callbacks)
        if failed:
            raise AmsBatchError(failed)
        wanted = {(c.url, c.message_type) for c in callbacks}
        return [c for c in self.list_callbacks() if (c.url, c.message_type) in wanted]

    def delete_callbacks(self, ids: Sequence[str]) -> None:
        """Delete callbacks by id; safe to retry."""
        wanted = _identifiers("ids", ids)
        for chunk in in_batches(wanted, MAX_RECORDS_PER_BATCH):
            self._session.request("DELETE", "callbacks", json=list(chunk), idempotent=True)

    # --- sandbox DataFactory ------------------------------------------------------------

    def trigger_rma_event(
        self,
        customer_identifier: str,
        event: DataFactoryEvent = "receiveFull",
        randomize_inventory_statuses: bool = False,
    ) -> BatchResult:
        """Sandbox only: make the warehouse act on an RMA and send the rmaEvent callback."""
        (cid,) = _identifiers("customer_identifier", [customer_identifier])
        if event not in DATA_FACTORY_EVENTS:
            raise AmsRequestRejectedError("event", f"{event!r} not one of {DATA_FACTORY_EVENTS}")
        body = [
            {
                "customer_identifier": cid,
                "event": event,
                "randomize_inventory_statuses": randomize_inventory_statuses,
            }
        ]
        response = self._session.request(
            "POST", "data_factory/rmaEvent", json=body, idempotent=False
        )
        with parsing(AmsResponseError, response):
            reply = response.json()
            if isinstance(reply, dict) and "results" in reply:
                return BatchResult.model_validate(reply)
        # MD documents {success, data[]} instead of the records envelope (§B.8).
        ok = bool(reply.get("success")) if isinstance(reply, dict) else False
        record = BatchRecordResult(customer_identifier=cid, status="success" if ok else "failure")
        return BatchResult(
            records_submitted=1,
            records_processed=1,
            records_failed=0 if ok else 1,
            records_succeeded=1 if ok else 0,
            results=[record],
        )
