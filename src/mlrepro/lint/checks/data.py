"""Data (MLR3xx): inputs that exist only on the machine the code was written on."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from mlrepro.lint.context import ModuleContext

Hit = tuple[ast.AST, str]

# Home directories, mounts and cluster file systems: where one person's copy of the data lives.
# /tmp is left out: it exists everywhere, and scratch output there is not input data.
_LOCAL_PATH = re.compile(
    r"(?:/(?:home|Users|root|mnt|media|Volumes|data|datasets|scratch|gpfs|lustre|nfs)/"
    r"|~[\\/]"
    r"|[A-Za-z]:[\\/])"
)
_SHOWN = 60


def _is_help_text(ancestors: tuple[ast.AST, ...]) -> bool:
    for ancestor in reversed(ancestors):
        if isinstance(ancestor, ast.keyword):
            return ancestor.arg == "help"
        if isinstance(ancestor, (ast.Call, ast.stmt)):
            return False
    return False


def hardcoded_data_path(ctx: ModuleContext) -> Iterator[Hit]:
    """MLR304: an absolute path into someone's home, mount or cluster file system."""
    for site in ctx.sites(ast.Constant):
        node = site.node
        assert isinstance(node, ast.Constant)
        if not isinstance(node.value, str) or not _LOCAL_PATH.match(node.value):
            continue
        parent = site.ancestors[-1] if site.ancestors else None
        located: ast.AST = node
        if isinstance(parent, ast.JoinedStr):
            # Only the text an f-string starts with is its path prefix: f"{root}/data/x" is relative.
            if parent.values[0] is not node or isinstance(site.ancestors[-2], ast.FormattedValue):
                continue
            located, parent = parent, site.ancestors[-2]
        if isinstance(parent, ast.Expr):
            continue  # a docstring, or another bare string statement: text for readers, never opened
        if isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Add) and parent.right is located:
            continue  # root + "/data/train.csv": a suffix of a path built elsewhere, not an absolute one
        if _is_help_text(site.ancestors):
            continue
        text = ast.unparse(located) if located is not node else repr(node.value)
        if len(text) > _SHOWN:
            text = text[: _SHOWN - 4] + "...'"
        yield located, (
            f"hardcoded local path {text} exists only on this machine: "
            "take it from a command-line argument, a config file or an environment variable"
        )
