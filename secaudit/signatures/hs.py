"""libhyperscan called from numba: literal databases whose matches land in an array.

python-hyperscan calls back into Python on every match (PITFALLS.md, "Performance
facts"); here libhs (Debian libhyperscan5) is bound with ctypes, its scan function is
called from nopython code, and a numba `cfunc` match handler appends
(pattern id, end offset) pairs to an int64 buffer passed as the context pointer:

    buf[0] = matches stored, buf[1] = capacity (pairs), buf[2] = 1 when it overflowed,
    buf[3 + 2k] = pattern id, buf[4 + 2k] = end offset (exclusive) of match k.

Databases are compiled in vectored mode (a stream is scanned as [tail, payload] without
copying the payload) and cached on disk by the hash of their patterns
(hs_serialize_database), next to the compiled rule-set cache.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
from typing import Any

import llvmlite.binding as llvm
import numpy as np
from numba import cfunc, types
from numba.np.numpy_support import carray

from secaudit.signatures.prefilter import cache_dir

__all__ = ["HsDatabase", "available", "MATCH_HANDLER", "SCAN_VECTOR", "new_match_buffer"]

_LIB_NAMES = ("libhs.so.5", "/usr/lib/x86_64-linux-gnu/libhs.so.5", "libhs.so")
HS_FLAG_CASELESS = 1
HS_MODE_VECTORED = 4
_HS_SUCCESS = 0


def _load() -> Any:
    for name in _LIB_NAMES:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        # nopython code calls hs_scan_vector by symbol name (SCAN_VECTOR below), which keeps
        # the numba functions cacheable across processes; only that name is registered (a
        # global dlopen would interpose on python-hyperscan's bundled copy of the library)
        addr = ctypes.cast(lib.hs_scan_vector, ctypes.c_void_p).value
        if not addr:
            return None
        llvm.add_symbol("hs_scan_vector", addr)
        return lib
    return None


_LIB = _load()


def available() -> bool:
    """True when libhs loaded (the fast tier needs it; otherwise the Python engine runs alone)."""
    return _LIB is not None


class _CompileError(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char_p), ("expression", ctypes.c_int)]


SCAN_VECTOR: Any = None
if _LIB is not None:
    _sz = ctypes.c_size_t
    _LIB.hs_compile_lit_multi.restype = ctypes.c_int
    _LIB.hs_compile_lit_multi.argtypes = [_sz, _sz, _sz, _sz, ctypes.c_uint, ctypes.c_uint, _sz,
                                          _sz, _sz]  # fmt: skip
    _LIB.hs_free_compile_error.argtypes = [_sz]
    _LIB.hs_serialize_database.restype = ctypes.c_int
    _LIB.hs_serialize_database.argtypes = [_sz, _sz, _sz]
    _LIB.hs_deserialize_database.restype = ctypes.c_int
    _LIB.hs_deserialize_database.argtypes = [ctypes.c_char_p, _sz, _sz]
    _LIB.hs_alloc_scratch.restype = ctypes.c_int
    _LIB.hs_alloc_scratch.argtypes = [_sz, _sz]
    _LIB.hs_free_scratch.argtypes = [_sz]
    _LIB.hs_free_database.argtypes = [_sz]
    _LIB.hs_database_size.argtypes = [_sz, _sz]
    _LIB.hs_database_size.restype = ctypes.c_int
    # hs_scan_vector(db, data**, lengths*, count, flags, scratch, handler, context): all pointers
    # are passed as 64-bit integers so nopython code can hand over addresses (x86-64 ABI)
    SCAN_VECTOR = types.ExternalFunction(
        "hs_scan_vector",
        types.int32(types.uint64, types.uint64, types.uint64, types.uint32, types.uint32,
                    types.uint64, types.uint64, types.uint64),
    )  # fmt: skip
    _libc = ctypes.CDLL(None)
    _libc.free.argtypes = [_sz]


@cfunc(
    types.int32(types.uint32, types.uint64, types.uint64, types.uint32, types.voidptr), cache=True
)
def _on_match(pid, _frm, to, _flags, ctx):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
    head = carray(ctx, 3, dtype=np.int64)
    n = head[0]
    if n >= head[1]:
        head[2] = 1
        return 1  # stop this scan: the caller sees the overflow flag
    buf = carray(ctx, 3 + 2 * head[1], dtype=np.int64)
    buf[3 + 2 * n] = pid
    buf[4 + 2 * n] = to
    head[0] = n + 1
    return 0


MATCH_HANDLER: int = int(_on_match.address or 0)


def new_match_buffer(capacity: int) -> np.ndarray:
    buf = np.zeros(3 + 2 * capacity, dtype=np.int64)
    buf[1] = capacity
    return buf


class HsDatabase:
    """A compiled vectored-mode literal database plus one scratch (one thread)."""

    def __init__(self, patterns: list[tuple[bytes, bool]]) -> None:
        if _LIB is None:
            raise OSError("libhs is not available")
        self.db = ctypes.c_size_t(0)
        self.scratch = ctypes.c_size_t(0)
        self.from_cache = False
        blob = b"".join(
            len(p).to_bytes(4, "little") + p + (b"i" if n else b"s") for p, n in patterns
        )
        digest = hashlib.sha256(b"secaudit-hs-lit-v1\0" + blob).hexdigest()[:32]
        path = cache_dir() / f"hslit-{digest}.db"
        if path.exists() and self._deserialize(path.read_bytes()):
            self.from_cache = True
        else:
            self._compile(patterns)
            self._store(path)
        rc = _LIB.hs_alloc_scratch(self.db.value, ctypes.addressof(self.scratch))
        if rc != _HS_SUCCESS:
            raise OSError(f"hs_alloc_scratch failed ({rc})")

    def _compile(self, patterns: list[tuple[bytes, bool]]) -> None:
        n = len(patterns)
        keep = [ctypes.create_string_buffer(p, len(p) or 1) for p, _n in patterns]
        exprs = (ctypes.c_char_p * n)(*[ctypes.cast(b, ctypes.c_char_p) for b in keep])
        flags = (ctypes.c_uint * n)(*[HS_FLAG_CASELESS if nc else 0 for _p, nc in patterns])
        ids = (ctypes.c_uint * n)(*range(n))
        lens = (ctypes.c_size_t * n)(*[len(p) for p, _n in patterns])
        err = ctypes.c_size_t(0)
        rc = _LIB.hs_compile_lit_multi(
            ctypes.addressof(exprs), ctypes.addressof(flags), ctypes.addressof(ids),
            ctypes.addressof(lens), n, HS_MODE_VECTORED, 0, ctypes.addressof(self.db),
            ctypes.addressof(err),
        )  # fmt: skip
        if rc != _HS_SUCCESS:
            msg = "hyperscan compile failed"
            if err.value:
                ce = _CompileError.from_address(err.value)
                msg = f"{msg}: {(ce.message or b'').decode('latin-1')} (pattern {ce.expression})"
                _LIB.hs_free_compile_error(err.value)
            raise OSError(msg)

    def _deserialize(self, data: bytes) -> bool:
        rc = _LIB.hs_deserialize_database(data, len(data), ctypes.addressof(self.db))
        return bool(rc == _HS_SUCCESS)

    def _store(self, path: Any) -> None:
        out = ctypes.c_size_t(0)
        ln = ctypes.c_size_t(0)
        rc = _LIB.hs_serialize_database(self.db.value, ctypes.addressof(out), ctypes.addressof(ln))
        if rc != _HS_SUCCESS:
            return
        try:
            data = ctypes.string_at(out.value, ln.value)
        finally:
            _libc.free(out.value)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        except OSError:
            pass

    def close(self) -> None:
        if self.scratch.value:
            _LIB.hs_free_scratch(self.scratch.value)
            self.scratch = ctypes.c_size_t(0)
        if self.db.value:
            _LIB.hs_free_database(self.db.value)
            self.db = ctypes.c_size_t(0)

    def __del__(self) -> None:
        # at interpreter shutdown the library may already be gone: nothing left to free into
        with contextlib.suppress(Exception):
            self.close()
