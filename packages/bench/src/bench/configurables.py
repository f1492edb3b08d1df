"""What gin may configure; every .gin file starts with `import bench.configurables`.

Importing it registers the packages' classes (`bench.gin_classes.register_all`: the MoE
config, the tasks, each teacher kind's config and score adapter, each algorithm's config) and
bench's own configurables (`Benchmark`, `TrainerConfig`, `StudentEncoder`), which register
where they are defined. Code that builds a config by hand with gin's bindings applied calls
`bench.gin_classes.configurable(cls)(...)`. Nothing imported here imports this module back.
"""

from __future__ import annotations

from bench import methods, settings, trainer  # noqa: F401  (register bench's configurables)
from bench.executors import options  # noqa: F401  (RayOptions)
from bench.gin_classes import register_all

register_all()
