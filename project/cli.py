"""Helpers shared by the command-line tools of ``project``.

Each tool has ``main(argv=None) -> int`` so it can be called from Python and
tests; these helpers keep argparse's ``SystemExit`` and logging set-up in one
place.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

__all__ = ["OneLineUsageParser", "parse_args", "configure_logging"]


class OneLineUsageParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, usage_code: int = 2
) -> tuple[argparse.Namespace | None, int]:
    """``(args, 0)``, or ``(None, code)`` when argparse exits (``--help`` gives
    0, bad arguments ``usage_code``; argparse has already printed why)."""
    try:
        return parser.parse_args(argv), 0
    except SystemExit as exc:
        return None, exc.code if isinstance(exc.code, int) and exc.code == 0 else usage_code


def configure_logging(verbose: bool) -> None:
    """INFO on stderr with ``-v``, WARNING otherwise."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
