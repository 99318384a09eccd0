"""Project-wide lint: the files named are reported on; the whole project is read to judge them.

1. Every module of the project is linted on its own (or taken from the cache) and its facts kept.
2. The project index resolves imports and seeding helpers; a module that calls a project helper
   is linted again knowing what the helper seeds.
3. Findings that draw from a generator (``facts.GENERATOR_OF_CODE``) are judged where the code
   runs: a library module's draw is not reported when every entry point that imports it and
   trains seeds that generator; an entry point that trains, imports it and leaves the generator
   unseeded gets the finding instead, at the import, naming the module and the draw. A module
   no entry point reaches is judged on its own, as before; a script's own code (and a module's
   ``__main__`` block) is judged by the script's own seeds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlrepro.findings import Finding, Location
from mlrepro.lint.cache import LintCache, cache_key
from mlrepro.lint.engine import Linter, display_path
from mlrepro.lint.facts import GENERATOR_OF_CODE, TRAINING_NAME, ModuleFacts
from mlrepro.lint.project import ProjectIndex, declared_entry_points
from mlrepro.lint.source_file import SourceFileError, read_source, relative_to, safe_resolve
from mlrepro.suppression import line_suppresses

_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
_TARGET = re.compile(r"^\s*_target_\s*:\s*[\"']?([A-Za-z_][\w.]*)", re.M)
_MAX_CONFIGS = 2000
_NOT_CONFIGS = frozenset({"node_modules", "venv", "site-packages", "build", "dist", "mlruns", "wandb", "outputs", "logs"})
_DECLARATIONS = ("MLproject", "dvc.yaml", "pyproject.toml")

# How far from an entry point its imports are followed: draws in the modules it imports itself
# (``from model import Net``); conv layers one module further (a model factory and its models).
# Deeper, a library's random paths are mostly not the ones the script takes.
_LAYER_DEPTH = 2

# Findings that matter only where a model is trained: an evaluation script's cuDNN autotuning
# and loader workers change no weights, and the weights its framework initialises are replaced
# by the checkpoint it loads. Python's and NumPy's draws still count there (a sampled subset, a
# data split), unless the script only makes figures (``facts.plots_only``).
_TRAINING_ONLY = frozenset({"MLR202", "MLR112"})
_MODEL_GENERATORS = frozenset({"torch", "cudnn", "tensorflow"})

_DRAWS = {
    "random": ("Python's global `random` generator", "`random.seed(...)`"),
    "numpy": ("NumPy's global generator", "`np.random.seed(...)`"),
    "torch": ("torch's global generator", "`torch.manual_seed(...)`"),
    "tensorflow": ("TensorFlow's global generator", "`tf.random.set_seed(...)` or `keras.utils.set_random_seed(...)`"),
}


def project_root(settings_root: Path, has_config: bool, cwd: Path, reported: Iterable[Path] = ()) -> Path:
    """The project whose modules are read: where the configuration lives; else the nearest
    directory with a project marker (``pyproject.toml``, ``setup.py``, ``.git``) above the files
    reported on (or ``cwd``); else the directory that holds them all (never more: linting a
    script in a home directory must not read the whole home directory)."""
    if has_config:
        return settings_root
    paths = [safe_resolve(p) for p in reported]
    start = Path(os.path.commonpath([str(p) for p in paths])) if paths else cwd
    if start.is_file():
        start = start.parent
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in _MARKERS):
            return directory
    return start


@dataclass
class _Module:
    path: Path
    findings: list[Finding]
    facts: ModuleFacts | None


def _encode(findings: list[Finding], facts: ModuleFacts | None) -> dict[str, Any]:
    rows = [
        [f.code, f.message, f.location.row if f.location else 1, f.location.column if f.location else 1,
         f.end_location.row if f.end_location else None, f.end_location.column if f.end_location else None, f.cell]
        for f in findings
    ]
    return {"findings": rows, "facts": facts.to_json() if facts is not None else None}


class ProjectLinter:
    def __init__(self, linter: Linter, root: Path, cwd: Path, use_cache: bool = True) -> None:
        self.linter = linter
        self.root = root
        self.cwd = cwd
        self.cache = LintCache(root, cache_key(self._fingerprint())) if use_cache else None
        self._reach: dict[tuple[str, int], dict[str, Any]] = {}
        self._codes: dict[str, set[str]] = {}
        self._moved: dict[str, list[Finding]] = {}
        self._analysed: dict[str, _Module] = {}
        # Display path -> the seeding helpers the module calls (for ``lint --fix``).
        self.seeders: dict[str, dict[str, frozenset[str]]] = {}

    def _fingerprint(self) -> str:
        s = self.linter.settings
        return json.dumps(
            [sorted(self.linter.enabled), sorted(self.linter.rules), s.per_file_ignores, s.seed_functions, s.max_file_bytes],
            default=str,
        )

    def _display(self, path: Path) -> str:
        return display_path(path, self.cwd)

    def _decode(self, payload: dict[str, Any], display: str) -> tuple[list[Finding], ModuleFacts | None]:
        findings = []
        for code, message, row, col, end_row, end_col, cell in payload["findings"]:
            rule = self.linter.rules.get(code)
            if rule is None:
                continue
            findings.append(Finding(
                code=code, name=rule.name, message=message, severity=rule.severity, filename=display,
                location=Location(row, col), end_location=Location(end_row, end_col) if end_row else None,
                cell=cell, fix=rule.fix, url=rule.url,
            ))
        facts = ModuleFacts.from_json(payload["facts"]) if payload.get("facts") else None
        return findings, facts

    # -- pass 1 and 2 ------------------------------------------------------------------------
    def _first_pass(self, modules: dict[str, Path], jobs: int) -> dict[str, _Module]:
        done: dict[str, _Module] = {}
        todo: list[tuple[str, Path, list[int], str | None]] = []
        for rel, path in modules.items():
            try:
                stat = path.stat()
            except OSError:
                todo.append((rel, path, [], None))
                continue
            signature = [stat.st_size, stat.st_mtime_ns]
            if self.cache is None:
                todo.append((rel, path, signature, None))
                continue
            max_bytes = self.linter.settings.max_file_bytes
            try:
                digest, entry = self.cache.lookup(rel, signature, lambda: read_source(path, max_bytes))
            except SourceFileError:
                digest, entry = None, None  # the lint reports why it cannot read the file
            if entry is not None and isinstance(entry.get("p1"), dict):
                findings, facts = self._decode(entry["p1"], self._display(path))
                done[rel] = _Module(path, findings, facts)
            else:
                todo.append((rel, path, signature, digest))
        items = [(str(path), self._display(path)) for _, path, _, _ in todo]
        for (rel, path, signature, digest), (findings, facts) in zip(todo, _analyse_all(self.linter, items, jobs)):
            done[rel] = _Module(path, findings, facts)
            if self.cache is not None and digest is not None:
                self.cache.store(rel, signature, digest, _encode(findings, facts))
        return done

    def _second_pass(self, index: ProjectIndex, modules: dict[str, _Module]) -> None:
        for rel, module in modules.items():
            if module.facts is None:
                continue
            seeders = index.seeders_for(rel)
            if not seeders:
                continue
            self.seeders[self._display(module.path)] = seeders
            digest = hashlib.blake2b(json.dumps(sorted((k, sorted(v)) for k, v in seeders.items())).encode(), digest_size=8).hexdigest()
            entry = self.cache.entries.get(rel) if self.cache is not None else None
            payload = (entry or {}).get("p2", {}).get(digest)
            display = self._display(module.path)
            if isinstance(payload, dict):
                findings, facts = self._decode(payload, display)
            else:
                findings, facts = self.linter.analyse(module.path, display, seeders, want_facts=True)
                if self.cache is not None:
                    self.cache.store_second(rel, digest, _encode(findings, facts))
            module.findings = findings
            if facts is not None:
                # The helper's seeds are the module's own now (the index holds the same facts
                # object); its calls stay as pass 1 saw them.
                module.facts.seeds = facts.seeds

    # -- the whole run -----------------------------------------------------------------------
    def lint(self, reported: list[Path], project_files: Iterable[Path], jobs: int) -> list[Finding]:
        modules: dict[str, Path] = {}
        outside: list[Path] = []
        for path in [*project_files, *reported]:
            rel = _relative(path, self.root)
            if rel is None:
                outside.append(path)
            else:
                modules.setdefault(rel, path)
        analysed = self._first_pass(modules, jobs)
        self._analysed = analysed
        facts = {rel: m.facts for rel, m in analysed.items() if m.facts is not None}
        index = ProjectIndex(facts, declared_entry_points(self._declarations(), facts), self._config_targets(facts))
        self._second_pass(index, analysed)
        if self.cache is not None:
            self.cache.save(set(modules))

        wanted = {rel for path in reported if (rel := _relative(path, self.root)) is not None}
        findings: list[Finding] = []
        for rel in sorted(wanted):
            module = analysed[rel]
            findings.extend(self._judged(index, rel, module))
            if rel in index.entries:
                findings.extend(self._relocated(index, rel))
        for path in dict.fromkeys(outside):
            findings.extend(self.linter.lint_file(path, self._display(path)))
        return findings

    def _declarations(self) -> dict[str, str]:
        texts = {}
        for name in _DECLARATIONS:
            try:
                texts[name] = (self.root / name).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
        return texts

    def _config_targets(self, facts: dict[str, ModuleFacts]) -> list[str]:
        """``_target_`` values of the project's YAML configs, when some module uses Hydra."""
        if not any(f.hydra for f in facts.values()):
            return []
        targets: list[str] = []
        for path in _config_files(self.root)[:_MAX_CONFIGS]:
            try:
                text = read_source(path, self.linter.settings.max_file_bytes).decode("utf-8", "replace")
            except SourceFileError:
                continue
            targets.extend(m.group(1) for m in _TARGET.finditer(text))
        return targets

    def _trains(self, index: ProjectIndex, rel: str) -> bool:
        """An entry point trains when it optimises something itself or calls a training
        function it imports by name (``from engine import train_one_epoch``) or through its
        module (``import train`` then ``train.train_and_evaluate(...)``)."""
        facts = index.facts[rel]
        if facts.trains:
            return True
        if any(TRAINING_NAME.match(name) is not None for names in index.imported_names(rel).values() if names for name in names):
            return True
        return any(index.resolve_symbol(rel, name) is not None for name in facts.training_calls)

    def _seeds(self, index: ProjectIndex, rel: str) -> set[str]:
        facts = index.facts.get(rel)
        return set(facts.seeds) if facts is not None else set()

    def _judged(self, index: ProjectIndex, rel: str, module: _Module) -> list[Finding]:
        """The module's own findings, judged where the module runs.

        What runs as the module's own script (a script nothing imports, or the ``__main__``
        block of one that is also imported) is judged by the module's own seeds, as before; an
        entry point that only evaluates does not report its frameworks' draws (model
        initialisation, dropout), cuDNN autotuning or loader workers, and one that only draws
        figures (and writes no data) none of its draws. The rest is library code: a draw stays where it is written when no
        entry point reaches it, or when an entry point that trains leaves its generator unseeded
        and imports the module too indirectly to be told at its import (``_relocated``).
        """
        facts = module.facts
        if facts is None:
            return module.findings
        script = rel in index.entries and not index.is_imported(rel)
        trains = self._trains(index, rel) if rel in index.entries else True
        kept = []
        for finding in module.findings:
            generator = GENERATOR_OF_CODE.get(finding.code)
            row = finding.location.row if finding.location is not None and finding.cell is None else 0
            own = script or (rel in index.entries and facts.in_main_block(row))
            if own and not trains and (
                generator in _MODEL_GENERATORS or finding.code in _TRAINING_ONLY or (generator is not None and facts.plots_only)
            ):
                continue
            if generator is None:
                kept.append(finding)
            elif own:
                if generator not in self._seeds(index, rel):
                    kept.append(finding)
            else:
                runner = self._runs_unseeded(index, rel, generator, finding.code, facts.definition_at(row))
                if runner == "":
                    kept.append(finding)
                elif runner is not None:
                    # Say which entry point leaves it unseeded: the fix goes there.
                    kept.append(replace(finding, message=f"{finding.message}; entry point `{runner}` runs it unseeded"))
        return kept

    def _runs_unseeded(self, index: ProjectIndex, rel: str, generator: str, code: str, definition: str | None) -> str | None:
        """The entry point that trains and runs this library draw with the generator unseeded,
        without being told so at its own lines (a finding of that rule there); "" when no
        entry point reaches the module (it is judged on its own); None when none runs it
        unseeded. An entry point that imports other names of the module (not the function or
        class the draw is in) does not run it, nor does one where the rule is off (tests and
        benchmarks by default: they draw on purpose, and they are not what trains)."""
        reaching = [e for e in index.entries_reaching(rel) if e != rel]
        if not reaching:
            return ""
        for e in reaching:
            names = index.imported_names(e).get(rel)
            if names is not None and definition is not None and definition not in names:
                continue
            if code not in self.linter._enabled_for(self._analysed[e].path):
                continue
            if (
                self._trains(index, e) and generator not in self._seeds(index, e)
                and _uses_framework(index.facts[e], generator) and code not in self._codes_at(index, e)
            ):
                return e
        return None

    def _codes_at(self, index: ProjectIndex, entry: str) -> set[str]:
        """The rules an entry point reports for generators: its own draws and those of the
        modules it imports (``_relocated``)."""
        if entry not in self._codes:
            module = self._analysed[entry]
            seeds = self._seeds(index, entry)
            codes = {
                f.code for f in module.findings
                if (g := GENERATOR_OF_CODE.get(f.code)) is not None and g not in seeds
            }
            codes |= {f.code for f in self._relocated(index, entry)}
            self._codes[entry] = codes
        return self._codes[entry]

    def _told(self, index: ProjectIndex, entry: str, code: str) -> dict[str, Any]:
        """The modules whose draws of this rule ``entry`` is told of at its imports."""
        depth = _LAYER_DEPTH if code == "MLR201" else 1
        key = (entry, depth)
        if key not in self._reach:
            self._reach[key] = index.reached_from(entry, depth)
        return self._reach[key]

    def _relocated(self, index: ProjectIndex, rel: str) -> list[Finding]:
        """Draws in the modules this entry point imports, for generators it leaves unseeded
        (computed once per entry point: the library judgement asks for them too)."""
        if rel not in self._moved:
            self._moved[rel] = self._relocate(index, rel, self._analysed[rel])
        return self._moved[rel]

    def _relocate(self, index: ProjectIndex, rel: str, module: _Module) -> list[Finding]:
        facts = module.facts
        if facts is None or not self._trains(index, rel):
            return []
        seeds = self._seeds(index, rel)
        own = {f.code for f in module.findings}
        enabled = self.linter._enabled_for(module.path)
        groups: dict[tuple[str, int], list[tuple[str, Finding | None, str]]] = {}
        direct = self._told(index, rel, "")
        taken = index.imported_names(rel)
        for target, hop in self._told(index, rel, "MLR201").items():
            other = self._analysed.get(target)
            if other is None:
                continue
            names = taken.get(target) if target in direct else None
            for finding in other.findings if target in direct else ():
                generator = GENERATOR_OF_CODE.get(finding.code)
                if generator is None or generator in seeds or finding.code in own or finding.code not in enabled:
                    continue
                if other.facts is not None and finding.location is not None and other.facts.in_main_block(finding.location.row):
                    continue  # the other module's own script, not what importing it runs
                if names is not None and other.facts is not None and finding.location is not None:
                    where = other.facts.definition_at(finding.location.row)
                    if where is not None and where not in names:
                        continue  # the entry point takes other names from that module
                groups.setdefault((finding.code, hop.row), []).append((target, finding, hop.via))
            layer = other.facts.cudnn_layer if other.facts is not None else None
            if (
                layer is not None and facts is not None and facts.uses_cuda and "cudnn" not in seeds
                and "MLR201" not in own and "MLR201" in enabled
            ):
                groups.setdefault(("MLR201", hop.row), []).append((target, None, hop.via))
        if not groups:
            return []
        # cuDNN determinism is one switch for the whole process: one finding, at the first import.
        layers = sorted(key for key in groups if key[0] == "MLR201")
        if len(layers) > 1:
            groups[layers[0]] = [item for key in layers for item in groups.pop(key)]
        lines, locate = _source_lines(module.path, self.linter.settings.max_file_bytes)
        display = self._display(module.path)
        found = []
        for (code, row), items in sorted(groups.items()):
            if line_suppresses(lines[row - 1] if 0 < row <= len(lines) else "", code):
                continue
            message = _message(code, items, index, conditional="MLR113" in own)
            cell, shown_row = locate(row)
            rule = self.linter.rules[code]
            found.append(Finding(
                code=code, name=rule.name, message=message, severity=rule.severity, filename=display,
                location=Location(shown_row, 1), cell=cell, fix=rule.fix, url=rule.url,
            ))
        return found


