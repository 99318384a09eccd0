"""mlrepro: make unreproducible machine-learning runs impossible to miss."""

__version__ = "0.1.0"
