"""What "seeded" means, once, for the audit (MLR506), reproduce and the report: a run is seeded
when a param or tag named in ``seed-params`` (also as the last part of a namespaced name such as
``trainer.seed`` or ``clf__random_state``), or the capture plugin's ``mlrepro.seed`` tag, carries a
value. ``None`` (what sklearn autolog logs for an unseeded estimator), empty, null and nan are no
value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from mlrepro import tags as tag_names

DEFAULT_SEED_PARAMS = ("seed", "random_state", "random_seed", "rng_seed", "manual_seed", "np_seed", "torch_seed", "global_seed")

_KEY_PARTS = re.compile(r"\.|/|:|__")
_UNSET = frozenset({"", "none", "null", "nan"})


def recorded_seeds(params: Mapping[str, str], tags: Mapping[str, str], names: Iterable[str] = DEFAULT_SEED_PARAMS) -> list[tuple[str, str]]:
    """Every param and tag that names a seed, with its value as logged (valued or not)."""
    wanted = {name.lower() for name in names}
    return [
        (key, value)
        for key, value in (*params.items(), *tags.items())
        if key == tag_names.SEED or key.lower() in wanted or _KEY_PARTS.split(key)[-1].lower() in wanted
    ]


def has_value(value: str) -> bool:
    return value.strip().lower() not in _UNSET


def is_seeded(params: Mapping[str, str], tags: Mapping[str, str], names: Iterable[str] = DEFAULT_SEED_PARAMS) -> bool:
    """Whether the run recorded a seed with a value."""
    return any(has_value(value) for _, value in recorded_seeds(params, tags, names))
