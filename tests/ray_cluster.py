"""A real two-node Ray cluster on 127.0.0.1 for the tests, in a process of its own.

    python tests/ray_cluster.py [--cpus 1] [--nodes 2]

starts a head node and a second node (one CPU each, a small object store, no
dashboard) with ``ray.cluster_utils.Cluster``, prints one JSON line
(``{"address": "127.0.0.1:PORT", "temp_dir": ...}``) when both are up, and shuts the
cluster down when its standard input closes (or on SIGTERM).

Ray listens on loopback only: it resolves 127.0.0.1 to the machine's outward
address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's switch for machines
that are no cluster member), which is set here and must be set for the drivers
too (:func:`loopback_env`). ``ray start`` refuses a second node with that switch,
so the nodes are started through ``ray.cluster_utils``, as Ray's own tests start
theirs; they are the same raylet and object store processes ``ray start`` runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile


def loopback_env(temp_dir: str) -> dict[str, str]:
    """What a driver's environment needs to reach the cluster on loopback."""
    return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": temp_dir}


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpus", type=int, default=1, help="CPUs of each node")
    ap.add_argument("--nodes", type=int, default=2)
    ap.add_argument("--object-store-mib", type=int, default=200)
    args = ap.parse_args()
    # a short path of its own: Ray's socket paths must stay under 108 bytes
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    os.environ.update(loopback_env(temp_dir))
    from ray.cluster_utils import Cluster

    node = {"num_cpus": args.cpus, "node_ip_address": "127.0.0.1", "object_store_memory": args.object_store_mib << 20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
        print(json.dumps({"address": cluster.address, "temp_dir": temp_dir}), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # shut down on SIGTERM too
        sys.stdin.read()  # until the test closes it
    finally:
        cluster.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
