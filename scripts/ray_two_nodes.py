"""The README's worked example of the Ray executor: a two-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`, `--cpus-per-node` CPUs each), the benchmark run on it, then the
cluster stopped. Arguments after `--` go to `bench.run` (`--executor ray --ray-address ...`
are added).

    python scripts/ray_two_nodes.py -- --gin gin/toy2d.gin --seeds 0 1
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--cpus-per-node", type=int, default=1)
    p.add_argument("bench_args", nargs=argparse.REMAINDER,
                   help="-- then the arguments of python -m bench.run")
    args = p.parse_args()
    bench_args = args.bench_args[1:] if args.bench_args[:1] == ["--"] else args.bench_args
    if args.nodes < 1 or args.cpus_per_node < 1:
        print("error: --nodes and --cpus-per-node must be >= 1", file=sys.stderr)
        return 2
    from ray.cluster_utils import Cluster

    from bench.run import main as run_main

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus_per_node})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=args.cpus_per_node)
        cluster.wait_for_nodes()
        print(f"[two-nodes] Ray cluster of {args.nodes} nodes x {args.cpus_per_node} CPU at "
              f"{cluster.address}", flush=True)
        return run_main([*bench_args, "--executor", "ray", "--ray-address", cluster.address])
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
