"""Sub-admins and trusted IDs that an app's admin publishes from its own address
(shared/reference/flo-cloud-legacy.md §1): floData
``{"<app>": {"addSubAdmin": [..], "removeSubAdmin": [..], "addTrustedID": [..],
"removeTrustedID": [..], "settings": {..}}}``.

Invariants owned here:
- Only transactions sent by the app's admin count, applied oldest first, removals before
  additions within one transaction; other floData is ignored silently, as the existing
  cloud does; reading never raises on chain data.
- Reads are incremental (after the last transaction seen per app and admin) and one at
  a time; a failed read keeps the roles known so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from flocloud.chain.explorers import make_reader
from flocloud.protocol.errors import FlocloudError

from ..config import ChainConfig

__all__ = ["AppRoles", "AppRolesReader", "apply_app_update"]

log = logging.getLogger("flocloud.node.legacy")


@dataclass(frozen=True, slots=True)
class AppRoles:
    sub_admins: tuple[str, ...] = ()
    trusted: tuple[str, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)


def _ids(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def apply_app_update(roles: AppRoles, app: str, flo_data: str) -> AppRoles:
    """One admin transaction's effect on ``app`` (unchanged when it is not about it)."""
    try:
        content = json.loads(flo_data).get(app)
    except (ValueError, AttributeError):
        return roles
    if not isinstance(content, dict):
        return roles
    subs = [s for s in roles.sub_admins if s not in _ids(content.get("removeSubAdmin"))]
    subs += [s for s in _ids(content.get("addSubAdmin")) if s not in subs]
    trusted = [t for t in roles.trusted if t not in _ids(content.get("removeTrustedID"))]
    trusted += [t for t in _ids(content.get("addTrustedID")) if t not in trusted]
    settings = dict(roles.settings)
    if isinstance(content.get("settings"), dict):
        settings.update(content["settings"])
    return replace(roles, sub_admins=tuple(subs), trusted=tuple(trusted), settings=settings)


class AppRolesReader:
    def __init__(self, chain: ChainConfig) -> None:
        self.chain = chain
        self.roles: dict[tuple[str, str], AppRoles] = {}  # (app, admin) -> roles
        self._after: dict[tuple[str, str], str] = {}
        self._task: asyncio.Task[None] | None = None
        self._reader: Any = None

    def get(self, app: str, admin: str) -> AppRoles:
        return self.roles.get((app, admin), AppRoles())

    def refresh_soon(self, apps: Mapping[str, str]) -> None:
        """Start a read of every app admin's new transactions unless one is running."""
        if not self.chain.explorer or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self.refresh(dict(apps)), name="legacy-app-roles")

    async def refresh(self, apps: Mapping[str, str]) -> None:
        if self._reader is None:
            self._reader = make_reader(self.chain.explorer_kind, self.chain.explorer)
        for app, admin in apps.items():
            key = (app, admin)
            roles = self.roles.get(key, AppRoles())
            try:
                async for tx in self._reader.iter_address_txs(
                    admin,
                    oldest_first=True,
                    min_confirmations=self.chain.min_confirmations,
                    after_txid=self._after.get(key),
                ):
                    self._after[key] = tx.txid
                    if tx.sender == admin:
                        roles = apply_app_update(roles, app, tx.flo_data)
            except FlocloudError as exc:
                log.warning("reading the roles of app %s failed: %s", app, exc.message)
            self.roles[key] = roles

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._reader is not None:
            await self._reader.aclose()
