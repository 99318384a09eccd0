"""Which rules are on: ruff's select / ignore / extend-select by code prefix.

Layers are applied in order (the config file, then the command line). A layer with ``select``
starts from nothing; one without it starts from what the previous layer left on. Inside a
layer the most specific prefix wins, and ``ignore`` wins a tie, so ``select = ["MLR1"]`` with
``ignore = ["MLR101"]`` turns off MLR101 only, and ``ignore = ["MLR1"]`` with
``extend-select = ["MLR105"]`` keeps MLR105 alone of the 1xx family.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

ALL = "ALL"


@dataclass(frozen=True)
class SelectionLayer:
    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()


def normalise_selectors(values: Iterable[str], known_codes: Iterable[str], what: str) -> tuple[str, ...]:
    """Upper-case selectors and reject one that matches no rule, as ruff does: a typo or another
    tool's code (``E501``) would otherwise select nothing and report "All checks passed!".
    ``known_codes`` holds the team's rules too, so one shared ``ignore`` list works for every
    command."""
    known = tuple(known_codes)
    out: list[str] = []
    for raw in values:
        value = raw.strip().upper()
        if not value:
            continue
        if value != ALL and not any(code.startswith(value) for code in known):
            raise ValueError(f"{what}: {raw!r} matches no rule code")
        out.append(value)
    return tuple(out)


def _specificity(code: str, selectors: Sequence[str]) -> int:
    best = -1
    for selector in selectors:
        if selector == ALL:
            best = max(best, 0)
        elif code.startswith(selector):
            best = max(best, len(selector))
    return best


def resolve(codes: Iterable[str], layers: Iterable[SelectionLayer]) -> frozenset[str]:
    """The codes left enabled after every layer; everything is on before the first layer."""
    all_codes = tuple(codes)
    enabled = set(all_codes)
    for layer in layers:
        if layer.select is not None:
            carried: set[str] = set()
            selectors = layer.select + layer.extend_select
        else:
            carried = enabled
            selectors = layer.extend_select
        result: set[str] = set()
        for code in all_codes:
            picked = _specificity(code, selectors)
            dropped = _specificity(code, layer.ignore)
            if picked > dropped:
                result.add(code)
            elif dropped < 0 and code in carried:
                result.add(code)
        enabled = result
    return frozenset(enabled)


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore-flavoured glob: ``**`` crosses directories, ``*`` does not."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            char = pattern[i]
            if char == "*":
                out.append("[^/]*")
            elif char == "?":
                out.append("[^/]")
            elif char == "[":
                end = pattern.find("]", i + 1)
                if end == -1:
                    out.append(re.escape(char))
                else:
                    out.append(fnmatch.translate(pattern[i : end + 1])[4:-3])
                    i = end
            else:
                out.append(re.escape(char))
            i += 1
    return re.compile("".join(out) + r"(?:/.*)?\Z")


@dataclass(frozen=True)
class PathMatcher:
    """Globs matched against a path relative to the project root, or its basename when the
    glob has no slash (``test_*.py``), as ruff's ``exclude`` and ``per-file-ignores`` do."""

    patterns: tuple[str, ...]

    @functools.cached_property
    def _compiled(self) -> tuple[tuple[re.Pattern[str], bool], ...]:
        # Compiled on first use: linting one named file never needs the exclude globs.
        return tuple((glob_to_regex(p.strip("/")), "/" in p.strip("/")) for p in self.patterns)

    def matches(self, relative_posix: str) -> bool:
        parts = relative_posix.split("/")
        for regex, anchored in self._compiled:
            if anchored:
                if regex.match(relative_posix):
                    return True
            elif any(regex.match(part) for part in parts):
                return True
        return False
