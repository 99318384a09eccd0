"""The on-disk lint cache, ``.mlrepro_cache/`` at the project root (as ruff and mypy keep theirs).

One JSON file per (mlrepro version, Python version, lint settings): for every project file its
size and mtime, its content hash, and what the lint found (findings and facts), so that a second
run re-reads only the files that changed. A file whose size or mtime moved but whose content
hash did not is reused too (``git checkout`` touches files without changing them).

Concurrent runs are safe: each writes a complete new file and renames it into place, so a
reader sees one run's cache or another's, never a mix; the last writer wins, and every
version it writes is correct for the files it describes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlrepro import __version__

CACHE_DIR = ".mlrepro_cache"


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _code_stamp() -> str:
    """The lint code's own files: a source checkout changes rules without a new version."""
    package = Path(__file__).resolve().parent
    stamps = []
    for directory in (package, package / "checks"):
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.name.endswith(".py"):
                stat = entry.stat()
                stamps.append(f"{entry.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return ";".join(stamps)


def cache_key(settings_fingerprint: str) -> str:
    text = "\n".join([__version__, sys.version, _code_stamp(), settings_fingerprint])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


class LintCache:
    def __init__(self, root: Path, key: str) -> None:
        self.directory = root / CACHE_DIR
        self.path = self.directory / f"lint-{key}.json"
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            loaded = None  # no cache yet, or a damaged one: start afresh
        if isinstance(loaded, dict):
            self.entries = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    def lookup(self, rel: str, signature: list[int], read: Any) -> tuple[str | None, dict[str, Any] | None]:
        """(content hash or None, cached entry or None) for a file; ``read()`` gives its bytes,
        called only when the size/mtime signature does not match."""
        entry = self.entries.get(rel)
        if entry is not None and entry.get("sig") == signature:
            return entry.get("hash"), entry
        digest = content_hash(read())
        if entry is not None and entry.get("hash") == digest:
            entry["sig"] = signature
            self.dirty = True
            return digest, entry
        return digest, None

    def store(self, rel: str, signature: list[int], digest: str, pass1: dict[str, Any]) -> None:
        self.entries[rel] = {"sig": signature, "hash": digest, "p1": pass1, "p2": {}}
        self.dirty = True

    def store_second(self, rel: str, seeders_digest: str, payload: dict[str, Any]) -> None:
        entry = self.entries.get(rel)
        if entry is not None:
            entry.setdefault("p2", {})[seeders_digest] = payload
            self.dirty = True

    def save(self, keep: set[str]) -> None:
        if not self.dirty and set(self.entries) <= keep:
            return
        entries = {rel: entry for rel, entry in self.entries.items() if rel in keep}
        try:
            self.directory.mkdir(exist_ok=True)
            ignore = self.directory / ".gitignore"
            if not ignore.exists():
                ignore.write_text("# Created by mlrepro: the lint cache is never committed.\n*\n", encoding="utf-8")
            handle, temp = tempfile.mkstemp(prefix=".lint-", suffix=".tmp", dir=self.directory)
        except OSError:
            return  # a read-only checkout lints fine without a cache
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(entries, out, separators=(",", ":"))
            os.replace(temp, self.path)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                os.unlink(temp)
