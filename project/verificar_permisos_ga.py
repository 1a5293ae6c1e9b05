"""Command line of the GA4 access check: what a service account can reach.

    python -m project.verificar_permisos_ga --credentials SA.json [--property ID] [--api-endpoint URL]

Validates the key file, lists the accounts and properties the service account
reaches (Admin API ``accountSummaries``) and, with ``--property``, probes the
property (Data API metadata) and lists its dimensions and metrics. Prints a
JSON report on stdout (never the private key); one line on stderr explains a
failure. The library entry point is :func:`project.ga4.access.check_access`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from .cli import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, run_tool, tool_parser

__all__ = ["main", "check_access", "EXIT_OK", "EXIT_NO_ACCESS", "EXIT_BAD_INPUT"]

logger = logging.getLogger(__name__)

EXIT_NO_ACCESS = EXIT_FAILURE  #: the key works but reaches nothing useful, or the API could not be reached


def check_access(*args, **kwargs):  # noqa: ANN002, ANN003 - thin re-export, documented there
    """See :func:`project.ga4.access.check_access`."""
    from .ga4.access import check_access as _check

    return _check(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = tool_parser(
        prog="python -m project.verificar_permisos_ga",
        description="Check the GA4 accounts, properties, dimensions and metrics a service account reaches.",
    )
    parser.add_argument("--credentials", required=True, metavar="SA.json",
                        help="service-account JSON key file downloaded from Google Cloud")
    parser.add_argument("--property", metavar="ID", default=None,
                        help="GA4 property id to probe (digits, or properties/ID)")
    parser.add_argument("--api-endpoint", metavar="URL", default=None,
                        help="endpoint for both the Data and the Admin API: host[:port] (gRPC) "
                             "or an http(s):// URL (REST); default: Google's public endpoints")
    parser.add_argument("--transport", choices=("grpc", "rest"), default=None,
                        help="client transport (default: gRPC, REST for http(s):// endpoints)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    return run_tool(build_parser(), argv, _main, action="access check")


def _main(args: argparse.Namespace) -> int:
    from .errors import InputError
    from .ga4.access import check_access as _check
    from .ga4.credentials import CredentialsError

    try:
        report = _check(args.credentials, args.property, args.api_endpoint, transport=args.transport)
    except CredentialsError as exc:
        print(json.dumps({"ok": False, "error": "credentials", "message": str(exc)}, indent=2))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except InputError as exc:
        print(json.dumps({"ok": False, "error": "arguments", "message": str(exc)}, indent=2))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["ok"]:
        print(f"error: {report['message']}", file=sys.stderr)
        return EXIT_NO_ACCESS
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
