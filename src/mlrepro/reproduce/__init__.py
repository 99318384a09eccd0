"""Re-execute a tracked run and compare its metrics: plan, workspace, runner, compare."""
