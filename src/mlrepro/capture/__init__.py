"""Capture at the source: what every MLflow run records so that it can be reproduced.

``collect`` gathers the ``mlrepro.*`` tags; ``provider`` is the MLflow run-context plugin
(entry point ``mlflow.run_context_provider``) that adds them to every run started with
``mlflow.start_run``. Nothing is imported here: MLflow loads the plugin on its own import.
"""
