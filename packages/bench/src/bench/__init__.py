"""vdd-bench: gin wiring, the run grid (task x method x seed), MLflow logging, tables, timing.

Entry point: `python -m bench.run --gin gin/<task>.gin`.
"""

__version__ = "0.1.0"
