"""lakegate's control plane: settings, local stack, catalog admin, event generator, CLI and demo.

The code that runs inside Flink workers lives in the top-level ``udfs`` package; the Flink jobs in ``jobs``.
"""

__version__ = "0.1.0"
