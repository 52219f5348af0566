"""`secaudit rules test [DIR] [--junit FILE]`: run the rule test cases under DIR/tests/."""

from __future__ import annotations

import os

import click

__all__ = ["commands"]


@click.group("rules")
def rules_group() -> None:
    """Rule maintenance: test cases for signatures, YARA and policy rules."""


@rules_group.command("test")
@click.argument("rules_dir", default="rules", type=click.Path())
@click.option("--junit", "junit", type=click.Path(), default=None, help="write JUnit XML here")
def test_cmd(rules_dir: str, junit: str | None) -> None:
    """Run every case in RULES_DIR/tests/<kind>/<case>/ (exit 1 when any fails)."""
    from secaudit.i18n import t
    from secaudit.signatures.ruletest import run_rule_tests, write_junit

    lang = "zh" if os.environ.get("SECAUDIT_LANG", "").startswith("zh") else "en"
    results = run_rule_tests(rules_dir)
    for r in results:
        status = "ok  " if r.passed else "FAIL"
        click.echo(f"{status} {r.kind}/{r.name}")
        for f in r.failures:
            click.echo(f"     {f}")
    if junit:
        write_junit(results, junit)
    passed = sum(r.passed for r in results)
    click.echo(t("rules.cli.summary", lang, passed=passed, failed=len(results) - passed))
    if passed != len(results):
        raise SystemExit(1)


commands = [rules_group]
