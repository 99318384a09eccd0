"""W&B run directories shared by every test module here: produced once per session (a W&B run
costs 3-4 s of SDK start-up and shutdown)."""

from __future__ import annotations

import pytest

pytest.importorskip("wandb")

from wandb_helpers import WandbProject, produce_runs  # noqa: E402 - only once wandb is known to be installed


@pytest.fixture(scope="session")
def wandb_project(tmp_path_factory: pytest.TempPathFactory) -> WandbProject:
    return produce_runs(tmp_path_factory.mktemp("wandb-current"))
