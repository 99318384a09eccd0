"""The project index: how the modules of one project fit together.

Built from every module's facts (``facts.py``): the import graph of the project's own modules
(packages, ``src/`` layouts, relative imports, scripts that import their siblings), which
modules run as entry points, and which functions seed generators, followed through helpers that
call helpers and through re-exports. The lint engine asks it two questions:

- what does a module call a seeding helper by (``utils.set_seed`` -> torch, numpy, ...), so the
  per-file seed rules see the helper as a seed;
- who runs a module: the entry points that reach it through imports, so that randomness in a
  library module is judged by whether those entry points seed that generator.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from mlrepro.lint.facts import ModuleFacts
from mlrepro.lint.seeding import CONDITIONAL, FALLBACK, UNSET_SEED

# Files that run code at import time without being anybody's training entry point.
_NEVER_ENTRY = frozenset({"__init__.py", "setup.py", "conftest.py", "noxfile.py", "__main__.py"})
_MAX_HOPS = 8  # re-exports and helper chains followed at most this deep
_SCRIPT_TOKEN = re.compile(r"(?:^|[\s\"'=])((?:[\w.-]+/)*[\w.-]+\.py)\b|-m\s+([\w.]+)")


@dataclass(frozen=True)
class Hop:
    """How an entry point reaches a module: the import line in the entry point it goes through."""

    row: int
    via: str  # the project module that import names (relative path)


class ProjectIndex:
    def __init__(
        self, facts: Mapping[str, ModuleFacts], declared_entries: Iterable[str] = (), config_targets: Iterable[str] = (),
    ) -> None:
        self.facts = dict(facts)
        dirs = {str(PurePosixPath(rel).parent) for rel in self.facts}
        self._src = any(d == "src" or d.startswith("src/") for d in dirs)
        self._root_cache: dict[str, list[str]] = {}
        # The first component a module name can have under each directory (``utils`` for
        # utils.py or utils/): most imports name other packages and fail this one lookup.
        self._heads: dict[str, set[str]] = {}
        for rel in self.facts:
            parts = rel.split("/")
            for i in range(len(parts)):
                head = parts[i][:-3] if i == len(parts) - 1 and parts[i].endswith(".py") else parts[i]
                self._heads.setdefault("/".join(parts[:i]), set()).add(head)
        self._module_cache: dict[tuple[str, str, int], str | None] = {}
        self._edges: dict[str, list[tuple[str, int]]] = {rel: self._resolve_imports(rel) for rel in self.facts}
        self._add_config_edges(config_targets)
        imported: set[str] = {target for edges in self._edges.values() for target, _ in edges}
        declared = set(declared_entries)
        self.entries: frozenset[str] = frozenset(
            rel for rel, f in self.facts.items()
            if f.main_guard or rel in declared or (
                f.top_level_code and rel not in imported and PurePosixPath(rel).name not in _NEVER_ENTRY
            )
        )
        self._reverse: dict[str, list[str]] = {}
        for rel, edges in self._edges.items():
            for target, _ in edges:
                self._reverse.setdefault(target, []).append(rel)
        self.seeders = self._seeders()
        self._by_module: dict[str, dict[str, frozenset[str]]] = {}
        for (module, name), gens in self.seeders.items():
            self._by_module.setdefault(module, {})[name] = gens

    # -- modules -----------------------------------------------------------------------------
    def _module_file(self, base: str, dotted: str) -> str | None:
        parts = [p for p in dotted.split(".") if p]
        if parts and parts[0] not in self._heads.get(base, ()):
            return None
        stem = "/".join(([base] if base else []) + parts)
        for candidate in (f"{stem}.py", f"{stem}/__init__.py" if stem else "__init__.py"):
            if candidate in self.facts:
                return candidate
        return None

    def _roots(self, directory: str) -> list[str]:
        """Where an absolute import may be found: the importer's directory and every directory
        above it (scripts put their own or a parent directory on ``sys.path``), and ``src/``."""
        roots = self._root_cache.get(directory)
        if roots is None:
            roots = []
            current = directory
            while current:
                roots.append(current)
                current = current.rpartition("/")[0]
            roots.append("")
            if self._src:
                roots.append("src")
            self._root_cache[directory] = roots
        return roots

    def resolve_module(self, importer: str, module: str, level: int) -> str | None:
        directory = importer.rpartition("/")[0]
        key = (directory, module, level)
        if key in self._module_cache:
            return self._module_cache[key]
        found: str | None = None
        if level:
            base = directory
            for _ in range(level - 1):
                base = base.rpartition("/")[0]
            found = self._module_file(base, module)
        elif module:
            for root in self._roots(directory):
                found = self._module_file(root, module)
                if found is not None:
                    break
        self._module_cache[key] = found
        return found

    def _resolve_imports(self, rel: str) -> list[tuple[str, int]]:
        edges: list[tuple[str, int]] = []
        for module, level, names, line in self.facts[rel].imports:
            parts = module.split(".") if module else []
            # ``import a.b.c`` runs a/__init__, a/b/__init__ and a/b/c.
            for i in range(1, len(parts) + 1):
                found = self.resolve_module(rel, ".".join(parts[:i]), level)
                if found is not None and found != rel:
                    edges.append((found, line))
            if level and not parts:
                found = self.resolve_module(rel, "", level)
                if found is not None and found != rel:
                    edges.append((found, line))
            for name in names or ():
                found = self.resolve_module(rel, ".".join([*parts, name]), level)
                if found is not None and found != rel:
                    edges.append((found, line))
        return edges

    def _add_config_edges(self, targets: Iterable[str]) -> None:
        """Hydra builds objects from ``_target_: pkg.models.Net`` in its YAML configs: the modules
        named there are imported by every module that uses Hydra, at its ``hydra`` import."""
        modules = {found[0] for t in targets if (found := self.resolve_symbol("", t)) is not None}
        if not modules:
            return
        for rel, facts in self.facts.items():
            if not facts.hydra:
                continue
            line = next((ln for m, _, _, ln in facts.imports if m == "hydra" or m.startswith("hydra.")), 1)
            self._edges[rel].extend((m, line) for m in sorted(modules) if m != rel)

    def imported_names(self, importer: str) -> dict[str, set[str] | None]:
        """For each module ``importer`` imports directly: the names it takes from it
        (``from m import a, b``), or None when it takes the module whole."""
        found: dict[str, set[str] | None] = {}
        for module, level, names, _ in self.facts[importer].imports:
            target = self.resolve_module(importer, module, level) if module or level else None
            if names is None or "*" in names:
                if target is not None:
                    found[target] = None
                continue
            for name in names:
                sub = self.resolve_module(importer, f"{module}.{name}" if module else name, level)
                if sub is not None:
                    found[sub] = None
                elif target is not None and found.get(target, set()) is not None:
                    found.setdefault(target, set()).add(name)  # type: ignore[union-attr]
        for target, line in self._edges.get(importer, ()):
            found.setdefault(target, None)  # edges of another kind (Hydra configs) take it whole
        return found

    def resolve_symbol(self, importer: str, qualified: str, depth: int = 0) -> tuple[str, str | None] | None:
        """(module file, attribute or None) that ``qualified`` names as seen from ``importer``
        (``.utils.set_seed``, ``mingpt.utils.set_seed``), following re-exports."""
        level = len(qualified) - len(qualified.lstrip("."))
        parts = qualified[level:].split(".")
        for cut in range(len(parts), 0, -1):
            found = self.resolve_module(importer, ".".join(parts[:cut]), level)
            if found is None:
                continue
            rest = parts[cut:]
            if not rest:
                return found, None
            if len(rest) == 1:
                return self._follow(found, rest[0], depth)
            return None
        if level and len(parts) == 1:  # ``from . import set_seed``: a name of the package itself
            package = self.resolve_module(importer, "", level)
            if package is not None:
                return self._follow(package, parts[0], depth)
        return None

    def _follow(self, module: str, name: str, depth: int) -> tuple[str, str | None] | None:
        facts = self.facts[module]
        if name in facts.functions or depth >= _MAX_HOPS:
            return module, name
        bound = facts.bindings.get(name)
        if bound is not None:
            return self.resolve_symbol(module, bound, depth + 1) or (module, name)
        return module, name

    # -- seeding helpers ---------------------------------------------------------------------
    def _seeders(self) -> dict[tuple[str, str], frozenset[str]]:
        """(module, function) -> generators it seeds, through the helpers it calls."""
        seeds: dict[tuple[str, str], set[str]] = {}
        # (caller) -> [(callee, whether the caller passes it a seed that is None by default)]
        calls: dict[tuple[str, str], list[tuple[tuple[str, str], bool]]] = {}
        for rel, facts in self.facts.items():
            for name, (generators, callees) in facts.functions.items():
                if generators:
                    seeds[(rel, name)] = set(generators)
                targets = []
                for marked in callees:
                    callee = marked.removesuffix(UNSET_SEED)
                    unset = callee != marked
                    if "." not in callee and callee in facts.functions:
                        targets.append(((rel, callee), unset))
                    else:
                        found = self.resolve_symbol(rel, facts.bindings.get(callee, callee))
                        if found is not None and found[1] is not None:
                            targets.append(((found[0], found[1]), unset))
                if targets:
                    calls[(rel, name)] = targets
        for _ in range(_MAX_HOPS):
            changed = False
            for key, targets in calls.items():
                for target, unset in targets:
                    found = seeds.get(target, set())
                    # A fallback names the target's own parameter: it does not carry over to callers,
                    # except that a caller passing it an unset seed seeds only conditionally.
                    extra = {g for g in found if not g.startswith(FALLBACK)}
                    if unset and any(g.startswith(FALLBACK) for g in found):
                        extra = {g if g.startswith(CONDITIONAL) else CONDITIONAL + g for g in extra}
                    if extra and not extra <= seeds.get(key, set()):
                        seeds.setdefault(key, set()).update(extra)
                        changed = True
            if not changed:
                break
        return {key: frozenset(gens) for key, gens in seeds.items() if gens}

    def seeders_for(self, rel: str) -> dict[str, frozenset[str]]:
        """The project's seeding helpers by the qualified names ``rel`` calls them with."""
        found: dict[str, frozenset[str]] = {}
        if not self.seeders:
            return found
        by_module = self._by_module
        for local, qualified in self.facts[rel].bindings.items():
            target = self.resolve_symbol(rel, qualified)
            if target is None or target[0] == rel:
                continue
            module, attr = target
            if attr is not None:
                gens = self.seeders.get((module, attr))
                if gens:
                    found[qualified] = gens
                continue
            for name, gens in by_module.get(module, {}).items():
                found[f"{qualified}.{name}"] = gens
            # Names the module re-exports from elsewhere (``from .random import random_seed``).
            for name, bound in self.facts[module].bindings.items():
                if name in by_module.get(module, {}):
                    continue
                inner = self.resolve_symbol(module, bound)
                if inner is not None and inner[1] is not None and (gens := self.seeders.get((inner[0], inner[1]))):
                    found[f"{qualified}.{name}"] = gens
        return found

    # -- who runs what -------------------------------------------------------------------------
    def reached_from(self, entry: str, depth: int) -> dict[str, Hop]:
        """The project modules ``entry`` imports, up to ``depth`` imports away, with the first hop.

        Package ``__init__`` modules are not followed (``import fairseq`` is not a use of all of
        fairseq). Another entry point is followed as a library: importing it does not run its
        ``__main__`` block, which is for its own judgement.
        """
        hops: dict[str, Hop] = {}
        frontier: list[str] = []
        for target, line in self._edges.get(entry, ()):
            if target not in hops and self._followed(target, entry):
                hops[target] = Hop(line, target)
                frontier.append(target)
        for _ in range(depth - 1):
            following: list[str] = []
            for current in frontier:
                for target, _ in self._edges.get(current, ()):
                    if target not in hops and self._followed(target, entry):
                        hops[target] = hops[current]
                        following.append(target)
            frontier = following
        return hops

    def _followed(self, target: str, entry: str) -> bool:
        return target != entry and PurePosixPath(target).name != "__init__.py"

    def is_imported(self, rel: str) -> bool:
        return bool(self._reverse.get(rel))

    def entries_reaching(self, module: str) -> list[str]:
        """The entry points that import ``module`` directly or not (itself, if it is one)."""
        seen = {module}
        queue = deque([module])
        while queue:
            current = queue.popleft()
            for importer in self._reverse.get(current, ()):
                if importer not in seen:
                    seen.add(importer)
                    queue.append(importer)
        return sorted(rel for rel in seen if rel in self.entries)


def declared_entry_points(texts: Mapping[str, str], modules: Iterable[str]) -> set[str]:
    """Scripts named by ``MLproject`` / ``dvc.yaml`` commands and ``[project.scripts]`` targets.

    ``texts`` maps a file name (``MLproject``, ``dvc.yaml``, ``pyproject.toml``) to its text;
    ``modules`` are the project's module paths, to map ``-m pkg.train`` and ``pkg.cli:main``.
    """
    known = set(modules)
    found: set[str] = set()

    def add_module(dotted: str) -> None:
        stem = dotted.replace(".", "/")
        for candidate in (f"{stem}.py", f"src/{stem}.py", f"{stem}/__main__.py", f"src/{stem}/__main__.py"):
            if candidate in known:
                found.add(candidate)

    for name, text in texts.items():
        if name == "pyproject.toml":
            for match in re.finditer(r"=\s*[\"']([\w.]+):[\w.]+[\"']", text):
                add_module(match.group(1))
            continue
        for match in _SCRIPT_TOKEN.finditer(text):
            script, module = match.group(1), match.group(2)
            if script:
                script = script.lstrip("./")
                if script in known:
                    found.add(script)
            elif module:
                add_module(module)
    return found
