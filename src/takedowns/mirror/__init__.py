"""The loopback archive mirror used by the tests and ``make demo``.

``serve(root)`` starts :class:`~takedowns.mirror.server.MirrorServer` on 127.0.0.1; the
names are imported lazily so that ``python -m takedowns.mirror.server`` runs without the
"found in sys.modules" warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from takedowns.mirror.server import MirrorServer, RequestRecord, serve

__all__ = ["MirrorServer", "RequestRecord", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from takedowns.mirror import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
