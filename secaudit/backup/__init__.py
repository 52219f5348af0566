"""Backup and disaster-recovery audit of restic repositories (数据备份 / 系统备份 / 异地备份).

    audit = sa.backup_audit("rules/backup.yaml", now="2026-01-15T12:00:00Z")
    audit.findings, audit.gaps, audit.scorecard, audit.snapshots

`restic` is the only module that runs restic; `checks` holds the pure audits,
`drill` the restore drill, `ledger` the read-coverage history, `policy` backup.yaml.
"""

from __future__ import annotations

from secaudit.backup.audit import BackupAudit, RepoResult, backup_audit
from secaudit.backup.policy import BackupPolicy, load_policy

__all__ = ["BackupAudit", "BackupPolicy", "RepoResult", "backup_audit", "load_policy"]
