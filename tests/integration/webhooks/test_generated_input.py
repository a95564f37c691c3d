"""Generated hostile input for both webhook endpoints (hypothesis; issue 10).

Every case is one request built by a strategy that knows what the receiver must do with it:
a valid delivery (stored exactly once, dispatched once, a replay is a duplicate), an event
to ignore, or one mutation of a valid delivery that must be refused with a known 4xx and
recorded as rejected (envelopes, field types, sizes, encodings, media types, signatures,
timestamps, tokens, JSON syntax, paths, methods). After every case: no 5xx, nothing bad
stored as valid, no secret in the answer or the rejection record, no merchant lookup of a
name that is not a slug. After every test: the receiver still answers and still accepts.

Most cases go over real HTTP to uvicorn with the receiver's own protocol and limits; a share
goes in-process (httpx's ASGI transport: the same app with nothing in front that tidies
headers or checks lengths). Each test has a fixed seed, so CI sees the same cases every
time; the total number of cases is asserted and printed.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import itertools
import json
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import InboxMessage, Ledger, open_ledger
from runtime import load_merchant
from sandbox.server import ThreadedServer
from tests.integration.webhooks.support import (
    CALLBACK_TOKEN,
    MERCHANT,
    SECRETS,
    WEBHOOK_SECRET,
    WRONG_SECRET,
    WRONG_TOKEN,
    dump_rows,
    return_delivery,
    wait_until,
)
from tests.support.dispatch import RecordingDispatcher
from webhooks import create_app
from webhooks.grammar import MERCHANT_NAME
from webhooks.protocol import uvicorn_options

pytestmark = pytest.mark.integration

NOW = 1_800_000_000
MAX_BODY = 65_536
HTTP_EXAMPLES = 420
"""Per endpoint, over real HTTP to uvicorn (the receiver's own protocol and limits)."""
IN_PROCESS_EXAMPLES = 200
"""Both endpoints together, in-process."""
MIN_TOTAL_CASES = 1_000

CASES: Counter[str] = Counter()
"""Generated cases run, per test; the last test adds them up."""
MUTATIONS: Counter[str] = Counter()
STORED: set[tuple[str, str]] = set()
"""Every (source, message id) stored so far: the file's tests share one ledger."""
_SERIAL = itertools.count()
"""Keeps generated ids apart; a repeated id is expected to be a duplicate, and is checked so."""

GENERATED = settings(
    derandomize=False,  # each test has its own fixed seed instead (see _run)
    database=None,
    deadline=None,
    print_blob=True,
    # No shrinking: a failing case is reported as generated (its mutation names the rule),
    # and the file stays within its time budget even when it fails.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- strategies: building blocks ------------------------------------------------------------

ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:"
ids = st.text(ID_CHARS, min_size=1, max_size=36)
safe_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**15), 10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
    | safe_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(safe_text, inner, max_size=3),
    max_leaves=4,
)
extras = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=6).map("x_".__add__), json_values, max_size=2
)
few_extras = st.just({}) | extras
"""Usually nothing: AMS cases carry many objects, and drawing extras for each is slow."""
RETURN_EVENTS = [
    "return.requested",
    "return.authorized",
    "return.in_transit",
    "return.delivered",
    "return.refunded",
]
AMS_EVENTS = ["tendered", "inTransit", "delivered", "undeliverable", "onDock", "receivingStarted"]
header_junk = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    min_size=1,
    max_size=40,
).map(lambda s: s.strip(" \t"))
bad_ids = st.one_of(
    st.just(""),
    st.just(" "),
    ids.map(lambda s: f"{s} x"),
    ids.map(lambda s: f"{s}\n"),
    ids.map(lambda s: f"{s}\t"),
    ids.map(lambda s: f"{s}\u00e9"),
    ids.map(lambda s: f"{s}\ud800"),
    ids.map(lambda s: f"{s}\x00"),
    st.just("x" * 256),
)
non_strings = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.lists(ids, max_size=2))
bad_merchants = st.one_of(
    st.sampled_from(["..", ".", "%2E%2E", "%2e", "Sandbox-Merchant", "a" * 64, "-x", "a_b"]),
    safe_text.filter(lambda s: s != "" and not MERCHANT_NAME.fullmatch(s)).map(
        lambda s: quote(s, safe="")
    ),
)
deep = st.integers(33, 3000).map(lambda n: "[" * n + "]" * n)
long_numbers = st.integers(41, 6000).map(lambda n: "9" * n)


