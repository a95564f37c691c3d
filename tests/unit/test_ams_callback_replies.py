"""AmsClient.register_callbacks reads every shape AMS answers POST /callbacks with.

The sandbox answers the records envelope (tests/integration/ams/test_callbacks.py covers it
over real HTTP); the spec example is a bare array and MD shows ``{callbacks: [...]}``. A
MockTransport plays those, since the sandbox answers only one of them.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from clients.ams import AmsBatchError, AmsClient, CallbackCreate

URL = "https://hooks.example.com/rma"
LISTED = [{"id": "cb-1", "url": URL, "message_type": "rmaEvent", "api_version": "2.0"}]
SUCCESS = {
    "id": "cb-1",
    "url": URL,
    "message_type": "rmaEvent",
    "api_version": "2.0",
    "status": "success",
    "messages": ["Callback url created."],
}
FAILURE = {"id": "cb-1", "status": "Failure", "messages": ["Callback url update failed."]}


def _envelope(*results: dict[str, Any]) -> dict[str, Any]:
    ok = sum(r["status"].lower() == "success" for r in results)
    return {
        "records_submitted": len(results),
        "records_processed": len(results),
        "records_failed": len(results) - ok,
        "records_succeeded": ok,
        "results": list(results),
    }


def _client(post_reply: httpx.Response, seen: list[httpx.Request]) -> AmsClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return post_reply
        return httpx.Response(200, json=LISTED)

    return AmsClient(
        base_url="http://127.0.0.1:9",
        account="acme",
        api_token="t0ken",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(httpx.Response(200, json=_envelope(SUCCESS)), id="records-envelope"),
        pytest.param(httpx.Response(200, json=[SUCCESS]), id="bare-array"),
        pytest.param(httpx.Response(200, json={"callbacks": [SUCCESS]}), id="md-callbacks-key"),
        pytest.param(httpx.Response(200, text="callbacks created"), id="plain-text"),
    ],
)
def test_register_callbacks_accepts_every_reply_shape(reply: httpx.Response) -> None:
    seen: list[httpx.Request] = []
    with _client(reply, seen) as ams:
        (cb,) = ams.register_callbacks([CallbackCreate(url=URL, message_type="rmaEvent")])

    assert cb.id == "cb-1"
    assert [r.method for r in seen] == ["POST", "GET"]
    assert json.loads(seen[0].content)[0]["url"] == URL


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(httpx.Response(200, json=_envelope(FAILURE)), id="records-envelope"),
        pytest.param(httpx.Response(200, json=[FAILURE]), id="bare-array"),
    ],
)
def test_register_callbacks_raises_on_a_failed_record(reply: httpx.Response) -> None:
    seen: list[httpx.Request] = []
    with (
        _client(reply, seen) as ams,
        pytest.raises(AmsBatchError, match="Callback url update failed") as info,
    ):
        ams.register_callbacks([CallbackCreate(url=URL, message_type="rmaEvent")])

    (failed,) = info.value.failed
    assert failed.customer_identifier == f"rmaEvent {URL}"
    assert [r.method for r in seen] == ["POST"]
