"""`equilens` command line: verb subcommands, thin over the library.

Every subcommand is a module of this package with ``add_parser(subparsers)`` and
``run(args) -> int``. Every error is printed as one line on stderr, without a traceback:
a user error (EquilensError, bad file, bad config, a bad flag) exits 2, an internal
error exits 3 and says so (1 is `check`'s "a check failed"); Ctrl-C exits 130.
``--debug`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from importlib import import_module
from typing import NoReturn

from equilens import __version__
from equilens.errors import EquilensError

COMMANDS = ("train", "evaluate", "analyze", "check", "study", "compare-latents")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (the usage is in --help)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: the parser of each subcommand, by name (filled on the top-level parser)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(text: str) -> str:
    """``text`` with its lines joined, so that an error is always one line."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="equilens",
        description="Train, compare and look inside equivariant and invariant GNNs on MD17.")
    parser.add_argument("--version", action="version", version=f"equilens {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = import_module(f"equilens.cli.{name.replace('-', '_')}")
        except ModuleNotFoundError as err:
            if err.name == f"equilens.cli.{name.replace('-', '_')}":
                continue
            raise
        module.add_parser(sub)
    parser.commands = dict(sub.choices)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the subcommand, whose --help lists what it takes
        parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except EquilensError as err:
        _report(args, str(err))
        return 130 if isinstance(err.__context__, KeyboardInterrupt) else 2
    except KeyboardInterrupt:
        _report(args, "interrupted", prefix="")
        return 130
    except (OSError, ValueError) as err:
        _report(args, f"{type(err).__name__}: {err} (run with --debug for the traceback)")
        return 2
    except Exception as err:  # noqa: BLE001 (a bug: still one line, the traceback with --debug)
        _report(args, f"{type(err).__name__}: {err} (an internal error; run with --debug for "
                      "the traceback and report it)", prefix="internal error: ")
        return 3


def _report(args: argparse.Namespace, message: str, prefix: str = "error: ") -> None:
    """One line on stderr; with --debug the traceback of the error being handled first."""
    if args.debug:
        traceback.print_exc()
    print(f"equilens {args.command}: {prefix}{one_line(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
