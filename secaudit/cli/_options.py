"""Options several commands share, declared once so they read and behave the same."""

from __future__ import annotations

import click

__all__ = ["read_captures"]

# -r/--read of flows, detect and signatures (folders expanded by capture.files)
read_captures = click.option(
    "-r",
    "--read",
    "pcaps",
    multiple=True,
    required=True,
    type=click.Path(),
    help="Capture file (pcap/pcapng, optionally gzip), or a folder of them; repeatable.",
)
