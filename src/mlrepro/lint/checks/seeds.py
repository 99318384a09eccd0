"""Seeds (MLR1xx): randomness drawn from a generator that this module never seeds."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from mlrepro.lint.context import ModuleContext
from mlrepro.lint.seeding import PYTHON, seed_state

Hit = tuple[ast.AST, str]

PYTHON_RANDOM_FUNCTIONS = frozenset({
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
    "gauss", "normalvariate", "lognormvariate", "expovariate", "betavariate", "gammavariate",
    "triangular", "vonmisesvariate", "paretovariate", "weibullvariate", "getrandbits",
    "randbytes", "binomialvariate",
})


def unseeded_python_random(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR101: ``random.<fn>()`` draws from the global generator and nothing seeds it."""
    if seed_state(ctx).seeded(PYTHON):
        return
    for site, name in ctx.calls_matching(lambda n: n.startswith("random.")):
        function = name[len("random."):]
        if function in PYTHON_RANDOM_FUNCTIONS:
            yield site.node, f"`random.{function}()` uses Python's global generator, which this file never seeds (`random.seed(...)`)"
