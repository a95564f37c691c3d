"""Returnly API client: returns (JSON:API, ``links.next`` pagination), refunds, webhooks.

Only ``GET /returns.json`` with ``page``, ``include`` and ``min_updated_at`` is proven (contracts
§A.2). Everything else is an assumption from §A.8 and kept configurable: the single-return path,
the refund path and body, the ``status``/``max_updated_at`` filters (sent only when
``send_status_filter`` is on, always re-applied here), and the webhook subscription endpoints
(``POST``/``GET /webhooks.json``, ``DELETE /webhooks/{id}.json``: §A.6 says an API "create"
endpoint exists but its path was never found).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import SecretStr
from pydantic_core import from_json

from clients.http import ClosingClient, HttpSession, RetryPolicy, parsing, secret_value
from clients.returnly.errors import RETURNLY_ERRORS, ReturnlyError, ReturnlyResponseError
from clients.returnly.fields import DEFAULT_INCLUDE
from clients.returnly.jsonapi import (
    parse_refund_document,
    parse_return_document,
    parse_returns_document,
    parse_webhook_document,
)
from clients.returnly.models import (
    Refund,
    RefundCreate,
    Return,
    WebhookSubscription,
    WebhookSubscriptionCreate,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_API_VERSION = "2020-08"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
"""How ``min_updated_at`` is written on the wire (UTC, microseconds; §A.2)."""

RefundBodyTemplate = Callable[[RefundCreate], Mapping[str, Any]]
"""Turns a refund request into the POST body; swap it if the real shape differs (§A.8.4)."""


class ReturnlySettingsLike(Protocol):
    """The fields of ``core.settings.ReturnlySettings`` the client reads (no import needed)."""

    base_url: str
    api_token: SecretStr
    api_version: str
    refund_path: str
    send_status_filter: bool


def default_refund_body(refund: RefundCreate) -> dict[str, Any]:
    """The most likely body shape (§A.8.4): a JSON:API ``refunds`` resource."""
    return {"data": {"type": "refunds", "attributes": refund.attributes()}}


def format_timestamp(value: datetime) -> str:
    """Write an aware datetime as ``%Y-%m-%dT%H:%M:%S.%fZ`` in UTC; naive values are refused."""
    if value.tzinfo is None:
        raise ValueError("timestamps sent to Returnly must be timezone-aware")
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def _json(response: httpx.Response) -> Any:
    """Parse a body with pydantic-core's parser: faster than the stdlib one behind
    ``response.json()`` (~0.2 s saved per 10,000 returns with includes,
    bench/returnly_listing.py)."""
    with parsing(ReturnlyResponseError, response):
        return from_json(response.content)


def _read(response: httpx.Response, parse: Callable[[Any], T]) -> T:
    """The body parsed by ``parse``; an unreadable one raises :class:`ReturnlyResponseError`."""
    with parsing(ReturnlyResponseError, response):
        return parse(_json(response))


def _require(value: str, name: str) -> str:
    if not value or not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


class ReturnlyClient(ClosingClient):
    """Typed access to one merchant's Returnly account.

    Parameters
    ----------
    base_url, api_token, api_version
        Where and how to authenticate (``X-Api-Token``, ``X-Api-Version``).
    refund_path, refund_body_template
        The refund endpoint and body shape; both are assumptions (§A.8.4), hence injectable.
    send_status_filter
        Also send ``status`` and ``max_updated_at`` to the list endpoint (unverified upstream).
        Results are filtered here in every case.
    page_size
        Sent as ``page_size`` when set (the real API's page size is unknown; the sandbox
        honours it).
    retry, timeout, http_client
        Transport tuning; ``timeout`` applies only when the client creates its own httpx client.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_token: SecretStr | str,
        api_version: str = DEFAULT_API_VERSION,
        refund_path: str = "/refunds.json",
        refund_body_template: RefundBodyTemplate | None = None,
        send_status_filter: bool = False,
        page_size: int | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout | float | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        _require(base_url, "base_url")
        self._token = secret_value(api_token)
        if not self._token.get_secret_value():
            raise ValueError("api_token must not be empty (set BRIDGE_RETURNLY_API_TOKEN)")
        if page_size is not None and page_size < 1:
            raise ValueError("page_size must be positive")
        self.api_version = api_version
        self.refund_path = refund_path
        self.refund_body_template: RefundBodyTemplate = refund_body_template or default_refund_body
        self.send_status_filter = send_status_filter
        self.page_size = page_size
        if isinstance(timeout, int | float):
            timeout = httpx.Timeout(float(timeout))
        self._http = HttpSession(
            base_url=base_url,
            auth_headers=self._auth_headers,
            family=RETURNLY_ERRORS,
            retry=retry,
            timeout=timeout,
            http_client=http_client,
            extra_headers={
                "X-Api-Version": api_version,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        origin = urlsplit(self._http.base_url)
        self._origin = (origin.scheme, origin.netloc)

    @classmethod
    def from_settings(cls, settings: ReturnlySettingsLike, **overrides: Any) -> ReturnlyClient:
        """Build from ``core.settings.ReturnlySettings``; keyword overrides win."""
        kw: dict[str, Any] = {
            "base_url": settings.base_url,
            "api_token": settings.api_token,
            "api_version": settings.api_version,
            "refund_path": settings.refund_path,
            "send_status_filter": settings.send_status_filter,
        }
        kw.update(overrides)
        return cls(**kw)

    def _auth_headers(self) -> dict[str, str]:
        return {"X-Api-Token": self._token.get_secret_value()}

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._http.base_url

    def __repr__(self) -> str:
        return f"ReturnlyClient(base_url={self.base_url!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        """Release the connection pool (unless it was injected)."""
        self._http.close()

    # --- returns ---------------------------------------------------------------------------

    def iter_returns(
        self,
        *,
        updated_since: datetime | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        statuses: Collection[str] | None = None,
        updated_before: datetime | None = None,
    ) -> Iterator[Return]:
        """Yield returns updated at or after ``updated_since``, page by page via ``links.next``.

        ``statuses`` and ``updated_before`` (exclusive) are always applied here, and sent to the
        server only when ``send_status_filter`` is on.
        """
        for page in self.iter_return_pages(
            updated_since=updated_since,
            include=include,
            statuses=statuses,
            updated_before=updated_before,
        ):
            yield from page

    def iter_return_pages(
        self,
        *,
        updated_since: datetime | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        statuses: Collection[str] | None = None,
        updated_before: datetime | None = None,
    ) -> Iterator[list[Return]]:
        """:meth:`iter_returns` one page (one request) at a time, so a caller can stop early."""
        if isinstance(include, str):  # a bare string would be split into letters below
            include = (include,)
        if isinstance(statuses, str):
            statuses = (statuses,)
        params: dict[str, str | int] = {"page": 1}
        if include:
            params["include"] = ",".join(include)
        if updated_since is not None:
            params["min_updated_at"] = format_timestamp(updated_since)
        if updated_before is not None:
            before_wire = format_timestamp(updated_before)
            if self.send_status_filter:
                params["max_updated_at"] = before_wire
        wanted = frozenset(statuses) if statuses is not None else None
        if wanted is not None and self.send_status_filter:
            params["status"] = ",".join(sorted(wanted))
        if self.page_size is not None:
            params["page_size"] = self.page_size

        url: str | None = "/returns.json"
        seen: set[str] = set()
        query: dict[str, str | int] | None = params
        while url is not None:
            response = self._http.request("GET", url, idempotent=True, params=query)
            document = _json(response)
            with parsing(ReturnlyResponseError, response):
                returns = parse_returns_document(document, consume=True)
                url = self._next_url(document, seen)
            logger.debug("read a page of %d returns (more: %s)", len(returns), url is not None)
            query = None  # the next link carries every parameter; never rebuild it
            if wanted is None and updated_before is None:
                yield returns
            else:
                yield [
                    ret
                    for ret in returns
                    if (wanted is None or ret.status in wanted)
                    and (updated_before is None or ret.updated_at < updated_before)
                ]

    def list_returns(
        self,
        *,
        updated_since: datetime | None = None,
        include: Collection[str] = DEFAULT_INCLUDE,
        statuses: Collection[str] | None = None,
        updated_before: datetime | None = None,
    ) -> list[Return]:
        """All pages of :meth:`iter_returns` as one list."""
        return list(
            self.iter_returns(
                updated_since=updated_since,
                include=include,
                statuses=statuses,
                updated_before=updated_before,
            )
        )

    def _next_url(self, document: Mapping[str, Any], seen: set[str]) -> str | None:
        """``links.next`` checked: same origin (the token goes with it) and no loops."""
        links = document.get("links")
        nxt = links.get("next") if isinstance(links, Mapping) else None
        if not nxt:
            return None
        parts = urlsplit(nxt)
        if (parts.scheme, parts.netloc) != self._origin:
            raise ReturnlyError(f"links.next points to another origin: {parts.netloc!r}")
        if nxt in seen:
            raise ReturnlyError("links.next repeats a page already read")
        seen.add(nxt)
        return str(nxt)

    def get_return(self, return_id: str, *, include: Collection[str] = DEFAULT_INCLUDE) -> Return:
        """One return by id (``GET /returns/{id}.json``, an assumption: §A.8.1)."""
        _require(return_id, "return_id")
        if isinstance(include, str):
            include = (include,)
        params = {"include": ",".join(include)} if include else None
        response = self._http.request(
            "GET", f"/returns/{quote(return_id, safe='')}.json", idempotent=True, params=params
        )
        return _read(response, parse_return_document)

    # --- refunds ---------------------------------------------------------------------------

    def create_refund(self, refund: RefundCreate, *, idempotency_key: str) -> Refund:
        """Refund lines of a return (restock always false).

        Sent with an ``Idempotency-Key``, but never blindly repeated: Returnly's POST is not
        known to honour the key (§A.8.4), so only failures that prove the request was not
        acted on (no connection, 429) are retried here. Any other failure is ambiguous and
        raised; the caller reads the return back before posting again.
        """
        _require(idempotency_key, "idempotency_key")
        body = dict(self.refund_body_template(refund))
        response = self._http.request(
            "POST",
            self.refund_path,
            idempotent=False,
            retry_unsent=True,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return _read(response, parse_refund_document)

    # --- webhooks (paths assumed, see module docstring) -----------------------------------

    def create_webhook(
        self, url: str, event: str, secret: SecretStr | str | None = None
    ) -> WebhookSubscription:
        """Subscribe ``url`` to one event type; the secret is returned once (generated if None)."""
        req = WebhookSubscriptionCreate(
            url=url, event=event, secret=secret_value(secret) if secret is not None else None
        )
        attrs: dict[str, Any] = {"url": req.url, "event": req.event}
        if req.secret is not None:
            attrs["secret"] = req.secret.get_secret_value()
        # Not retried: there is no idempotency key, a replay would subscribe twice.
        response = self._http.request(
            "POST",
            "/webhooks.json",
            idempotent=False,
            json={"data": {"type": "webhooks", "attributes": attrs}},
        )
        return _read(response, lambda doc: parse_webhook_document(doc)[0])

    def list_webhooks(self) -> list[WebhookSubscription]:
        """Every subscription of the account (secrets are not returned)."""
        response = self._http.request("GET", "/webhooks.json", idempotent=True)
        return _read(response, parse_webhook_document)

    def delete_webhook(self, webhook_id: str) -> None:
        """Remove one subscription; deleting is idempotent, so transient failures are retried."""
        _require(webhook_id, "webhook_id")
        self._http.request(
            "DELETE", f"/webhooks/{quote(webhook_id, safe='')}.json", idempotent=True
        )
