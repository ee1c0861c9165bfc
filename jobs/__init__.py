"""Flink jobs: one module per job, each with ``build(env, settings)`` and ``main()``. Nothing runs at import."""
