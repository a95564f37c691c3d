"""AMS sandbox routers, one per API resource."""

from sandbox.ams.routes import admin, callbacks, data_factory, rmas

ROUTERS = (rmas.router, callbacks.router, data_factory.router, admin.router)

__all__ = ["ROUTERS"]
