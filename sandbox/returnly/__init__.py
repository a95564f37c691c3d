"""Returnly sandbox: a local emulator of the Returnly API (JSON:API returns, refunds, webhooks).

Build it with :func:`sandbox.returnly.app.create_app`; see that module for what it serves.
"""
