"""The gradient of the population forward pass, per node loop: compile time
and steady-state time of ``jit(grad(sum(apply_population(...))))``.

The training step of ``train_population`` is this gradient plus an optimiser
update; timing it alone isolates the node loop (the population benchmark's
bucket and batch). Each loop runs with the capacities ``train_population``
gives it: exact per-node ones unrolled, the exact schedule length for
``"schedule"``, per-op ones for ``"scan"``.

Usage: .venv/bin/python benchmarks/bench_node_loop_grad.py --members 32
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from bench_population_train import bench_spec, setup

import nasjax
from nasjax.graph import random_arch, stack


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--loops",
        nargs="+",
        default=["unroll", "schedule"],
        choices=nasjax.nn.NODE_LOOPS,
    )
    args = ap.parse_args()
    ds, _, _ = setup(args.window)
    spec = bench_spec(ds, args.window)
    p = args.members
    keys = jax.random.split(jax.random.key(p), p)
    archs = stack([random_arch(k, spec) for k in keys])
    params = jax.vmap(nasjax.nn.init)(keys, archs)
    x = jax.random.normal(
        jax.random.key(1), (p, args.batch, args.window, spec.n_features)
    )
    node_caps = nasjax.nn.node_capacities(archs)
    shapes = {
        "unroll": node_caps,
        "schedule": nasjax.nn.schedule_shape(node_caps, spec.max_nodes, spec.n_ops),
        "scan": nasjax.nn.op_capacities(archs),
    }
    for loop in args.loops:

        def loss(q, loop=loop):
            return jnp.sum(nasjax.nn.apply_population(archs, q, x, shapes[loop], loop))

        grad = jax.jit(jax.grad(loss))
        t0 = time.perf_counter()
        compiled = grad.lower(params).compile()
        t1 = time.perf_counter()
        jax.block_until_ready(compiled(params))
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            jax.block_until_ready(compiled(params))
            times.append(time.perf_counter() - t)
        print(
            f"P={p} batch={args.batch} node_loop={loop}: compile {t1 - t0:.2f} s, "
            f"gradient min {1e3 * min(times):.1f} ms, "
            f"median {1e3 * float(np.median(times)):.1f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
