"""The loopback archive mirror used by the tests and ``make demo``.

``serve(root)`` starts :class:`~takedowns.synthetic.server.MirrorServer` on 127.0.0.1; the
names are imported lazily so that ``python -m takedowns.synthetic.server`` runs without the
"found in sys.modules" warning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from takedowns.synthetic.server import MirrorServer, RequestRecord, serve

__all__ = ["MirrorServer", "RequestRecord", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from takedowns.synthetic import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