@dataclass
class Case:
    """One request and what the receiver must do with it."""

    mutation: str
    method: str
    path: str
    headers: dict[str, Any]
    body: bytes
    statuses: tuple[int, ...] = (200,)
    message_ids: list[str] = field(default_factory=list)
    """For valid cases: the inbox ids it must create (exactly once each)."""
    ignored: int = 0
    replay: bool = False

    @property
    def valid(self) -> bool:
        return self.statuses == (200,)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """What hypothesis prints for a failing case: the short repr, not every field."""
        printer.text(repr(self))

    def __repr__(self) -> str:
        body = self.body if len(self.body) <= 300 else self.body[:300] + b"..."
        return (
            f"Case({self.mutation!r}, {self.method} {self.path!r}, headers={self.headers!r}, "
            f"body={body!r} ({len(self.body)} bytes), statuses={self.statuses})"
        )


def _sign(secret: str, ts: str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def _splice(body: bytes, fragment: str | bytes) -> bytes:
    """``fragment`` (``"key": value``) added as the first member of the first object."""
    at = body.index(b"{") + 1
    raw = fragment.encode() if isinstance(fragment, str) else fragment
    return body[:at] + raw + b", " + body[at:]


def _content_type(draw: st.DrawFn) -> dict[str, str]:
    choice = draw(st.sampled_from(["json", "json-charset", "json-upper", "none"]))
    return {
        "json": {"Content-Type": "application/json"},
        "json-charset": {"Content-Type": "application/json; charset=utf-8"},
        "json-upper": {"Content-Type": "Application/JSON; charset=UTF-8"},
        "none": {},
    }[choice]


_REFUSALS_EVERYWHERE = [
    "content-type",
    "content-encoding",
    "merchant-bad",
    "merchant-unknown",
    "too-large",
    "method",
    "path",
    "json-nan",
    "json-duplicate-key",
    "json-deep",
    "json-long-number",
    "json-truncated",
    "json-not-utf8",
    "json-bom",
    "json-escape-nul",
]


def _generic(draw: st.DrawFn, case: Case, mutation: str, endpoint: str) -> Case:
    """Mutations both endpoints refuse the same way; the body is already final JSON."""
    case.mutation = mutation
    body = case.body
    if mutation == "content-type":
        value = draw(st.sampled_from(["text/plain", "application/xml", "text/json", "*/*"]))
        case.headers["Content-Type"] = value
        case.statuses = (415,)
    elif mutation == "content-encoding":
        value = draw(st.sampled_from(["gzip", "br", "deflate", "compress", "x-junk"]))
        case.headers["Content-Encoding"] = value
        if value == "gzip":
            case.body = gzip.compress(body)
        case.statuses = (415,)
    elif mutation == "merchant-bad":
        case.path = f"/webhooks/{endpoint}/{draw(bad_merchants)}"
        case.statuses = (400, 404)
    elif mutation == "merchant-unknown":
        case.path = f"/webhooks/{endpoint}/{draw(st.sampled_from(['acme', 'no-such-shop', '0']))}"
        case.statuses = (404,)
    elif mutation == "too-large":
        pad = "x" * (MAX_BODY + draw(st.integers(1, 4096)))
        case.body = _splice(body, f'"x_pad": "{pad}"')
        case.statuses = (413,)
    elif mutation == "method":
        case.method = draw(st.sampled_from(["GET", "PUT", "DELETE", "PATCH"]))
        case.statuses = (405,)
    elif mutation == "path":
        case.path = draw(
            st.sampled_from(
                [
                    f"/webhooks/{endpoint}",
                    f"/webhooks/{endpoint}/",
                    f"/webhooks/{endpoint}/{MERCHANT}/",
                    "/webhooks",
                    "/openapi.json",
                ]
            )
            | ids.map(lambda s: f"/webhooks/{endpoint}/{MERCHANT}/{s}")
        )
        case.statuses = (404, 405)
    elif mutation == "json-nan":
        constant = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        case.body = _splice(body, f'"x_n": {constant}')
        case.statuses = (400,)
    elif mutation == "json-duplicate-key":
        key = draw(st.sampled_from(_top_keys(endpoint)))
        value = draw(st.sampled_from(["1", "null", '"dup"']))
        case.body = _splice(body, f'"{key}": {value}')
        case.statuses = (400,)
    elif mutation == "json-deep":
        case.body = _splice(body, f'"x_deep": {draw(deep)}')
        case.statuses = (400,)
    elif mutation == "json-long-number":
        sign = draw(st.sampled_from(["", "-"]))
        frac = draw(st.sampled_from(["", ".5", "e5"]))
        case.body = _splice(body, f'"x_num": {sign}{draw(long_numbers)}{frac}')
        case.statuses = (400,)
    elif mutation == "json-truncated":
        case.body = body[: draw(st.integers(0, len(body) - 1))]
        case.statuses = (400,)
    elif mutation == "json-not-utf8":
        junk = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80"]))
        case.body = _splice(body, b'"x_b": "' + junk + b'"')
        case.statuses = (400,)
    elif mutation == "json-bom":
        case.body = b"\xef\xbb\xbf" + body
        case.statuses = (400,)
    elif mutation == "json-escape-nul":
        escape = draw(st.sampled_from(["\\u0000", "\\ud800", "\\udfff", "x\\udc00y"]))
        case.body = _splice(body, f'"x_text": "{escape}"')
        case.statuses = (400,)
    return case


def _unstorable(value: Any) -> bool:
    """Whether ``value`` holds text the receiver's strict parser refuses (NUL, surrogates)."""
    if isinstance(value, str):
        return any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _top_keys(endpoint: str) -> list[str]:
    return ["id", "event", "data"] if endpoint == "returnly" else ["message_id", "data"]


# --- Returnly ---------------------------------------------------------------------------------

_RETURNLY_MUTATIONS = [
    "valid",
    "valid",
    "valid",
    "ignored",
    "wrong-secret",
    "stale",
    "bad-timestamp",
    "bad-signature",
    "tampered",
    "header-disagrees",
    "field-missing",
    "field-type",
    "bad-event",
    "bad-delivery-id",
    "bad-return-id",
    "not-object",
    "wrong-shape-data",
    *_REFUSALS_EVERYWHERE,
]


@st.composite
def returnly_cases(draw: st.DrawFn) -> Case:
    """A Returnly delivery: valid, ignorable, or carrying one mutation."""
    mutation = draw(st.sampled_from(_RETURNLY_MUTATIONS))
    delivery_id = f"{draw(ids)}-{next(_SERIAL)}"
    return_id = draw(st.integers(1, 10**12).map(str) | ids)
    event = draw(st.sampled_from(RETURN_EVENTS))
    doc: dict[str, Any] = return_delivery(return_id, event, delivery_id)
    doc["data"]["data"]["attributes"]["rma"] = draw(safe_text)
    doc.update(draw(extras))
    secret, ts = WEBHOOK_SECRET, str(NOW - draw(st.integers(0, 299)))
    headers: dict[str, Any] = _content_type(draw)
    if draw(st.booleans()):
        headers["X-Returnly-Event"] = event
    if draw(st.booleans()):
        headers["X-Returnly-Delivery"] = delivery_id
    case = Case(mutation, "POST", f"/webhooks/returnly/{MERCHANT}", headers, b"")
    tamper: bytes | None = None
    sig_header: str | bytes | None = None

    if mutation == "valid":
        case.message_ids = [delivery_id]
        case.replay = draw(st.booleans())
    elif mutation == "ignored":
        doc["event"] = draw(st.sampled_from(["credit.issued", "voucher.created", "ping.sent"]))
        doc["data"] = draw(st.sampled_from([{}, {"data": None}, {"data": {"type": "credits"}}]))
        headers.pop("X-Returnly-Event", None)
        case.statuses, case.ignored = (200,), 1
    elif mutation == "wrong-secret":
        secret, case.statuses = draw(st.sampled_from([WRONG_SECRET, "", "x"])), (401,)
    elif mutation == "stale":
        skew = draw(st.integers(301, 10**9))
        ts, case.statuses = str(max(0, NOW + draw(st.sampled_from([-1, 1])) * skew)), (401,)
    elif mutation == "bad-timestamp":
        ts = draw(
            header_junk.filter(lambda s: not s.isascii() or not s.isdigit() or len(s) > 12)
            | st.integers(13, 5000).map(lambda k: "1" * k)
            | st.sampled_from(["\u00b2", "+1800000000", "1_800_000_000", "1.8e9", "0x6b49d200"])
        )
        case.statuses = (401,)
    elif mutation == "bad-signature":
        sig_header = draw(
            header_junk
            | st.just("sha256=" + "0" * 64)
            | st.integers(9, 40).map(lambda k: ",".join(["sha256=" + "a" * 64] * k))
            | st.just("a" * 2000)
        )
        case.statuses = (401,)
    elif mutation == "tampered":
        tamper = draw(st.sampled_from([b" ", b"\n", b"x"]))
        case.statuses = (401,)
    elif mutation == "header-disagrees":
        if draw(st.booleans()):
            headers["X-Returnly-Event"] = draw(
                st.sampled_from([e for e in RETURN_EVENTS if e != event] + ["return.cancelled"])
            )
        else:
            headers["X-Returnly-Delivery"] = delivery_id + draw(st.sampled_from(["x", "-2"]))
        case.statuses = (400,)
    elif mutation == "field-missing":
        del doc[draw(st.sampled_from(["id", "event", "data"]))]
        headers.pop("X-Returnly-Event", None)
        headers.pop("X-Returnly-Delivery", None)
        case.statuses = (400,)
    elif mutation == "field-type":
        key = draw(st.sampled_from(["id", "event", "data"]))
        doc[key] = draw(non_strings | st.just(""))
        headers.pop("X-Returnly-Event", None)
        headers.pop("X-Returnly-Delivery", None)
        case.statuses = (400,)
    elif mutation == "bad-event":
        doc["event"] = draw(
            st.sampled_from([f"{event}\n", event.upper(), f" {event}", "return.", ".x", "return"])
            | header_junk.filter(lambda s: "." not in s)
        )
        headers.pop("X-Returnly-Event", None)
        case.statuses = (400,)
    elif mutation == "bad-delivery-id":
        doc["id"] = draw(bad_ids)
        headers.pop("X-Returnly-Delivery", None)
        case.statuses = (400,)
    elif mutation == "bad-return-id":
        doc["data"]["data"]["id"] = draw(bad_ids | st.none() | st.lists(ids, max_size=2))
        case.statuses = (400,)
    elif mutation == "not-object":
        case.body = json.dumps(draw(st.lists(json_values, max_size=3) | safe_text)).encode()
        case.statuses = (400,)
    elif mutation == "wrong-shape-data":
        doc["data"] = draw(
            json_values
            | st.fixed_dictionaries({"data": json_values})
            | st.fixed_dictionaries(
                {"data": st.fixed_dictionaries({"type": st.just("returns"), "id": ids})},
                optional={"included": json_values},
            )
        )
        case.statuses = (400,)
    if not case.body:
        case.body = json.dumps(doc).encode()
    if mutation in _REFUSALS_EVERYWHERE:
        case = _generic(draw, case, mutation, "returnly")
    signed = _sign(secret, ts, case.body)
    prefix = draw(st.sampled_from(["sha256=", ""]))
    candidates = [f"{prefix}{signed}"]
    if draw(st.integers(0, 3)) == 0:  # rotation: another secret's signature alongside
        candidates.insert(draw(st.integers(0, 1)), "sha256=" + _sign("old-secret", ts, case.body))
    headers["X-Returnly-Timestamp"] = ts
    headers["X-Returnly-Signature"] = sig_header if sig_header is not None else ",".join(candidates)
    if tamper is not None:
        case.body = case.body + tamper
    return case


# --- AMS -----------------------------------------------------------------------------------

_AMS_MUTATIONS = [
    "valid",
    "valid",
    "valid",
    "wrong-token",
    "missing-token",
    "body-tokens-disagree",
    "too-many-envelopes",
    "message-type",
    "bad-message-id",
    "bad-customer-identifier",
    "bad-event",
    "data-not-a-list",
    "not-envelopes",
    *_REFUSALS_EVERYWHERE,
]


@st.composite
def ams_items(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": draw(ids),
        "event_type": draw(st.sampled_from(AMS_EVENTS)),
        "as_of": draw(st.sampled_from(["", "2026-11-26T10:00:00Z", "2026-11-26T10:00:00+02:00"])),
    }
    if draw(st.integers(0, 5)):  # most items name the return; the rest are ignored
        item["customer_identifier"] = f"RLY-{draw(st.integers(1, 10**9))}"
    item.update(draw(few_extras))
    return item


@st.composite
def ams_cases(draw: st.DrawFn) -> Case:
    """An AMS rmaEvent callback: valid or carrying one mutation."""
    mutation = draw(st.sampled_from(_AMS_MUTATIONS))
    n = next(_SERIAL)
    count = draw(st.integers(1, 3))
    envelopes = [
        {
            "message_type": "rmaEvent",
            "message_id": f"{draw(ids)}-{n}-{k}",
            "api_version": "2.0",
            "data": draw(st.lists(ams_items(), min_size=1, max_size=2)),
            **draw(few_extras),
        }
        for k in range(count)
    ]
    as_array = count > 1 or draw(st.booleans())
    form = draw(st.sampled_from(["bearer", "raw_header", "body"]))
    token = CALLBACK_TOKEN
    headers: dict[str, Any] = _content_type(draw)
    case = Case(mutation, "POST", f"/webhooks/ams/{MERCHANT}", headers, b"")
    target = draw(st.integers(0, count - 1))
    env = envelopes[target]
    item = env["data"][draw(st.integers(0, len(env["data"]) - 1))]

    if mutation == "valid":
        case.replay = draw(st.booleans())
    elif mutation == "wrong-token":
        token, case.statuses = (
            draw(st.sampled_from([WRONG_TOKEN, "x", CALLBACK_TOKEN[:-1]])),
            (401,),
        )
    elif mutation == "missing-token":
        form, case.statuses = "none", (401,)
    elif mutation == "body-tokens-disagree":
        form, as_array, case.statuses = "body", True, (401,)
        envelopes.append({**envelopes[0], "message_id": f"m-{n}-x", "token": WRONG_TOKEN})
    elif mutation == "too-many-envelopes":
        extra = draw(st.integers(31 - count, 40 - count))
        small = {"message_type": "rmaEvent", "api_version": "2.0", "data": [{"id": "u"}]}
        envelopes += [{**small, "message_id": f"m-{n}-{k}"} for k in range(extra)]
        as_array, case.statuses = True, (400,)
    elif mutation == "message-type":
        env["message_type"] = draw(st.sampled_from(["orderEvent", "RMAEVENT", ""]) | non_strings)
        if env["message_type"] is None:
            env["message_type"] = 0
        case.statuses = (400,)
    elif mutation == "bad-message-id":
        choice = draw(st.sampled_from(["bad", "type", "missing"]))
        if choice == "missing":
            del env["message_id"]
        else:
            env["message_id"] = draw(bad_ids if choice == "bad" else non_strings)
        case.statuses = (400,)
    elif mutation == "bad-customer-identifier":
        item["customer_identifier"] = draw(
            bad_ids.filter(lambda s: s != "") | st.integers(1, 9) | st.lists(ids, max_size=1)
        )
        case.statuses = (400,)
    elif mutation == "bad-event":
        item["customer_identifier"] = "RLY-1"
        item["event_type"] = draw(
            st.sampled_from(["tendered\n", " tendered", "9lives", "in transit", "a" * 65])
            | header_junk.filter(lambda s: s != "" and (not s[:1].isalpha() or " " in s))
        )
        case.statuses = (400,)
    elif mutation == "data-not-a-list":
        env["data"] = draw(st.sampled_from([{}, "x", 1, True]) | st.dictionaries(ids, ids))
        case.statuses = (400,)
    elif mutation == "not-envelopes":
        case.body = json.dumps(
            draw(st.sampled_from([[], [1], ["x"], [None], "x", 5, None]) | st.lists(safe_text))
        ).encode()
        case.statuses = (400,)
    if form == "body":
        for envelope in envelopes:
            envelope.setdefault("token", token)
    elif form == "bearer":
        headers["Authorization"] = f"Bearer {token}"
    elif form == "raw_header":
        headers["Authorization"] = token
    if not case.body:
        case.body = json.dumps(envelopes if as_array else envelopes[0]).encode()
    if mutation in _REFUSALS_EVERYWHERE:
        case = _generic(draw, case, mutation, "ams")
        if form == "body" and mutation.startswith("json-"):
            case.statuses = (401,)  # the token is in a body that cannot be read
    if form == "body" and mutation == "not-envelopes":
        case.statuses = (401,)  # no envelope, so no token
    if form == "body" and not case.valid and _unstorable(envelopes):
        case.statuses = (401,)  # the token is in a body the strict parser refuses
    if case.valid:
        for envelope in envelopes:
            for i, it in enumerate(envelope["data"]):
                if it.get("customer_identifier"):
                    case.message_ids.append(f"{envelope['message_id']}:{i}")
                else:
                    case.ignored += 1
    return case


# --- running the cases --------------------------------------------------------------------------


@dataclass
class Target:
    """Where cases are sent, and the state they are checked against."""

    send: Callable[[Case], httpx.Response]
    ledger: Ledger
    dispatcher: RecordingDispatcher
    looked_up: list[str]
    valid_ids: Counter[str] = field(default_factory=Counter)

    def counts(self) -> tuple[int, int]:
        """(rows stored as messages, rows stored as rejected)."""
        with Session(self.ledger.engine) as session:
            rows = session.execute(
                select(InboxMessage.status == "rejected", func.count()).group_by(
                    InboxMessage.status == "rejected"
                )
            ).all()
        by = {bool(rejected): int(n) for rejected, n in rows}
        return by.get(False, 0), by.get(True, 0)

    def stored(self, source: str, message_id: str) -> int:
        with Session(self.ledger.engine) as session:
            return int(
                session.scalar(
                    select(func.count()).where(
                        InboxMessage.source == source, InboxMessage.message_id == message_id
                    )
                )
                or 0
            )

    def last_rejected(self) -> InboxMessage | None:
        with Session(self.ledger.engine) as session:
            return session.scalars(
                select(InboxMessage)
                .where(InboxMessage.status == "rejected")
                .order_by(InboxMessage.id.desc())
                .limit(1)
            ).first()


def _loader(looked_up: list[str]) -> Callable[[str], Any]:
    def load(name: str) -> Any:
        looked_up.append(name)
        return load_merchant(name)

    return load


def _latin1(headers: dict[str, Any]) -> dict[str, bytes]:
    """Header values as bytes, so junk in the Latin-1 range goes on the wire as it is."""
    return {k: v if isinstance(v, bytes) else str(v).encode("latin-1") for k, v in headers.items()}


def _no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


CHECK_S: Counter[str] = Counter()


def check_case(target: Target, case: Case, source: str) -> None:
    """Send one case and check every invariant that applies to it."""
    started = time.monotonic()
    try:
        _check_case(target, case, source)
    finally:
        CHECK_S[source] += time.monotonic() - started  # type: ignore[assignment]


def _check_case(target: Target, case: Case, source: str) -> None:
    MUTATIONS[f"{source}:{case.mutation}"] += 1
    stored_before, rejected_before = target.counts()
    reply = target.send(case)
    assert reply.status_code < 500, (case.mutation, reply.status_code, reply.text)
    assert reply.status_code in case.statuses, (case.mutation, reply.status_code, reply.text)
    _no_secrets(reply.text)
    for name in target.looked_up:
        assert MERCHANT_NAME.fullmatch(name), f"looked up a non-slug: {name!r}"
    stored_after, rejected_after = target.counts()
    if not case.valid:
        assert stored_after == stored_before, f"{case.mutation}: bad input stored as valid"
        assert rejected_after == rejected_before + 1, f"{case.mutation}: refusal not recorded"
        assert set(reply.json()) == {"error"}
        row = target.last_rejected()
        assert row is not None and row.error
        _no_secrets(dump_rows([row]))
        return
    answer = reply.json()
    new = [m for m in case.message_ids if (source, m) not in STORED]
    assert answer["accepted"] == len(new), (case.mutation, answer)
    assert answer["duplicates"] == len(case.message_ids) - len(new), (case.mutation, answer)
    assert answer.get("ignored", 0) == case.ignored
    assert stored_after == stored_before + len(new)
    assert rejected_after == rejected_before
    for message_id in case.message_ids:
        assert target.stored(source, message_id) == 1
    for message_id in new:
        STORED.add((source, message_id))
        target.valid_ids[message_id] += 1
    if case.replay:
        again = target.send(case)
        assert again.status_code == 200, again.text
        assert again.json()["accepted"] == 0
        assert again.json()["duplicates"] == len(case.message_ids)
        assert target.counts() == (stored_after, rejected_after)


def check_alive_and_dispatched_once(target: Target, base_url: str, client: Any) -> None:
    """The receiver still answers, and every valid message was dispatched exactly once."""
    assert client.get(f"{base_url}/healthz").json() == {"status": "ok"}
    expected = sum(target.valid_ids.values())
    wait_until(lambda: len(target.dispatcher.calls) >= expected, timeout_s=15)
    dispatched = Counter(call.message_id for call in target.dispatcher.calls)
    assert dispatched == target.valid_ids


@pytest.fixture(scope="module")
def module_ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    path: Path = tmp_path_factory.mktemp("generated") / "ledger.db"
    with open_ledger(f"sqlite:///{path}") as led:
        yield led


def _app(ledger: Ledger, dispatcher: RecordingDispatcher, looked_up: list[str]) -> Any:
    return create_app(
        ledger_factory=lambda: ledger,
        merchant_loader=_loader(looked_up),
        dispatcher=dispatcher,
        max_body_bytes=MAX_BODY,
        clock=lambda: float(NOW),
        body_timeout_s=5.0,
    )


class InProcessClient:
    """A blocking client for an ASGI app: an event loop in a thread, httpx's ASGI transport.

    The transport returns once the app is done, background tasks (the dispatch) included.
    """

    def __init__(self, app: Any, base_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=20
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        call = self._client.request(method, url, **kwargs)
        return asyncio.run_coroutine_threadsafe(call, self._loop).result(timeout=30)

    def get(self, url: str) -> httpx.Response:
        return self.request("GET", url)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._client.aclose(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture(scope="module")
def in_process(module_ledger: Ledger) -> Iterator[tuple[Target, InProcessClient]]:
    dispatcher, looked_up = RecordingDispatcher(), []
    client = InProcessClient(_app(module_ledger, dispatcher, looked_up), "http://rx")

    def send(case: Case) -> httpx.Response:
        return client.request(
            case.method, case.path, content=case.body, headers=_latin1(case.headers)
        )

    try:
        yield Target(send, module_ledger, dispatcher, looked_up), client
    finally:
        client.close()


@pytest.fixture(scope="module")
def over_http(module_ledger: Ledger) -> Iterator[tuple[Target, str, httpx.Client]]:
    dispatcher, looked_up = RecordingDispatcher(), []
    server = ThreadedServer(
        _app(module_ledger, dispatcher, looked_up), **uvicorn_options(5.0)
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=20) as client:

            def send(case: Case) -> httpx.Response:
                return client.request(
                    case.method, case.path, content=case.body, headers=_latin1(case.headers)
                )

            yield Target(send, module_ledger, dispatcher, looked_up), server.url, client
    finally:
        server.stop()


def _report(name: str, started: float) -> None:
    print(
        f"\n{name}: {CASES[name]} generated cases in {time.monotonic() - started:.1f} s"
        f" (checking: {dict(CHECK_S)})"
    )


def _run(name: str, strategy: st.SearchStrategy[tuple[str, Case]], target: Target, n: int) -> None:
    @seed(zlib.crc32(name.encode()))
    @settings(GENERATED, max_examples=n)
    @given(strategy)
    def run(source_case: tuple[str, Case]) -> None:
        CASES[name] += 1
        check_case(target, source_case[1], source_case[0])

    run()


RETURNLY = returnly_cases().map(lambda case: ("returnly", case))
AMS = ams_cases().map(lambda case: ("ams", case))


def test_generated_returnly_deliveries_over_http(
    over_http: tuple[Target, str, httpx.Client],
) -> None:
    target, url, client = over_http
    started = time.monotonic()

    _run("returnly-http", RETURNLY, target, HTTP_EXAMPLES)

    check_alive_and_dispatched_once(target, url, client)
    _report("returnly-http", started)
    assert CASES["returnly-http"] >= HTTP_EXAMPLES


def test_generated_ams_callbacks_over_http(over_http: tuple[Target, str, httpx.Client]) -> None:
    target, url, client = over_http
    started = time.monotonic()

    _run("ams-http", AMS, target, HTTP_EXAMPLES)

    check_alive_and_dispatched_once(target, url, client)
    _report("ams-http", started)
    assert CASES["ams-http"] >= HTTP_EXAMPLES


def test_generated_deliveries_in_process(in_process: tuple[Target, InProcessClient]) -> None:
    """The same cases without uvicorn in front: nothing tidies headers or lengths first."""
    target, client = in_process
    started = time.monotonic()

    _run("in-process", st.one_of(RETURNLY, AMS), target, IN_PROCESS_EXAMPLES)

    check_alive_and_dispatched_once(target, "http://rx", client)
    _report("in-process", started)
    assert CASES["in-process"] >= IN_PROCESS_EXAMPLES


def test_generated_cases_add_up() -> None:
    """Run last: the generated cases of this file, counted (at least MIN_TOTAL_CASES)."""
    expected = {"returnly-http", "ams-http", "in-process"}
    if not expected <= set(CASES):
        pytest.skip("only part of the generated tests ran")
    total = sum(CASES[name] for name in expected)
    print(
        f"\ngenerated cases: {total} ({dict(CASES)}); mutations: {dict(sorted(MUTATIONS.items()))}"
    )
    assert total >= MIN_TOTAL_CASES
