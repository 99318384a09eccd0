"""Which backend Keras 3 runs a module on, read off the ``KERAS_BACKEND`` it sets.

The backend decides where Keras's randomness comes from and which kernels run. On the PyTorch
backend an unseeded ``Dropout`` takes torch's fast path and draws from torch's global generator,
``keras.utils.set_random_seed`` also calls ``torch.manual_seed``, and convolutions go through
cuDNN; weight initialisers draw from Keras's own seed state on every backend. Keras reads the
variable once, when ``keras`` is first imported, and defaults to TensorFlow: only a setting at
the module's top level, with a literal value, before its first top-level ``import keras``
chooses the backend. Anything else (set later, in a function, or to a computed value) leaves
the TensorFlow default, which is what the rules assumed before they knew of backends.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlrepro.lint.context import ModuleContext, constant, has_kwargs_splat, keyword

TENSORFLOW_BACKEND = "tensorflow"
TORCH_BACKEND = "torch"
JAX_BACKEND = "jax"
KERAS_BACKEND = "KERAS_BACKEND"

_SETTERS = frozenset({"os.environ.setdefault", "os.environ.update", "os.putenv"})
_TRIES: tuple[type[ast.AST], ...] = (ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()))  # type: ignore[attr-defined]


def _assigned(ctx: ModuleContext, node: ast.Assign, variable: str) -> Iterator[ast.expr | None]:
    """``os.environ[variable] = value``."""
    for target in node.targets:
        if isinstance(target, ast.Subscript) and ctx.qualname(target.value) == "os.environ" and constant(target.slice) == variable:
            yield node.value


def _called(call: ast.Call, name: str, variable: str) -> Iterator[ast.expr | None]:
    """The values a ``setdefault`` / ``update`` / ``putenv`` call gives ``variable`` (None: a
    mapping we cannot read, which may set it)."""
    if name != "os.environ.update":
        if len(call.args) >= 2 and constant(call.args[0]) == variable:
            yield call.args[1]
        return
    if has_kwargs_splat(call):
        yield None
    value = keyword(call, variable)
    if value is not None:
        yield value
    for arg in call.args:
        if not isinstance(arg, ast.Dict):
            yield None
            continue
        for key, item in zip(arg.keys, arg.values):
            if key is None:
                yield None
            elif constant(key) == variable:
                yield item


def environ_values(ctx: ModuleContext, variable: str) -> Iterator[ast.expr | None]:
    """Values this module gives an environment variable anywhere (None: set through a mapping
    we cannot read): ``os.environ[v] = x``, ``os.environ.setdefault(v, x)``, ``os.environ.update(...)``."""
    for site in ctx.sites(ast.Assign):
        node = site.node
        assert isinstance(node, ast.Assign)
        yield from _assigned(ctx, node, variable)
    for site, name in ctx.calls_matching(_SETTERS.__contains__):
        call = site.node
        assert isinstance(call, ast.Call)
        yield from _called(call, name, variable)


def _imports_keras(node: ast.stmt) -> bool:
    if isinstance(node, ast.Import):
        return any(alias.name == "keras" or alias.name.startswith("keras.") for alias in node.names)
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        return node.level == 0 and (module == "keras" or module.startswith("keras."))
    return False


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements in order, into ``if`` / ``try`` / ``with`` blocks (a guarded
    ``os.environ`` setting, ``if __name__ == "__main__":``), not into functions or classes."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, _TRIES):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):  # type: ignore[attr-defined]
                yield from _top_level(block)
        elif isinstance(node, ast.With):
            yield from _top_level(node.body)


def _setting(ctx: ModuleContext, node: ast.stmt) -> tuple[str, ast.expr | None] | None:
    """(how, value) when this statement sets ``KERAS_BACKEND``: how is "set" or "setdefault"."""
    if isinstance(node, ast.Assign):
        for value in _assigned(ctx, node, KERAS_BACKEND):
            return "set", value
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        name = ctx.call_name(node.value)
        # ``os.putenv`` does not update ``os.environ``, which is what Keras reads.
        if name in ("os.environ.setdefault", "os.environ.update"):
            for value in _called(node.value, name, KERAS_BACKEND):
                return ("setdefault" if name == "os.environ.setdefault" else "set"), value
    return None


def keras_backend(ctx: ModuleContext) -> str:
    """The backend Keras runs this module on: "tensorflow" unless the module chooses another."""
    cached = ctx.memo.get("keras_backend")
    if isinstance(cached, str):
        return cached
    chosen: str | None = None
    for node in _top_level(ctx.tree.body):
        if _imports_keras(node):
            break
        found = _setting(ctx, node)
        if found is None:
            continue
        how, value = found
        if how == "setdefault" and chosen is not None:
            continue
        literal = constant(value) if value is not None else None
        # A value we cannot read may be any backend: keep the default the rules always assumed.
        chosen = literal.lower() if isinstance(literal, str) else None
    backend = chosen if chosen in (TORCH_BACKEND, JAX_BACKEND) else TENSORFLOW_BACKEND
    ctx.memo["keras_backend"] = backend
    return backend
