"""Where the first call of ``train_population``'s program goes: trace, lower,
XLA compile, then two executions (the population benchmark's setup).

Usage: .venv/bin/python benchmarks/bench_compile_phases.py --members 32
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from bench_population_train import bench_config, bench_spec, setup

import nasjax
from nasjax.graph import random_arch, stack
from nasjax.nn.fold_params import as_fold_params, broadcast_folds
from nasjax.train import (
    DispatchedOps,
    ScheduledOps,
    compiled_trainer,
    make_train_data,
)
from nasjax.train.population import member_keys


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--node-loop", choices=nasjax.nn.NODE_LOOPS, default="unroll")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--window", type=int, default=16)
    args = ap.parse_args()
    folded = setup(args.window)
    spec = bench_spec(folded.dataset, args.window)
    cfg = bench_config(args.steps)
    data = make_train_data(
        folded,
        eval_batch_size=cfg.eval_batch_size,
        max_eval_samples=cfg.max_eval_samples,
    )
    p = args.members
    keys = jax.random.split(jax.random.key(p), p)
    archs = stack([random_arch(k, spec) for k in keys])
    params = broadcast_folds(
        as_fold_params(jax.vmap(nasjax.nn.init)(keys, archs), spec), 1
    )
    if args.node_loop == "unroll":
        caps = nasjax.nn.node_capacities(archs)
    else:
        caps = nasjax.nn.op_capacities(archs)
    strategy = (
        ScheduledOps()
        if args.node_loop == "schedule"
        else DispatchedOps(args.node_loop)
    )
    fn = compiled_trainer(cfg, "vmap", strategy, caps)
    call = (member_keys(jax.random.key(0), p), archs, params, data, jnp.ones((p,)))
    t0 = time.perf_counter()
    traced = fn.trace(*call)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    jax.block_until_ready(compiled(*call))
    t4 = time.perf_counter()
    out = jax.block_until_ready(compiled(*call))
    t5 = time.perf_counter()
    print(
        f"P={p} node_loop={args.node_loop} op slots={int(np.sum(caps))}: "
        f"trace {t1 - t0:.2f} s, lower {t2 - t1:.2f} s, compile {t3 - t2:.2f} s, "
        f"first run {t4 - t3:.2f} s, steady {t5 - t4:.2f} s; "
        f"mean best score {float(np.nanmean(out[1]['best_score'])):.4f}"
    )


if __name__ == "__main__":
    main()
