"""The client package exports a deliberate surface (guarded like httpx's exported members)."""

from __future__ import annotations

import inspect

import clients.returnly as returnly


def test_exported_classes_and_functions_are_ours_and_documented() -> None:
    for name in returnly.__all__:
        member = getattr(returnly, name)
        if inspect.isclass(member) or inspect.isfunction(member):
            assert member.__module__.startswith("clients."), name
            assert inspect.getdoc(member), name


def test_public_surface_is_deliberate() -> None:
    assert len(set(returnly.__all__)) == len(returnly.__all__)
    assert {
        "ReturnlyClient",
        "Return",
        "ReturnLineItem",
        "ShippingLabel",
        "Refund",
        "RefundCreate",
        "WebhookSubscription",
        "ReturnlyError",
        "ReturnlyNotFoundError",
        "ReturnlyConflictError",
        "parse_returns_document",
        "KNOWN_STATUSES",
        "DEFAULT_INCLUDE",
    } <= set(returnly.__all__)
    public = {n for n in dir(returnly) if not n.startswith("_")}
    assert public - set(returnly.__all__) <= {"client", "errors", "fields", "jsonapi", "models"}
