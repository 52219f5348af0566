"""The `secaudit` command: thin wrappers over the library, errors mapped to exit codes.

Exit codes: 0 ran clean (nothing at or above --fail-on), 1 findings at or above
it (or a difference, for diff commands), 2 usage/config/input error with one
line naming the input and location.  Each area keeps its commands in its own
module here and lists them in `COMMANDS`.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from secaudit.errors import SecauditError
from secaudit.i18n import t

__all__ = ["main", "root"]

# module name -> it defines `commands: list[click.Command]`
_COMMAND_MODULES = ["flows", "detect", "signatures", "exposure", "backup", "assess", "rules"]


def _lang() -> str:
    return "zh" if os.environ.get("SECAUDIT_LANG", "").startswith("zh") else "en"


class _Root(click.Group):
    """Turns secaudit errors into one clear line and exit code 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SecauditError as exc:
            click.echo(f"{t('error.prefix', _lang())}: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="secaudit")
def root() -> None:
    """secaudit: network, trust and backup audits mapped to GB/T 22239-2019 level 3."""


for _name in _COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"secaudit.cli.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"secaudit.cli.{_name}":
            raise
        continue
    for _cmd in getattr(_mod, "commands", []):
        root.add_command(_cmd)


def main() -> None:
    root(prog_name="secaudit")