def _config_files(root: Path) -> list[Path]:
    """The YAML files of a project, outside hidden, virtualenv, build and run-output folders."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _NOT_CONFIGS)
        found.extend(Path(current) / name for name in sorted(files) if name.endswith((".yaml", ".yml")))
        if len(found) >= _MAX_CONFIGS:
            break
    return found


# Frameworks whose randomness an entry point must import to run: an entry point that trains a
# LightGBM model does not run the torch draws of a module it reaches through a shared helper.
_FRAMEWORKS = {
    "torch": ("torch", "lightning", "pytorch_lightning", "lightning_fabric", "transformers", "accelerate", "timm"),
    "cudnn": ("torch", "lightning", "pytorch_lightning", "lightning_fabric", "transformers", "accelerate", "timm"),
    "tensorflow": ("tensorflow", "keras", "tf_keras"),
}


def _uses_framework(facts: ModuleFacts, generator: str) -> bool:
    roots = _FRAMEWORKS.get(generator)
    if roots is None:
        return True
    return any(q.split(".", 1)[0] in roots for q in facts.bindings.values())


def _relative(path: Path, root: Path) -> str | None:
    return relative_to(path, root)


def _source_lines(path: Path, max_bytes: int) -> tuple[list[str], Any]:
    from mlrepro.lint.notebook import NotebookError, read_notebook

    try:
        data = read_source(path, max_bytes)
    except SourceFileError:
        return [], lambda row: (None, row)
    if path.suffix == ".ipynb":
        try:
            notebook = read_notebook(data)
        except NotebookError:
            return [], lambda row: (None, row)
        return notebook.source.splitlines(), notebook.locate
    return data.decode("utf-8", "replace").splitlines(), lambda row: (None, row)


def _where(target: str, finding: Finding | None, layer: tuple[int, int, str] | None) -> str:
    if finding is not None and finding.location is not None:
        cell = f"cell {finding.cell}:" if finding.cell else ""
        snippet = finding.message.split("`")[1] if finding.message.count("`") >= 2 else finding.code
        return f"`{snippet}` at {target}:{cell}{finding.location.row}"
    if layer is not None:
        return f"`{layer[2]}` at {target}:{layer[0]}"
    return target


def _message(code: str, items: list[tuple[str, Finding | None, str]], index: ProjectIndex, conditional: bool) -> str:
    target, finding, via = items[0]
    modules = sorted({t for t, _, _ in items})
    more = f" (and {len(items) - 1} more in {len(modules)} module{'s' if len(modules) > 1 else ''})" if len(items) > 1 else ""
    if code == "MLR201":
        layer = index.facts[target].cudnn_layer if target in index.facts else None
        return (
            f"this entry point runs on CUDA the convolution/recurrent layers that `{via}` brings in "
            f"({_where(target, finding, layer)}{more}) but never sets `torch.backends.cudnn.deterministic = True` "
            "or calls `torch.use_deterministic_algorithms(True)`: cuDNN may pick nondeterministic kernels"
        )
    generator = GENERATOR_OF_CODE[code]
    what, seeder = _DRAWS[generator]
    return (
        f"`{via}`, imported here, draws from {what} ({_where(target, finding, None)}{more}) "
        + ("and this entry point seeds it only when a seed is given (none is by default)" if conditional
           else f"and this entry point never seeds it ({seeder})")
    )


def _analyse_all(linter: Linter, items: list[tuple[str, str]], jobs: int) -> list[tuple[list[Finding], ModuleFacts | None]]:
    from mlrepro.lint import engine

    if jobs > 1 and len(items) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs, initializer=engine._init_worker, initargs=(linter.settings,)) as pool:
            return list(pool.map(_analyse_in_worker, items, chunksize=8))
    return [linter.analyse(Path(path), display, want_facts=True) for path, display in items]


def _analyse_in_worker(item: tuple[str, str]) -> tuple[list[Finding], ModuleFacts | None]:
    from mlrepro.lint import engine

    assert engine._WORKER is not None
    return engine._WORKER.analyse(Path(item[0]), item[1], want_facts=True)
