"""Multi-pattern prefilter: a buffer is checked only against rules whose fast pattern occurs.

hyperscan when it loads (patterns escaped byte-wise as `\\xHH`: python-hyperscan's
literal mode truncates at NUL, see PITFALLS.md), else pyahocorasick over latin-1
text.  Rules without a usable fast pattern (no positive content) always run.
Compiled hyperscan databases are cached on disk by the hash of their patterns.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from secaudit.signatures.compile import Sig

__all__ = ["Prefilter", "cache_dir"]

_SMALL = 64  # below this many patterns a plain substring scan is cheaper than a scanner


def cache_dir() -> Path:
    base = os.environ.get("SECAUDIT_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "secaudit"
    )
    return Path(base)


class Prefilter:
    def __init__(self, sigs: list[Sig]) -> None:
        self.always: set[int] = set()
        self.pats: list[tuple[bytes, bool]] = []
        self.owners: list[list[int]] = []
        index: dict[tuple[bytes, bool], int] = {}
        for s in sigs:
            if s.fast is None:
                self.always.add(id(s))
                continue
            key = (s.fast.lower() if s.fast_nocase else s.fast, s.fast_nocase)
            j = index.get(key)
            if j is None:
                j = len(self.pats)
                index[key] = j
                self.pats.append(key)
                self.owners.append([])
            self.owners[j].append(id(s))
        self.db: Any = None
        self.ac: Any = None
        if len(self.pats) >= _SMALL:
            self.db = _hyperscan_db(self.pats)
            if self.db is None:
                self.ac = _aho(self.pats)

    @classmethod
    def build(cls, sigs: list[Sig]) -> Prefilter:
        return cls(sigs)

    def hits(self, buf: bytes) -> set[int]:
        found: set[int] = set()
        if not buf:
            return found
        if self.db is not None:

            def on(pid: int, _f: int, _t: int, _fl: int, _ctx: Any) -> None:
                found.add(pid)

            self.db.scan(buf, match_event_handler=on)
        elif self.ac is not None:
            text = buf.decode("latin-1")
            low = text.lower()
            for _end, (j, nocase) in self.ac.iter(low):
                if nocase:
                    found.add(j)
            for _end, (j, nocase) in self.ac.iter(text):
                if not nocase:
                    found.add(j)
        else:
            lowb: bytes | None = None
            for j, (pat, nocase) in enumerate(self.pats):
                if nocase:
                    if lowb is None:
                        lowb = buf.lower()
                    if pat in lowb:
                        found.add(j)
                elif pat in buf:
                    found.add(j)
        return found

    def candidates(self, sigs: list[Sig], bufs: Iterable[bytes]) -> list[Sig]:
        ok = set(self.always)
        for b in bufs:
            for j in self.hits(b):
                ok.update(self.owners[j])
        return [s for s in sigs if id(s) in ok]


def _hyperscan_db(pats: list[tuple[bytes, bool]]) -> Any:
    try:
        import hyperscan
    except Exception:  # noqa: BLE001 - any load failure means "use the fallback"
        return None
    exprs = [b"".join(b"\\x%02x" % c for c in p) for p, _n in pats]
    flags = [
        (hyperscan.HS_FLAG_CASELESS if n else 0) | hyperscan.HS_FLAG_SINGLEMATCH for _p, n in pats
    ]
    digest = hashlib.sha256(
        b"\n".join(e + (b"i" if n else b"") for e, (_p, n) in zip(exprs, pats, strict=False))
    ).hexdigest()
    path = cache_dir() / f"hs-{digest[:32]}.db"
    if path.exists():
        try:
            db = hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
            # loadb returns a database without scratch space: scanning it fails (HS_INVALID)
            db.scratch = hyperscan.Scratch(db)
            return db
        except Exception:  # noqa: BLE001 - a stale or damaged cache entry is rebuilt
            pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(hyperscan.dumpb(db))
        tmp.replace(path)
    except OSError:
        pass
    return db


def _aho(pats: list[tuple[bytes, bool]]) -> Any:
    import ahocorasick

    a = ahocorasick.Automaton()
    for j, (p, n) in enumerate(pats):
        key = p.decode("latin-1")
        prev = a.get(key, None)
        a.add_word(key, (j, n) if prev is None else prev)
    a.make_automaton()
    return a
