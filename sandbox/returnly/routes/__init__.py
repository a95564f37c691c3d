"""One router per Returnly resource, plus the sandbox-only admin routers."""

from fastapi import APIRouter

from sandbox.returnly.routes import admin, deliveries, refunds, returns, webhooks

ROUTERS: tuple[APIRouter, ...] = (
    returns.router,
    refunds.router,
    webhooks.router,
    admin.router,
    deliveries.router,
)

__all__ = ["ROUTERS"]
