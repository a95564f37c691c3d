"""Returnly, the first returns platform behind :class:`platforms.ReturnsPlatform`."""

from platforms.returnly.adapter import FRAME_INCLUDE, NAME, ReturnlyPlatform

__all__ = ["FRAME_INCLUDE", "NAME", "ReturnlyPlatform"]
