"""Resumable download checkpoints: a small JSON file written atomically after every page.

The checkpoint names the request it belongs to (``fingerprint``), where to
continue (chunk index, offset, the chunk's ``rowCount``), how much of the
partial output is good (``sink_state``: row groups or bytes) and the run
statistics so far. It is replaced with ``os.replace`` after an ``fsync`` so a
crash leaves either the previous or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint", "remove_checkpoint"]

logger = logging.getLogger(__name__)

VERSION = 1


@dataclass
class Checkpoint:
    """Where a download stands. ``stats`` is a ``RunStats.to_dict()``."""

    fingerprint: dict[str, Any]
    partial: str
    chunk_index: int = 0
    offset: int = 0
    row_count: int | None = None
    sink_state: dict[str, Any] | None = None
    chunk_sink_state: dict[str, Any] | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    version: int = VERSION


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint | None:
    """The checkpoint at ``path``, or ``None`` when there is none. Raises ``InputError``
    for a file that is not a checkpoint of this version."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
        return Checkpoint(**data)
    except (ValueError, TypeError) as exc:
        raise InputError(f"checkpoint {p} is unreadable ({exc}); delete it or pass --restart") from None


def save_checkpoint(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` atomically."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(asdict(checkpoint), handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, p)


def remove_checkpoint(path: str | os.PathLike[str]) -> None:
    """Delete the checkpoint (after a complete download or on ``--restart``)."""
    Path(path).unlink(missing_ok=True)
    Path(str(path) + ".tmp").unlink(missing_ok=True)
