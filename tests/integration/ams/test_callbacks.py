"""Callback registration against the AMS sandbox: register (ids re-read), list, delete."""

from __future__ import annotations

import httpx
import pytest

from clients.ams import AmsClient, AmsRequestRejectedError, CallbackCreate
from tests.integration.ams.receiver import CallbackReceiver
from tests.integration.ams.support import API, AUTH, api_requests


def test_register_list_and_delete_callbacks(ams: AmsClient, receiver: CallbackReceiver) -> None:
    registered = ams.register_callbacks(
        [
            CallbackCreate(url=f"{receiver.url}/rma", message_type="rmaEvent", token="t-1"),
            CallbackCreate(
                url=f"{receiver.url}/orders", message_type="orderEvent", api_version="1.0"
            ),
        ]
    )

    assert [c.message_type for c in registered] == ["rmaEvent", "orderEvent"]
    assert all(c.id for c in registered)
    assert [c.url for c in ams.list_callbacks("rmaEvent")] == [f"{receiver.url}/rma"]
    assert len(ams.list_callbacks()) == 2

    ams.delete_callbacks([registered[0].id or ""])

    assert [c.message_type for c in ams.list_callbacks()] == ["orderEvent"]


def test_register_same_url_again_updates_it(ams: AmsClient, receiver: CallbackReceiver) -> None:
    url = f"{receiver.url}/rma"
    (first,) = ams.register_callbacks([CallbackCreate(url=url, message_type="rmaEvent")])
    (second,) = ams.register_callbacks(
        [CallbackCreate(url=url, message_type="rmaEvent", api_version="1.0")]
    )

    assert second.id == first.id
    assert second.api_version == "1.0"
    assert len(ams.list_callbacks()) == 1


def test_delete_callbacks_twice_is_safe(ams: AmsClient, receiver: CallbackReceiver) -> None:
    (cb,) = ams.register_callbacks(
        [CallbackCreate(url=f"{receiver.url}/x", message_type="rmaEvent")]
    )
    ams.delete_callbacks([cb.id or ""])
    ams.delete_callbacks([cb.id or ""])
    assert ams.list_callbacks() == []


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://example.com/hook", id="plain-http-remote"),
        pytest.param("ftp://127.0.0.1/hook", id="not-http"),
        pytest.param("https://example.com/" + "a" * 240, id="too-long"),
    ],
)
def test_register_callback_bad_url_rejected_before_sending(
    ams: AmsClient, admin: httpx.Client, url: str
) -> None:
    with pytest.raises(AmsRequestRejectedError, match=r"callbacks\[0\]\.url"):
        ams.register_callbacks([CallbackCreate(url=url, message_type="rmaEvent")])
    assert api_requests(admin) == []


def test_sandbox_validates_callback_records(admin: httpx.Client) -> None:
    body = [
        {"url": "https://hooks.example.com/a", "message_type": "bogus"},
        {"url": "https://hooks.example.com/b", "message_type": "rmaEvent", "api_version": "3.0"},
        {"url": "https://hooks.example.com/c", "message_type": "rmaEvent", "api_version": "2.0"},
    ]
    reply = admin.post(f"{API}/callbacks", json=body, headers=AUTH)

    assert reply.status_code == 200
    envelope = reply.json()
    assert [r["status"] for r in envelope["results"]] == ["failure", "failure", "success"]
    assert (envelope["records_submitted"], envelope["records_failed"]) == (3, 2)
    assert envelope["records_succeeded"] == 1
    listed = admin.get(f"{API}/callbacks", headers=AUTH).json()
    assert [c["url"] for c in listed] == ["https://hooks.example.com/c"]
    assert "token" not in listed[0]


def test_sandbox_list_callbacks_bad_type_is_400(admin: httpx.Client) -> None:
    reply = admin.get(f"{API}/callbacks", params={"message_type": "nope"}, headers=AUTH)
    assert reply.status_code == 400
