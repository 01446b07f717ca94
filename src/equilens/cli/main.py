"""`equilens` command line: verb subcommands, thin over the library.

Every subcommand is a module of this package with ``add_parser(subparsers)`` and
``run(args) -> int``. A user error (EquilensError, bad file, bad config) is printed as
one line and exits 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from importlib import import_module

from equilens import __version__
from equilens.errors import EquilensError

COMMANDS = ("train", "evaluate", "analyze", "check", "study")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equilens",
        description="Train, compare and look inside equivariant and invariant GNNs on MD17.")
    parser.add_argument("--version", action="version", version=f"equilens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = import_module(f"equilens.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"equilens.cli.{name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EquilensError as err:
        if args.debug:
            traceback.print_exc()
        print(f"equilens {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"equilens {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as err:
        if args.debug:
            raise
        print(f"equilens {args.command}: error: {type(err).__name__}: {err} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
