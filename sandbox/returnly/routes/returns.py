"""``GET /returns.json`` (filters, page links) and ``GET /returns/{id}.json``."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response

from sandbox.returnly.render import INCLUDABLE, included_for, return_document
from sandbox.returnly.routes.common import ApiError, json_response, require_token, store_of

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

router = APIRouter(dependencies=[Depends(require_token)], tags=["returns"])


def _timestamp(value: str | None, name: str) -> datetime | None:
    """Read ``%Y-%m-%dT%H:%M:%S.%fZ`` (or any ISO 8601); naive values are UTC."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{name} is not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _include(value: str | None) -> list[str]:
    """The ``include`` csv; unknown names are a 400, as JSON:API asks."""
    if not value:
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in INCLUDABLE]
    if unknown:
        raise ApiError(400, f"cannot include {', '.join(unknown)}")
    return list(dict.fromkeys(names))


@router.get("/returns.json")
def list_returns(
    request: Request,
    min_updated_at: str | None = None,
    max_updated_at: str | None = None,
    status: str | None = None,
    include: str | None = None,
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Response:
    """One page of returns ordered by ``updated_at`` then id; ``links.next`` is absolute."""
    if page < 1:
        raise ApiError(400, "page starts at 1")
    if page_size < 1:
        raise ApiError(400, "page_size must be positive")
    size = min(page_size, MAX_PAGE_SIZE)
    types = _include(include)
    statuses = frozenset(s.strip() for s in status.split(",") if s.strip()) if status else None
    store = store_of(request)
    ids = store.query(
        _timestamp(min_updated_at, "min_updated_at"),
        _timestamp(max_updated_at, "max_updated_at"),
        statuses or None,
    )
    start = (page - 1) * size
    with store.lock:
        records = store.records(ids[start : start + size])
        form = store.settings.empty_to_one
        data = [rec.as_resource(form) for rec in records]
        included = included_for(records, types) if types else None
        url = request.url
        document = {
            "data": data,
            "links": {
                "self": str(url),
                "next": str(url.include_query_params(page=page + 1))
                if start + size < len(ids)
                else None,
            },
            "meta": {"total": len(ids), "page": page, "page_size": size},
        }
        if included is not None:
            document["included"] = included
        return json_response(document)


@router.get("/returns/{return_id}.json")
def get_return(request: Request, return_id: str, include: str | None = None) -> Response:
    """One return with the requested includes."""
    types = _include(include)
    store = store_of(request)
    with store.lock:
        rec = store.get(return_id)
        if rec is None:
            raise ApiError(404, f"return {return_id} not found")
        return json_response(return_document(rec, types, store.settings.empty_to_one))
