"""Human-readable text of a scan diff (zh/en through the catalog)."""

from __future__ import annotations

from secaudit.exposure.diff import ScanDiff
from secaudit.i18n import t

__all__ = ["diff_text"]


def _svc(d: dict[str, str]) -> str:
    return " ".join(d.values()) or "?"


def diff_text(d: ScanDiff, lang: str = "en") -> str:
    """One line per change, ndiff-like markers (+ added/opened, - removed/closed, ~ changed)."""
    if not d.any_difference:
        return t("exposure.diff.same", lang)
    lines = [t("exposure.diff.host_added", lang, host=h) for h in d.hosts_added]
    lines += [t("exposure.diff.host_removed", lang, host=h) for h in d.hosts_removed]
    lines += [
        t("exposure.diff.host_state", lang, host=c["host"], before=c["from"], after=c["to"])
        for c in d.host_state_changes
    ]
    lines += [
        t("exposure.diff.mac", lang, host=c["host"], before=c["from"], after=c["to"])
        for c in d.mac_changes
    ]
    lines += [
        t("exposure.diff.opened", lang, host=c["host"], port=c["port"], service=_svc(c["service"]))
        for c in d.ports_opened
    ]
    lines += [
        t("exposure.diff.closed", lang, host=c["host"], port=c["port"], after=c["to_state"])
        for c in d.ports_closed
    ]
    lines += [
        t(
            "exposure.diff.service",
            lang,
            host=c["host"],
            port=c["port"],
            before=_svc(c["from"]),
            after=_svc(c["to"]),
        )
        for c in d.service_changes
    ]
    lines += [
        t(
            "exposure.diff.scripts",
            lang,
            host=c["host"],
            port=c["port"] or "host",
            scripts=", ".join(c["scripts"]),
        )
        for c in d.script_changes
    ]
    lines += [
        t(
            "exposure.diff.os",
            lang,
            host=c["host"],
            before="; ".join(c["from"]) or "-",
            after="; ".join(c["to"]) or "-",
        )
        for c in d.os_changes
    ]
    return "\n".join(lines)
