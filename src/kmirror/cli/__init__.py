"""The `kmirror` command: one module per subcommand; this one parses and dispatches.

Only kmirror's own errors are caught here: they print as ``Type: message`` (one line per
problem) and exit with the error's code (2 for bad input). Anything else is a bug and keeps its
traceback. ``--verbose`` shows tracebacks for our errors too.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from kmirror import __version__
from kmirror.config import secrets
from kmirror.errors import KmirrorError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the closest valid flag and exit with code 2.

    Abbreviated flags are refused: `--num.stream` must not silently mean `--num.streams`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print the problem (with a 'did you mean' when a flag is misspelt) and exit 2."""
        hint = ""
        if "unrecognized arguments:" in message:
            unknown = message.split("unrecognized arguments:", 1)[1].split()
            flags = _all_flags(self)
            for arg in unknown:
                name = arg.split("=", 1)[0]
                close = difflib.get_close_matches(name, flags, n=1, cutoff=0.6)
                if close:
                    hint = f" (did you mean {close[0]}?)"
                    break
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def _all_flags(parser: argparse.ArgumentParser) -> list[str]:
    flags: list[str] = []
    for action in parser._actions:
        flags.extend(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags.extend(_all_flags(sub))
    return flags


def build_parser() -> Parser:
    """The whole command line: global flags and one sub-parser per subcommand."""
    from kmirror.cli import bench as bench_cmd
    from kmirror.cli import lag as lag_cmd
    from kmirror.cli import local as local_cmd
    from kmirror.cli import offsets as offsets_cmd
    from kmirror.cli import run as run_cmd
    from kmirror.cli import verify as verify_cmd

    parser = Parser(
        prog="kmirror",
        description="Mirror Kafka topics between clusters: lossless, in order, observable.",
    )
    parser.add_argument("--version", action="version", version=f"kmirror {__version__}")
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="debug logging and tracebacks on errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    run_cmd.register(commands)
    lag_cmd.register(commands)
    verify_cmd.register(commands)
    offsets_cmd.register(commands)
    local_cmd.register(commands)
    bench_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `kmirror` console script; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # --verbose is global: accepted before or after the subcommand.
    verbose = "--verbose" in args_list or "-v" in args_list
    args_list = [a for a in args_list if a not in ("--verbose", "-v")]
    try:
        args = parser.parse_args(args_list)
    except KmirrorError as exc:
        return _report(exc, verbose)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else 2
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s" if verbose else "%(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        # The client's own connection errors ("FAIL [rdkafka#...]") repeat what kmirror then
        # says in one line with advice (kmirror.kafka.connection.ConnectionErrors); --verbose shows
        # them.
        logging.getLogger("kmirror.librdkafka").setLevel(logging.CRITICAL)
    secrets.install()
    args.verbose = verbose
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except KmirrorError as exc:
        return _report(exc, verbose)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kmirror lag --json | head`: the reader left, not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter exit quiet
        return 0


def _report(exc: KmirrorError, verbose: bool) -> int:
    """Print an expected error as `Type: message` lines; return its exit code."""
    from kmirror.errors import ConfigError

    if verbose:
        print(secrets.redact(traceback.format_exc()), end="", file=sys.stderr)
    name = type(exc).__name__
    lines = secrets.redact(str(exc)).splitlines() or [""]
    print(f"{name}: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"{name}: {line}" if isinstance(exc, ConfigError) else line, file=sys.stderr)
    return exc.exit_code
