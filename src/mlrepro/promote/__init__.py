"""The deployment gate: ``mlrepro promote`` moves a model version forward only when it passes."""
