"""Population training on whatever devices exist: throughput, FLOP/s, MFU, scaling.

The same command runs on a CPU, a GPU or a TPU host. For each bucket
(``max_nodes x max_width``) and population size P it trains P random
architectures with :func:`nasjax.train.train_population` (population axis
sharded over every device) and reports

* compile time (first call minus the steady-state call) and steady time,
* architectures/s and training examples/s (``P x folds x steps x batch / s``),
* analytic FLOPs from the architectures (:func:`nasjax.nn.active_macs`, the
  *active* network, not the padding): ``2 x MACs x batch x 3`` per training
  step (forward + backward ~ 3 forwards) plus ``2 x MACs`` per validation
  example, summed over members and folds,
* achieved FLOP/s and MFU = achieved / peak, with the peak from a table of
  known accelerators (dense TF32 / bf16 tensor-core figures, the precision
  JAX's default float32 matmuls use there) or, on a CPU, a measured large
  float32 matmul on the same host (all cores),
* memory per member: the memory guard's estimate
  (:func:`nasjax.train.member_bytes`) and, where the device reports it, the
  measured peak bytes in use per member.

``--scaling`` re-runs one configuration in subprocesses on 1, 2, 4 devices
(fake CPU devices via ``--xla_force_host_platform_device_count`` on a CPU;
the first n GPUs via ``CUDA_VISIBLE_DEVICES`` on a GPU host) and with 2
processes joined by ``jax.distributed`` on 127.0.0.1, as ratios to one
device. On a CPU the fake devices share the same cores: the ratios show the
overhead (or the gain from smaller per-device batches) of sharding and of the
cross-process gather, not a hardware speed-up.

Usage::

    .venv/bin/python benchmarks/bench_accelerator.py --quick --scaling --out /tmp/bench
    .venv/bin/python benchmarks/bench_accelerator.py --sizes 8 32 128 \
        --buckets 4x16 8x32 --scaling --out bench_out --json bench_out/acc.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nasjax  # noqa: F401  (first: XLA settings)
from nasjax import distributed as dist

#: Dense peak FLOP/s per device for JAX's default float32 matmul precision
#: (TF32 tensor cores on NVIDIA, bf16 MXU passes on TPU); matched as
#: lower-case substrings of ``device.device_kind``, first match wins.
PEAK_FLOPS: tuple[tuple[str, float, str], ...] = (
    ("h200", 494.7e12, "H200 TF32 dense"),
    ("h100 pcie", 378.0e12, "H100 PCIe TF32 dense"),
    ("h100", 494.7e12, "H100 SXM TF32 dense"),
    ("a100", 156.0e12, "A100 TF32 dense"),
    ("tpu v5 lite", 197.0e12, "TPU v5e bf16"),
    ("tpu v5e", 197.0e12, "TPU v5e bf16"),
    ("tpu v5p", 459.0e12, "TPU v5p bf16"),
    ("tpu v5", 459.0e12, "TPU v5p bf16"),
    ("tpu v4", 275.0e12, "TPU v4 bf16"),
)


@dataclasses.dataclass(frozen=True)
class Setup:
    """Benchmark knobs (one training run per member)."""

    steps: int = 50
    batch: int = 64
    window: int = 16
    folds: int = 1
    eval_samples: int = 256
    ops: tuple[str, ...] | None = None
    repeats: int = 2
    seed: int = 0


def parse_bucket(text: str) -> tuple[int, int]:
    """``"8x32"`` -> ``(max_nodes=8, max_width=32)``."""
    nodes, width = text.lower().split("x")
    return int(nodes), int(width)


def make_data(setup: Setup):
    """A synthetic panel, its folds, norms and the fold-stacked TrainData."""
    from nasjax.data import FeatureConfig, FoldConfig, build_dataset, synthetic
    from nasjax.train import make_train_data

    syn = synthetic(setup.seed, n_symbols=4, n_steps=3000, signal=0.15)
    fc = FeatureConfig.minimal(return_lags=(1, 3), vol_windows=(12,))
    folded = build_dataset(
        syn.frame, fc, window=setup.window, folds=FoldConfig(n_folds=setup.folds)
    )
    data = make_train_data(
        folded, eval_batch_size=128, max_eval_samples=setup.eval_samples
    )
    return (*folded, data)


def train_config(setup: Setup):
    from nasjax.train import TrainConfig

    return TrainConfig(
        n_steps=setup.steps,
        eval_every=setup.steps,
        batch_size=setup.batch,
        eval_batch_size=128,
        max_eval_samples=setup.eval_samples,
        warmup_steps=1,
    )


def peak_flops(matmul_n: int = 2048) -> tuple[float, str]:
    """Peak FLOP/s of all devices together, and where the figure comes from."""
    import jax

    dev = jax.devices()[0]
    kind = dev.device_kind.lower()
    for sub, peak, label in PEAK_FLOPS:
        if sub in kind:
            return peak * jax.device_count(), f"{label} x {jax.device_count()}"
    if dev.platform == "cpu":
        return measured_matmul_flops(matmul_n), f"measured f32 matmul {matmul_n}^3"
    return float("nan"), f"unknown device {dev.device_kind!r}"


def measured_matmul_flops(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a jitted float32 ``n x n`` matmul on the first device (best of
    ``repeats``). On a CPU, XLA spreads it over every core of the host."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    jax.block_until_ready(f(a))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f(a))
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def population(spec, n: int, seed: int):
    """``n`` random architectures of ``spec`` and their fresh params."""
    import jax

    from nasjax.graph import random_arch
    from nasjax.search.base import init_population

    keys = jax.random.split(jax.random.key(seed), n)
    archs = jax.jit(jax.vmap(random_arch, in_axes=(0, None)), static_argnums=1)(
        keys, spec
    )
    return archs, init_population(keys, archs)


def run_flops(archs, cfg, n_folds: int, n_eval: int) -> float:
    """Analytic FLOPs of one ``train_population`` call (active networks)."""
    import jax
    import numpy as np

    from nasjax.nn import active_macs

    macs = np.asarray(jax.vmap(active_macs)(archs), np.float64)  # [P]
    train = 2 * macs * cfg.batch_size * 3 * cfg.n_steps
    evals = 2 * macs * n_eval * cfg.n_evals
    return float(np.sum(train + evals) * n_folds)


def device_peak_bytes() -> int | None:
    """Peak bytes in use summed over local devices (None where unsupported)."""
    import jax

    total = 0
    for d in jax.local_devices():
        try:
            stats = d.memory_stats()
        except Exception:
            return None
        if not stats or "peak_bytes_in_use" not in stats:
            return None
        total += int(stats["peak_bytes_in_use"])
    return total


def bench_one(bucket: tuple[int, int], n: int, setup: Setup, prepared) -> dict:
    """Train P=``n`` members of ``bucket``: timings, FLOPs, memory."""
    import jax
    import numpy as np

    from nasjax.graph import ArchSpec
    from nasjax.train import member_bytes, train_population

    ds, _, _, data = prepared
    nodes, width = bucket
    spec_kw: dict[str, Any] = {} if setup.ops is None else {"ops": setup.ops}
    spec = ArchSpec(
        n_features=int(ds.features.shape[-1]),
        window=setup.window,
        max_nodes=nodes,
        max_width=width,
        **spec_kw,
    )
    cfg = train_config(setup)
    archs, params = population(spec, n, setup.seed + n)
    key = jax.random.key(setup.seed)

    def call():
        res = train_population(key, archs, params, data, cfg)
        return jax.block_until_ready(res.fitness)

    t = time.perf_counter()
    fitness = call()
    first = time.perf_counter() - t
    steady = []
    for _ in range(setup.repeats):
        t = time.perf_counter()
        call()
        steady.append(time.perf_counter() - t)
    t_steady = float(np.median(steady))
    n_folds = int(data.train.shape[0])
    n_eval = int(np.asarray(data.val_mask).sum() // n_folds)
    flops = run_flops(archs, cfg, n_folds, n_eval)
    est = member_bytes(spec, cfg) * n_folds
    peak = device_peak_bytes()
    per_device = -(-n // jax.device_count())
    return {
        "bucket": f"{nodes}x{width}",
        "P": n,
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "compile_s": max(first - t_steady, 0.0),
        "first_s": first,
        "steady_s": t_steady,
        "archs_per_s": n / t_steady,
        "examples_per_s": n * n_folds * cfg.n_steps * cfg.batch_size / t_steady,
        "flops": flops,
        "flops_per_s": flops / t_steady,
        "member_bytes_est": est,
        "member_bytes_measured": None
        if peak is None
        else peak / max(per_device * jax.local_device_count(), 1),
        "failed": int(np.sum(~np.isfinite(np.asarray(fitness)))),
    }


def machine() -> dict:
    import jax

    dev = jax.devices()[0]
    return {
        "platform": dev.platform,
        "device_kind": dev.device_kind,
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "host": platform.platform(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
    }


def throughput(args, setup: Setup) -> dict:
    """The sweep on the devices of this process (or of every process)."""
    prepared = make_data(setup)
    rows = []
    for b in args.buckets:
        for n in args.sizes:
            row = bench_one(parse_bucket(b), n, setup, prepared)
            rows.append(row)
            if dist.is_main_process() and not args.worker:
                print(json.dumps({k: _round(v) for k, v in row.items()}), flush=True)
    peak, source = peak_flops(args.matmul_n)
    for row in rows:
        row["peak_flops"] = peak
        row["mfu"] = row["flops_per_s"] / peak
    return {"machine": machine(), "peak_source": source, "rows": rows}


def _round(v: Any) -> Any:
    return float(f"{v:.4g}") if isinstance(v, float) else v


# ---------------------------------------------------------------------------
# Scaling: subprocesses with 1, 2, 4 devices and 2 processes


def _scaling_configs(platform_name: str, n_visible: int, devices: list[int]):
    """``(processes, devices_per_process)`` pairs this host can run."""
    out = []
    for d in devices:
        if platform_name == "cpu" or d <= n_visible:
            out.append((1, d))
    if platform_name == "cpu":
        out += [(2, 1), (2, 2)]
    elif n_visible >= 2:
        out.append((2, n_visible // 2))
    return out


def _child_env(platform_name: str, n_dev: int, rank: int | None, base: dict) -> dict:
    if platform_name == "cpu":
        return dist.cpu_device_env(n_dev, base)
    env = dict(base)
    if platform_name == "gpu":
        visible = env.get("CUDA_VISIBLE_DEVICES")
        ids = visible.split(",") if visible else [str(i) for i in range(64)]
        start = 0 if rank is None else rank * n_dev
        env["CUDA_VISIBLE_DEVICES"] = ",".join(ids[start : start + n_dev])
    return env


def scaling(args, setup: Setup) -> list[dict]:
    """One bucket and population size on 1, 2, 4 devices and 2 processes."""
    import jax

    plat = jax.devices()[0].platform
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NASJAX_", "SLURM_", "OMPI_"))
    }
    worker = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--sizes",
        str(args.scaling_size),
        "--buckets",
        args.scaling_bucket,
        *_setup_argv(setup),
    ]
    rows = []
    for n_proc, n_dev in _scaling_configs(
        plat, jax.local_device_count(), args.scaling_devices
    ):
        if n_proc == 1:
            procs = [
                subprocess.run(
                    worker,
                    env=_child_env(plat, n_dev, None, base),
                    capture_output=True,
                    text=True,
                    timeout=args.timeout,
                )
            ]
        elif plat == "cpu":
            procs = dist.run_local(
                worker, n_proc, n_dev, timeout=args.timeout, base_env=base
            )
        else:
            port = dist.free_port()
            procs = [
                subprocess.Popen(
                    worker,
                    env=dist.local_env(
                        r, n_proc, port, None, _child_env(plat, n_dev, r, base)
                    ),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for r in range(n_proc)
            ]
            procs = [
                subprocess.CompletedProcess(worker, p.returncode, *p.communicate())
                for p in procs
            ]
        for p in procs:
            if p.returncode != 0:
                raise RuntimeError(f"scaling worker failed:\n{p.stderr[-4000:]}")
        line = next(
            ln for ln in procs[0].stdout.splitlines() if ln.startswith("BENCH_JSON ")
        )
        row = json.loads(line[len("BENCH_JSON ") :])["rows"][0]
        row["config"] = f"{n_proc} proc x {n_dev} dev"
        rows.append(row)
        print(
            json.dumps({k: _round(v) for k, v in row.items() if k != "peak_flops"}),
            flush=True,
        )
    one = next((r for r in rows if r["devices"] == 1), rows[0])
    for r in rows:
        r["speedup_vs_1_device"] = r["archs_per_s"] / one["archs_per_s"]
    return rows


def _setup_argv(setup: Setup) -> list[str]:
    argv = [
        "--steps", str(setup.steps),
        "--batch", str(setup.batch),
        "--window", str(setup.window),
        "--folds", str(setup.folds),
        "--eval-samples", str(setup.eval_samples),
        "--repeats", str(setup.repeats),
        "--seed", str(setup.seed),
    ]  # fmt: skip
    if setup.ops is not None:
        argv += ["--ops", ",".join(setup.ops)]
    return argv


# ---------------------------------------------------------------------------
# Output


def _fmt_bytes(b: float | None) -> str:
    if b is None:
        return "-"
    return f"{b / 2**20:.1f} MiB"


def print_tables(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 150)
    m = result["machine"]
    t = Table(
        title=(
            f"population training on {m['devices']} x {m['device_kind']} "
            f"({m['platform']}, {m['processes']} process(es)); "
            f"peak {result['peak_source']}"
        )
    )
    for col in (
        "bucket", "P", "compile s", "steady s", "archs/s", "examples/s",
        "GFLOP/run", "GFLOP/s", "MFU", "mem/member est", "mem/member meas",
    ):  # fmt: skip
        t.add_column(col, justify="right")
    for r in result["rows"]:
        t.add_row(
            r["bucket"],
            str(r["P"]),
            f"{r['compile_s']:.2f}",
            f"{r['steady_s']:.3f}",
            f"{r['archs_per_s']:.1f}",
            f"{r['examples_per_s']:.3g}",
            f"{r['flops'] / 1e9:.3g}",
            f"{r['flops_per_s'] / 1e9:.3g}",
            f"{100 * r['mfu']:.2f}%",
            _fmt_bytes(r["member_bytes_est"]),
            _fmt_bytes(r["member_bytes_measured"]),
        )
    console.print(t)
    if result.get("scaling"):
        s = Table(
            title=(
                "scaling (fake CPU devices share the host's cores: ratios show "
                "sharding and gather overhead, not extra hardware)"
                if m["platform"] == "cpu"
                else "scaling"
            )
        )
        for col in ("config", "devices", "steady s", "archs/s", "vs 1 device"):
            s.add_column(col, justify="right")
        for r in result["scaling"]:
            s.add_row(
                r["config"],
                str(r["devices"]),
                f"{r['steady_s']:.3f}",
                f"{r['archs_per_s']:.1f}",
                f"{r['speedup_vs_1_device']:.2f}x",
            )
        console.print(s)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scaling_rows = result.get("scaling") or []
    fig, axes = plt.subplots(1, 3 if scaling_rows else 2, figsize=(14, 4))
    buckets = sorted({r["bucket"] for r in result["rows"]})
    for b in buckets:
        rows = [r for r in result["rows"] if r["bucket"] == b]
        ps = [r["P"] for r in rows]
        axes[0].plot(ps, [r["archs_per_s"] for r in rows], "o-", label=b)
        axes[1].plot(ps, [100 * r["mfu"] for r in rows], "o-", label=b)
    for ax, ylabel in zip(axes[:2], ("architectures / s", "MFU (%)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("population size P")
        ax.set_ylabel(ylabel)
        ax.legend(title="bucket N x W", fontsize=8)
    m = result["machine"]
    axes[0].set_title(f"throughput: {m['devices']} x {m['device_kind']}")
    axes[1].set_title(f"MFU (peak: {result['peak_source']})", fontsize=9)
    if scaling_rows:
        ax = axes[2]
        labels = [r["config"] for r in scaling_rows]
        ax.bar(labels, [r["speedup_vs_1_device"] for r in scaling_rows], color="C2")
        ax.axhline(1.0, color="0.5", lw=1)
        ax.set_ylabel("throughput / 1 device")
        ax.set_title(
            "scaling" + (" (fake CPU devices)" if m["platform"] == "cpu" else "")
        )
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--buckets", nargs="+", default=["4x16", "8x32"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--folds", type=int, default=1)
    ap.add_argument("--eval-samples", type=int, default=256)
    ap.add_argument("--ops", default=None, help="comma list (default: every op)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--matmul-n", type=int, default=2048)
    ap.add_argument("--scaling", action="store_true")
    ap.add_argument("--scaling-devices", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--scaling-size", type=int, default=32)
    ap.add_argument("--scaling-bucket", default="4x16")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="tiny smoke configuration (sizes 2 4, bucket 4x8, 4 steps)",
    )
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--out", default=None, help="folder for the JSON and the PNG")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.buckets = [2, 4], ["4x8"]
        args.steps, args.batch, args.eval_samples = 4, 8, 32
        args.scaling_size, args.scaling_bucket = 4, "4x8"
        args.matmul_n, args.repeats = 512, 3
    setup = Setup(
        steps=args.steps,
        batch=args.batch,
        window=args.window,
        folds=args.folds,
        eval_samples=args.eval_samples,
        ops=None if args.ops is None else tuple(args.ops.split(",")),
        repeats=args.repeats,
        seed=args.seed,
    )
    # Before any JAX computation: join a multi-process run if one is set up.
    dist.initialize(dist.DistributedConfig(auto=True))
    if args.worker:
        result = throughput(args, setup)
        if dist.is_main_process():
            print("BENCH_JSON " + json.dumps(result), flush=True)
        dist.shutdown()
        return
    if not dist.is_main_process():
        throughput(args, setup)
        return
    m = machine()
    print(f"# {m}  setup={dataclasses.asdict(setup)}", flush=True)
    result = throughput(args, setup)
    result["setup"] = dataclasses.asdict(setup)
    result["command"] = " ".join([os.path.basename(sys.executable), *sys.argv])
    if args.scaling:
        result["scaling"] = scaling(args, setup)
    print_tables(result)
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        plot(result, out / "bench_accelerator.png")
        print(f"plot: {out / 'bench_accelerator.png'}")
    json_path = args.json or (out / "bench_accelerator.json" if out else None)
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
        print(f"json: {json_path}")


if __name__ == "__main__":
    main()
