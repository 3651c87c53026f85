"""`kmirror run`: mirror topics from one or more source clusters into a target cluster.

The classic MirrorMaker invocation works verbatim:
``kmirror run --consumer.config source.properties --num.streams 2
--producer.config target.properties --whitelist=".*"``

Every flag is declared once, in ``kmirror.config.spec``; this module turns that table into
argparse arguments, hands the parsed values to ``load_mirror_settings`` and calls the mirror.
"""

from __future__ import annotations

import argparse
from typing import Any

from kmirror.config import secrets, spec
from kmirror.config.settings import MirrorSettings, load_mirror_settings
from kmirror.errors import ConfigError


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def register(commands: Any) -> None:
    """Add the `run` subcommand, one argument per setting of ``spec.RUN_SETTINGS``."""
    parser = commands.add_parser(
        "run",
        help="mirror topics from source cluster(s) into a target cluster",
        description="Mirror topics, losslessly and in order: source partition p goes to "
        "target partition p; source offsets are committed only after the target "
        "acknowledged every earlier record.",
    )
    sections = {group: parser.add_argument_group(group.title, group.description)
                for group in spec.groups()}
    for setting in spec.RUN_SETTINGS:
        sections[setting.group].add_argument(
            *setting.flags, dest=setting.field, help=setting.help_text(), **_how(setting))
    parser.set_defaults(handler=_run)


def _how(setting: spec.Setting) -> dict[str, Any]:
    """The argparse keywords that read a setting of this kind."""
    kind = setting.kind
    if kind is spec.Kind.SWITCH:
        return {"action": "store_true"}
    if kind is spec.Kind.OFF_SWITCH:
        return {"action": "store_false", "default": True}
    if kind is spec.Kind.CHOICE:
        return {"choices": setting.choices, "default": setting.default}
    how: dict[str, Any] = {"metavar": setting.metavar, "default": setting.default}
    if kind is spec.Kind.FILES:
        how.update(action="append", default=[])  # a fresh list: argparse appends to it
    elif kind is spec.Kind.NUMBER:
        how["type"] = int
    elif kind is spec.Kind.BOOL:
        how["type"] = _bool
    if setting.given_once:
        how["action"] = _Once
    return how


class _Once(argparse.Action):
    """A flag given once, under any of its names (--whitelist and --include conflict)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
        values: Any, option_string: str | None = None,
    ) -> None:
        seen = getattr(namespace, f"_{self.dest}_flag", None)
        if seen is not None:
            raise ConfigError([
                f"{option_string} conflicts with {seen}: give the {self.dest} regular "
                "expression once (a comma joins several: a,b)"
            ])
        setattr(namespace, f"_{self.dest}_flag", option_string)
        setattr(namespace, self.dest, values)


def _run(args: argparse.Namespace) -> int:
    import sys

    from kmirror.mirror.supervisor import RunOptions, run_mirror

    settings = load_mirror_settings(**{s.field: getattr(args, s.field)
                                       for s in spec.RUN_SETTINGS})
    if args.print_config:
        _print_config(settings)
        return 0
    if args.dry_run:
        from kmirror.mirror.supervisor import plan_mirror

        return plan_mirror(settings, args.json)
    options = RunOptions(
        metrics_port=args.metrics_port, live=args.live and sys.stderr.isatty()
    )
    return run_mirror(settings, verbose=args.verbose, options=options)


def _print_config(settings: MirrorSettings) -> None:
    """Every effective setting per client, secrets masked (kmirror run --print-config)."""
    from kmirror.observe.status import path_words

    for source in settings.sources:
        print(f"# source '{source.alias}' consumer ({source.config_file}); path: "
              f"{path_words(settings, source.alias)}")
        for key, value in sorted(secrets.masked(source.client).items()):
            print(f"{key}={value}")
        print()
    print(f"# target producer ({settings.target_config_file})")
    for key, value in sorted(secrets.masked(settings.target).items()):
        print(f"{key}={value}")
