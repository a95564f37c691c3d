"""Generated malformed 2xx bodies for every parsing client call: a typed client error, never
an unhandled exception.

Seed bodies are the real sandboxes' answers (recorded once through their ASGI apps); each
case then serves one generated body with a 200 through an ``httpx.MockTransport``: HTML,
empty, truncated JSON, arbitrary JSON, the seed with a leaf swapped for a wrong type, a key
removed, a huge number, or deep nesting. A call may still succeed when the mutation left
the document valid; anything else must be a ``BridgeClientError``.

Cases per run: ``MAX_EXAMPLES`` x the operations below (11 x 120 = 1,320), derandomized.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.ams import AmsClient, CallbackCreate
from clients.errors import BridgeClientError
from clients.http import RetryPolicy
from clients.returnly import RefundCreate, RefundLineItemCreate, ReturnlyClient
from core.settings import SANDBOX_ACCOUNT, SANDBOX_AMS_TOKEN, SANDBOX_RETURNLY_TOKEN
from sandbox.ams.app import create_app as create_ams
from sandbox.returnly.app import create_app as create_returnly
from sandbox.server import serve_in_thread
from tests.integration.ams.factories import rma

MAX_EXAMPLES = 120
NO_RETRY = RetryPolicy(max_retries=0, sleep=lambda _s: None)
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Call = Callable[[httpx.Client], object]


def _returnly(http: httpx.Client, base: str = "http://returnly.test") -> ReturnlyClient:
    return ReturnlyClient(
        base_url=base, api_token=SANDBOX_RETURNLY_TOKEN, retry=NO_RETRY, http_client=http
    )


def _ams(http: httpx.Client, base: str = "http://ams.test") -> AmsClient:
    return AmsClient(
        base_url=base,
        account=SANDBOX_ACCOUNT,
        api_token=SANDBOX_AMS_TOKEN,
        retry=NO_RETRY,
        http_client=http,
    )


def _refund(rma_number: str, line_id: str) -> RefundCreate:
    return RefundCreate(
        rma=rma_number, line_items=[RefundLineItemCreate(return_line_item_id=line_id, units=1)]
    )


REFUND = _refund("RMA-1", "1")
CALLBACK = CallbackCreate(
    url="https://rx.example.com/webhooks/ams/m", message_type="rmaEvent", token="cb-token-abc"
)

OPERATIONS: dict[str, tuple[str, Call]] = {
    "returnly.get_return": ("returnly", lambda h: _returnly(h).get_return("1")),
    "returnly.list_returns": (
        "returnly",
        lambda h: _returnly(h).list_returns(updated_since=datetime(2020, 1, 1, tzinfo=UTC)),
    ),
    "returnly.create_refund": (
        "returnly",
        lambda h: _returnly(h).create_refund(REFUND, idempotency_key="k-1"),
    ),
    "returnly.list_webhooks": ("returnly", lambda h: _returnly(h).list_webhooks()),
    "returnly.create_webhook": (
        "returnly",
        lambda h: _returnly(h).create_webhook("https://rx.example.com/w", "return.authorized"),
    ),
    "ams.get_rmas_by_id": ("ams", lambda h: _ams(h).get_rmas_by_id(["u-1"])),
    "ams.get_rma_by_cid": ("ams", lambda h: _ams(h).get_rma_by_cid("RLY-1")),
    "ams.list_callbacks": ("ams", lambda h: _ams(h).list_callbacks()),
    "ams.create_rmas": ("ams", lambda h: _ams(h).create_rmas([rma("RLY-1")])),
    "ams.register_callbacks": ("ams", lambda h: _ams(h).register_callbacks([CALLBACK])),
    "ams.trigger_rma_event": ("ams", lambda h: _ams(h).trigger_rma_event("RLY-1")),
}


def _recorded(base: str, calls: list[Callable[[httpx.Client, str], object]]) -> list[bytes]:
    """Run ``calls`` against a running sandbox; the body of the last 2xx answer of each."""
    bodies: list[bytes] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        if response.is_success and response.content:
            bodies.append(response.content)

    out: list[bytes] = []
    with httpx.Client(timeout=30, event_hooks={"response": [keep]}) as http:
        for call in calls:
            bodies.clear()
            call(http, base)
            out.append(bodies[-1] if bodies else b"{}")
    return out


@pytest.fixture(scope="module")
def seeds() -> Iterator[dict[str, bytes]]:
    """A real answer of each operation, from the sandboxes on loopback ports."""
    with serve_in_thread(create_returnly()) as rs, serve_in_thread(create_ams()) as ams:
        planted = httpx.post(f"{rs.url}/_admin/returns", json={"status": "authorized"}).json()
        rid = str(planted["id"])
        refund = _refund(str(planted["rma"]), str(planted["line_item_ids"][0]))
        r = _recorded(
            rs.url,
            [
                lambda h, b: _returnly(h, b).get_return(rid),
                lambda h, b: _returnly(h, b).list_returns(),
                lambda h, b: _returnly(h, b).create_refund(refund, idempotency_key="k"),
                lambda h, b: _returnly(h, b).list_webhooks(),
                lambda h, b: _returnly(h, b).create_webhook(
                    "https://rx.example.com/w", "return.authorized"
                ),
            ],
        )
        a = _recorded(
            ams.url,
            [
                lambda h, b: _ams(h, b).register_callbacks([CALLBACK]),
                lambda h, b: _ams(h, b).create_rmas([rma("RLY-1")]),
                lambda h, b: _ams(h, b).get_rma_by_cid("RLY-1"),
                lambda h, b: _ams(h, b).list_callbacks(),
                lambda h, b: _ams(h, b).trigger_rma_event("RLY-1"),
            ],
        )
    yield {
        "returnly.get_return": r[0],
        "returnly.list_returns": r[1],
        "returnly.create_refund": r[2],
        "returnly.list_webhooks": r[3],
        "returnly.create_webhook": r[4],
        "ams.register_callbacks": a[0],
        "ams.create_rmas": a[1],
        "ams.get_rmas_by_id": a[2],
        "ams.get_rma_by_cid": a[2],
        "ams.list_callbacks": a[3],
        "ams.trigger_rma_event": a[4],
    }


# --- strategies -----------------------------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=20,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``doc`` (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        copy = dict(doc)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _set(doc[head], rest, value, delete=delete)
        return copy
    copy_list = list(doc)
    if delete and not rest:
        copy_list.pop(head)
    else:
        copy_list[head] = _set(doc[head], rest, value, delete=delete)
    return copy_list


@st.composite
def malformed(draw: st.DrawFn, seed: bytes) -> bytes:
    """One bad 2xx body derived from ``seed`` (or from nothing)."""
    doc = json.loads(seed)
    kind = draw(
        st.sampled_from(
            ["html", "empty", "truncated", "any_json", "wrong_type", "missing", "huge", "deep"]
        )
    )
    if kind == "html":
        return b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
    if kind == "empty":
        return draw(st.sampled_from([b"", b" ", b"null", b"\xff\xfe", b"{}", b"[]"]))
    if kind == "truncated":
        return seed[: draw(st.integers(0, max(len(seed) - 1, 0)))]
    if kind == "any_json":
        return json.dumps(draw(ANY_JSON)).encode()
    path = draw(st.sampled_from(_paths(doc)))
    if kind == "wrong_type":
        return json.dumps(_set(doc, path, draw(ANY_JSON))).encode()
    if kind == "missing":
        return json.dumps(_set(doc, path, None, delete=bool(path))).encode()
    if kind == "huge":
        text = json.dumps(_set(doc, path, "__HUGE__"))
        big = draw(st.sampled_from(["1e400", "-1e400", "9" * 5000, "1" + "0" * 400]))
        return text.replace('"__HUGE__"', big).encode()
    depth = draw(st.integers(500, 5000))
    return (
        json.dumps(_set(doc, path, "__DEEP__"))
        .replace('"__DEEP__"', "[" * depth + "]" * depth)
        .encode()
    )


def _serve(body: bytes) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_malformed_2xx_body_gives_a_typed_client_error(
    operation: str, seeds: dict[str, bytes]
) -> None:
    _, call = OPERATIONS[operation]

    @FUZZ
    @given(body=malformed(seeds[operation]))
    def check(body: bytes) -> None:
        # Any exception other than a client error fails the case.
        with _serve(body) as http, contextlib.suppress(BridgeClientError):
            call(http)

    check()
