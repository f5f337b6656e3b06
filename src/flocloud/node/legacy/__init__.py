"""A gateway for the existing FLO cloud's web apps (``floCloudAPI.js``): their requests at
the root of a supernode's port, stored as records of their own kind that replicate like
flocloud's writes. See docs/legacy.md and shared/reference/flo-cloud-legacy.md."""

from .gateway import LegacyGateway

__all__ = ["LegacyGateway"]
