"""Options several commands share, declared once so they read and behave the same."""

from __future__ import annotations

from collections.abc import Sequence

import click

__all__ = ["read_captures"]


def _capture_files(ctx: click.Context, param: click.Parameter, value: Sequence[str]) -> list[str]:
    """-r values as capture files: a folder is the capture files in it (capture.files);
    one without any is an input error (exit 2).  Imported here, not at the top, so that
    `secaudit --help` does not load the capture package."""
    from secaudit.capture.files import expand_captures

    return expand_captures(value)


# -r/--read of flows, detect and signatures
read_captures = click.option(
    "-r",
    "--read",
    "pcaps",
    multiple=True,
    required=True,
    type=click.Path(),
    callback=_capture_files,
    help="Capture file (pcap/pcapng, optionally gzip), or a folder of them; repeatable.",
)
