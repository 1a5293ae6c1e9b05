"""The one frame of every command-line tool of ``project``: exit codes, common options, error mapping.

Each tool has ``main(argv=None) -> int`` so it can be called from Python and
tests, and ends ``sys.exit(main())`` under ``__main__``.  ``main`` builds its
parser with :func:`tool_parser` (``-q``/``-v`` included, a usage error is one
line and exit code 2) and hands its work to :func:`run_tool`, which parses the
arguments, sets up logging and turns our exceptions into one line on stderr
and an exit code -- never a traceback:

==========================  ===============================================
code                        meaning
==========================  ===============================================
``EXIT_OK`` (0)             done
``EXIT_FAILURE`` (1)        failed (an unexpected error, a refused artifact,
                            a remote service that kept failing)
``EXIT_BAD_INPUT`` (2)      bad input or arguments; nothing was written
``EXIT_STOPPED`` (3)        stopped early; run the same command to resume
==========================  ===============================================
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .errors import ArtifactError, InputError

__all__ = [
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_BAD_INPUT",
    "EXIT_STOPPED",
    "OneLineUsageParser",
    "common_options",
    "tool_parser",
    "parse_args",
    "configure_logging",
    "run_tool",
]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3

#: Third-party loggers that are chatty at INFO; kept at WARNING unless -v asks for DEBUG.
_NOISY_LOGGERS = ("cmdstanpy", "prophet", "distributed", "numba", "matplotlib")
_MAX_MESSAGE = 500


class OneLineUsageParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (no usage dump) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def common_options() -> argparse.ArgumentParser:
    """The parent parser every tool shares: ``-q/--quiet`` and ``-v/--verbose``."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    group.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    return parent


def tool_parser(prog: str, description: str, **kwargs: Any) -> OneLineUsageParser:
    """The parser of a tool: one-line usage errors plus the common options."""
    parents = [common_options(), *kwargs.pop("parents", [])]
    return OneLineUsageParser(prog=prog, description=description, parents=parents, **kwargs)


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, usage_code: int = EXIT_BAD_INPUT
) -> tuple[argparse.Namespace | None, int]:
    """``(args, 0)``, or ``(None, code)`` when argparse exits (``--help`` gives
    0, bad arguments ``usage_code``; argparse has already printed why)."""
    try:
        return parser.parse_args(argv), EXIT_OK
    except SystemExit as exc:
        return None, exc.code if isinstance(exc.code, int) and exc.code == 0 else usage_code


def configure_logging(args: argparse.Namespace | bool, default: int = logging.WARNING) -> None:
    """Log to stderr: ``default`` level, ERROR with ``-q``, one step more detail with ``-v``.

    Tools whose normal output includes progress lines pass ``default=logging.INFO``.
    A bare bool is read as ``--verbose``.
    """
    if isinstance(args, bool):
        quiet, verbose = False, args
    else:
        quiet, verbose = bool(getattr(args, "quiet", False)), bool(getattr(args, "verbose", False))
    level = logging.ERROR if quiet else (max(default - 10, logging.DEBUG) if verbose else default)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if level > logging.DEBUG:
        for name in _NOISY_LOGGERS:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))


@contextlib.contextmanager
def quieter(name: str, level: int = logging.WARNING) -> Iterator[None]:
    """Logger ``name`` at ``level`` or above for the block, then as it was.

    For a tool that reports a library's messages itself, once, where the
    user reads them: the log would show each of them twice.
    """
    log = logging.getLogger(name)
    before = log.level
    log.setLevel(max(level, log.getEffectiveLevel()))
    try:
        yield
    finally:
        log.setLevel(before)


def _say(prefix: str, message: object) -> None:
    print(f"{prefix}: {message}"[:_MAX_MESSAGE], file=sys.stderr)


def run_tool(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    body: Callable[[argparse.Namespace], int],
    *,
    action: str = "the command",
    log_level: int = logging.WARNING,
    bad_input: str = "error",
    failure: str = "error",
    interrupted: tuple[int, str] = (EXIT_FAILURE, "interrupted; nothing was written"),
) -> int:
    """Parse ``argv``, configure logging and run ``body(args)``, mapping errors to exit codes.

    :class:`InputError` and :class:`ArtifactError` become ``EXIT_BAD_INPUT``
    with ``"<bad_input>: message"``; ``MemoryError`` and any other exception
    ``EXIT_FAILURE`` with ``"<failure>: <action> failed: Type: message"`` (the
    traceback goes to the DEBUG log); ``KeyboardInterrupt`` gives
    ``interrupted`` (code, message).  ``body`` handles the errors whose
    meaning is its own (a DownloadError that says "resume") and returns its
    exit code.
    """
    args, code = parse_args(parser, argv)
    if args is None:
        return code
    configure_logging(args, log_level)
    try:
        return body(args)
    except (InputError, ArtifactError) as exc:
        _say(bad_input, exc)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        code, message = interrupted
        _say("error", message)
        return code
    except MemoryError:
        _say(failure, f"{action} failed: not enough memory")
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - a CLI user gets one line, the log gets the traceback
        logger.debug("%s failed", action, exc_info=True)
        _say(failure, f"{action} failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILURE
