"""Tracking hygiene (MLR3xx): experiment runs whose record says something other than what ran.

A run that is started but not closed on every path ends however the tracker's exit hook
decides: MLflow's marks a crashed script FINISHED, W&B's marks it crashed or leaves a notebook
run open to swallow the next experiment's metrics. A ``with`` block closes the run on every
path and records the failure; a ``finally:`` at least closes it.

When is a run closed? (the same for W&B and MLflow)

* the start call is a ``with`` item (or handed to ``ExitStack.enter_context``): closed;
* the run is returned to the caller (``return wandb.init()``, ``run = ...; return run``): the
  caller owns it, quiet;
* a finish call (``wandb.finish()`` / ``mlflow.end_run()`` anywhere in the module, or
  ``<run>.finish()`` on the variable the run was assigned to) sits in a ``finally:``: closed;
* start and finish live in two different functions (``setup``/``teardown``, a callback's
  ``on_train_start``/``on_train_end``): the caller of the pair owns the ``try``, quiet;
* a finish call exists but not in a ``finally:``: a finding (a crash skips it);
* no finish call: a finding.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mlrepro.lint.context import ModuleContext, Site, mentions

Hit = tuple[ast.AST, str]

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_TRIES: tuple[type[ast.AST], ...] = (ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Tracker:
    start: str  # the call that starts a run
    finishers: frozenset[str]  # module functions that end the active run
    method: str | None  # ``run.<method>()`` ends the run held in ``run``
    display_finish: str
    ended: str  # the tracker's own word for it
    crash: str  # what happens to the run when an exception skips the finish call


_WANDB = _Tracker(
    start="wandb.init",
    finishers=frozenset({"wandb.finish", "wandb.run.finish"}),
    method="finish",
    display_finish="wandb.finish()",
    ended="finished",
    crash="the run ends 'crashed' or stays open for the next `wandb.init()`",
)
# An ActiveRun has no end method of its own: ``mlflow.end_run()`` or a ``with`` block end it.
_MLFLOW = _Tracker(
    start="mlflow.start_run",
    finishers=frozenset({"mlflow.end_run", "mlflow.tracking.fluent.end_run"}),
    method=None,
    display_finish="mlflow.end_run()",
    ended="ended",
    crash="MLflow's exit hook records the run as FINISHED",
)


def _in_finally(site: Site) -> bool:
    path = (*site.ancestors, site.node)
    for index in range(len(path) - 2, -1, -1):
        parent, child = path[index], path[index + 1]
        if isinstance(parent, _SCOPES):
            return False
        if isinstance(parent, _TRIES) and any(child is stmt for stmt in parent.finalbody):  # type: ignore[attr-defined]
            return True
    return False


def _closed_by_syntax(site: Site) -> bool:
    """``with wandb.init() as run:`` / ``stack.enter_context(mlflow.start_run())``."""
    parent = site.ancestors[-1] if site.ancestors else None
    if isinstance(parent, ast.withitem) and parent.context_expr is site.node:
        return True
    return (
        isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute)
        and parent.func.attr == "enter_context" and any(arg is site.node for arg in parent.args)
    )


def _holders(site: Site) -> list[ast.expr]:
    """The names / attributes the started run is assigned to."""
    parent = site.ancestors[-1] if site.ancestors else None
    if isinstance(parent, ast.Assign) and parent.value is site.node:
        return [t for t in parent.targets if isinstance(t, (ast.Name, ast.Attribute))]
    if isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.value is site.node:
        return [parent.target] if isinstance(parent.target, (ast.Name, ast.Attribute)) else []
    return []


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """Nodes of this scope, not of the functions and classes nested in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def _handed_on(scope: ast.AST, holders: set[str]) -> bool:
    """``return run`` / ``with run:``: the run's lifetime is managed elsewhere. (``yield run``
    is not: a context manager that yields the run still needs its ``finally:``.)

    These lines mention no tracker name, so the pruned walk never saw them: read the scope."""
    for node in _own_nodes(scope):
        if isinstance(node, ast.Return) and node.value is not None and ast.unparse(node.value) in holders:
            return True
        if isinstance(node, ast.withitem) and ast.unparse(node.context_expr) in holders:
            return True
    return False


def _enclosing_class(site: Site) -> ast.ClassDef | None:
    found = site.enclosing(ast.ClassDef)
    return found if isinstance(found, ast.ClassDef) else None


def _unclosed(ctx: ModuleContext, tracker: _Tracker) -> Iterator[Hit]:
    for site, _ in ctx.calls_matching(lambda n: n == tracker.start):
        if _closed_by_syntax(site) or isinstance(site.ancestors[-1], ast.Return):
            continue
        holders = {ast.unparse(h) for h in _holders(site)}
        function = site.function
        scope: ast.AST = function if function is not None else ctx.tree
        if holders and _handed_on(scope, holders):
            continue
        finishes: list[Site] = []
        for other in ctx.calls:
            call = other.node
            assert isinstance(call, ast.Call)
            if ctx.call_name(call) in tracker.finishers:
                finishes.append(other)
            elif (
                tracker.method and isinstance(call.func, ast.Attribute) and call.func.attr == tracker.method
                and ast.unparse(call.func.value) in holders
                # A local name means nothing outside its function; ``self.run`` means the same
                # in every method of the class; a module-level name, everywhere.
                and (function is None or other.function is function or _enclosing_class(other) is _enclosing_class(site) is not None)
            ):
                finishes.append(other)
        if any(_in_finally(f) for f in finishes):
            continue
        if function is not None and any(f.function is not None and f.function is not function for f in finishes):
            continue
        if finishes:
            finish = ast.unparse(finishes[0].node.func)  # type: ignore[attr-defined]
            yield site.node, (
                f"`{finish}()` is not in a `finally:`: an exception skips it and {tracker.crash}; "
                f"use `with {tracker.start}(...) as run:`"
            )
        else:
            yield site.node, (
                f"`{tracker.start}()` starts a run that is never {tracker.ended}: use `with {tracker.start}(...) as run:` "
                f"or call `{tracker.display_finish}` in a `finally:`"
            )


def wandb_run_not_finished(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR301: ``wandb.init()`` without a ``with`` block or a ``finish()`` in a ``finally:``."""
    yield from _unclosed(ctx, _WANDB)


def mlflow_run_not_ended(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR302: ``mlflow.start_run()`` without a ``with`` block or ``end_run()`` in a ``finally:``."""
    yield from _unclosed(ctx, _MLFLOW)


_ORDERINGS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _is_quality_gate(test: ast.expr) -> bool:
    """An ``if`` that ranks a value (``val_acc > best``), or asks whether this is the best.

    ``==``, ``is None``, ``in`` do not rank anything: ``if __name__ == "__main__":`` and
    ``if epoch % 10 == 0:`` still log every run's model."""
    for node in ast.walk(test):
        if isinstance(node, ast.Compare) and any(isinstance(op, _ORDERINGS) for op in node.ops):
            return True
    return mentions(test, "best")


def _gated(site: Site) -> bool:
    child: ast.AST = site.node
    for ancestor in reversed(site.ancestors):
        if isinstance(ancestor, (ast.If, ast.IfExp)) and child is not ancestor.test and _is_quality_gate(ancestor.test):
            return True
        if isinstance(ancestor, _SCOPES):
            return False
        child = ancestor
    return False


def _callers(ctx: ModuleContext, function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[Site]:
    ctx.include_names([function.name])
    found = []
    for site in ctx.calls:
        func = site.node.func  # type: ignore[attr-defined]
        if (isinstance(func, ast.Name) and func.id == function.name) or (
            isinstance(func, ast.Attribute) and func.attr == function.name
            and isinstance(func.value, ast.Name) and func.value.id in {"self", "cls"}
        ):
            if site.function is not function:
                found.append(site)
    return found


def unguarded_log_model(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR303: ``mlflow.<flavor>.log_model()`` on every run, with no metric compared first.

    A helper such as ``def save(model): mlflow.sklearn.log_model(...)`` is gated when every call
    of it in this module is."""
    for site, name in ctx.calls_matching(lambda n: n.startswith("mlflow.") and n.endswith(".log_model")):
        if _gated(site):
            continue
        function = site.function
        if function is not None:
            callers = _callers(ctx, function)
            if callers and all(_gated(c) for c in callers):
                continue
        yield site.node, (
            f"`{name}()` logs a model on every run, good or bad: no `if` compares a metric first "
            "(`if val_score > best_score:`), so the artifact store fills with unusable models"
        )


# A model URI that names one run, one version or "whatever was registered last": a literal
# prefix of the URI shows it; "\0" stands for a value computed at run time.
_PINNED_URI = re.compile(r"(?:runs:/|models:/(?:[^/@\0]+|\0)/(?P<version>\d+|latest)(?:/|$)|models:/(?P<model_id>m-[0-9a-f]{8,})(?:/|$))")
_URI_KEYWORDS = ("model_uri", "artifact_uri")
_SHOWN_URI = 60


def _is_loader(name: str) -> bool:
    """``mlflow.pyfunc.load_model``, ``mlflow.<flavor>.load_model``, ``mlflow.artifacts.download_artifacts``."""
    return (name.startswith("mlflow.") and name.endswith(".load_model")) or name == "mlflow.artifacts.download_artifacts"


def _uri_text(expr: ast.AST | None) -> str | None:
    """The literal text of a URI expression, with ``\\0`` for each computed part; None when no
    part of it is literal."""
    if isinstance(expr, ast.Constant):
        return expr.value if isinstance(expr.value, str) else None
    if isinstance(expr, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "\0" for v in expr.values]
        return "".join(parts) if any(p != "\0" for p in parts) else None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):  # "runs:/" + run_id + "/model"
        left, right = _uri_text(expr.left), _uri_text(expr.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "\0") + (right if right is not None else "\0")
    return None


def _assigned_uri(ctx: ModuleContext, site: Site, name: str) -> ast.expr | None:
    """``MODEL_URI = "runs:/..."`` earlier in the same function or at module level. Only lines
    that spell a model URI are visited (the ``runs:/`` and ``models:/`` keywords), so only
    literal assignments are seen: exactly the ones that matter."""
    row = getattr(site.node, "lineno", 0)
    found: ast.expr | None = None
    for assign in ctx.sites(ast.Assign):
        node = assign.node
        assert isinstance(node, ast.Assign)
        if node.lineno >= row or assign.function not in (None, site.function):
            continue
        if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            found = node.value  # sites are in source order: the last one before the call wins
    return found


def _pinned(text: str) -> str | None:
    match = _PINNED_URI.match(text)
    if match is None:
        return None
    if match.group("model_id"):
        return "one logged model by its id"
    version = match.group("version")
    if version == "latest":
        return "whatever version was registered last: every new registration goes live without a gate"
    if version:
        return f"version {version} for good: promoting or rolling back in the registry does not change what serves"
    return "a model straight from one run's artifacts, around the registry"


def model_loaded_by_run_or_version(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR305: serving code loads ``runs:/<id>/...``, ``models:/name/3`` or ``models:/name/latest``."""
    for site, name in ctx.calls_matching(_is_loader):
        call = site.node
        assert isinstance(call, ast.Call)
        uri = next((kw.value for kw in call.keywords if kw.arg in _URI_KEYWORDS), call.args[0] if call.args else None)
        if isinstance(uri, ast.Name):
            uri = _assigned_uri(ctx, site, uri.id)
        text = _uri_text(uri)
        what = _pinned(text) if text is not None else None
        if what is None:
            continue
        shown = text.replace("\0", "{...}")
        if len(shown) > _SHOWN_URI:
            shown = shown[: _SHOWN_URI - 3] + "..."
        yield call, (
            f"`{name}()` loads '{shown}', {what}; load by alias or stage "
            "(`models:/<name>@champion`, `models:/<name>/Production`) so that the registry decides what serves"
        )
