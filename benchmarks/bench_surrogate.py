"""GP surrogate: refit speed at growing n, and model quality on real archives.

Speed (``--ns 64 256 1000 4000``): random archs of an 8-node / width-32 bucket
(toy targets: a smooth function of the encoding plus noise). For every n and
method a fresh subprocess (so that ``ru_maxrss`` is that method's peak memory)
times

* ``cold``: ``fit_gp`` from the prior (second call after compiling, other key,
  blocking on the whole returned state),
* ``warm``: a refit after 8 more observations starting from the cold MAP
  (``init=``, one start; the warm refit of ``bayes_morph``),
* ``ei10k``: expected improvement of 10,000 candidates (``score``),

for ``fast`` (L-BFGS, the default; sparse above ``sparse_above``), ``adam``
(the previous fit: 8 restarts x 200 Adam steps; only up to ``--adam-max-n``)
and scikit-learn's ``GaussianProcessRegressor`` (constant x isotropic
Matern-5/2 + white noise, ``n_restarts_optimizer=2``, on the same encodings;
``warm`` = refit with the fitted kernel as the start and no restarts). Every
time is also given in units of one Cholesky factorisation of a 1,000 x 1,000
float64 matrix measured in the same subprocess (median of 20).

Quality (``--archives a/results.parquet ...``): for every round ``r`` (with at
least ``--min-train`` earlier evaluations) the surrogate is fitted on rounds
``< r`` and predicts round ``r``'s evaluations: the mean held-out log
predictive density (Gaussian, latent variance + noise) and Kendall's tau of
the predicted means with the observed fitness, with 95% t intervals over the
rounds. Methods: ``adam`` (the previous fit), ``fast`` cold, ``fast`` warm
(``bayes_morph``'s policy: warm from the previous round, all starts every 5
fits) and ``sparse`` (the VFE GP forced on, ``m = n / 4`` inducing points).

Usage::

    python benchmarks/bench_surrogate.py --ns 64 256 1000 4000 \
        --archives outputs/.../results.parquet --out /tmp/bench_surrogate.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CANDIDATES = 10_000


def _chol_time(reps: int = 20) -> float:
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.key(0), (1000, 1000), jnp.float64)
        a = a @ a.T + 1000.0 * jnp.eye(1000)
        f = jax.jit(jnp.linalg.cholesky)
        f(a).block_until_ready()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            f(a).block_until_ready()
            ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _problem(n: int, seed: int = 0):
    import jax

    import nasjax  # noqa: F401
    from nasjax.graph import ArchSpec, random_arch
    from nasjax.surrogate import encode, layout

    spec = ArchSpec(n_features=8, window=32, max_nodes=8, max_width=32)
    lay = layout(spec)
    total = n + 8 + CANDIDATES
    keys = jax.random.split(jax.random.key(seed), total)
    gen = jax.jit(jax.vmap(random_arch, in_axes=(0, None)), static_argnums=1)
    enc = np.asarray(jax.jit(jax.vmap(encode))(gen(keys, spec)), np.float64)
    rng = np.random.default_rng(seed)
    w = rng.normal(size=lay.dim) / np.sqrt(lay.dim)
    y = np.sin(2.0 * enc @ w) + 0.5 * (enc @ w) ** 2 + 0.1 * rng.normal(size=total)
    return lay, enc, y


def _ei(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    from scipy.stats import norm

    z = (mean - best) / np.maximum(std, 1e-12)
    return std * (z * norm.cdf(z) + norm.pdf(z))


def child_speed(method: str, n: int) -> dict:
    """One (method, n) cell; runs in its own process."""
    import jax

    lay, enc, y = _problem(n)
    x, t = enc[:n], y[:n]
    x2, t2 = enc[: n + 8], y[: n + 8]
    cand = enc[n + 8 :]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chol = _chol_time()
    out: dict = {"method": method, "n": n, "chol_s": chol}
    if method in ("fast", "adam"):
        from nasjax.surrogate import fit_gp
        from nasjax.surrogate.propose import score

        opts = {"optimizer": "lbfgs" if method == "fast" else "adam"}
        # Every warm-up call is blocked on: its asynchronous tail would
        # otherwise be timed with the next call.
        jax.block_until_ready(fit_gp(jax.random.key(99), x, t, lay, **opts))
        t0 = time.perf_counter()
        gp = jax.block_until_ready(fit_gp(jax.random.key(0), x, t, lay, **opts))
        out["cold_s"] = time.perf_counter() - t0
        jax.block_until_ready(score(gp, cand))  # compile
        t0 = time.perf_counter()
        jax.block_until_ready(score(gp, cand))
        out["ei10k_s"] = time.perf_counter() - t0
        if method == "fast":
            warm = {"init": gp.hyper, "n_restarts": 1}
            jax.block_until_ready(
                fit_gp(jax.random.key(98), x2, t2, lay, **opts, **warm)
            )  # compile
            t0 = time.perf_counter()
            jax.block_until_ready(
                fit_gp(jax.random.key(1), x2, t2, lay, **opts, **warm)
            )
            out["warm_s"] = time.perf_counter() - t0
        out["sparse"] = bool(gp.sparse)
    else:
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        kern = ConstantKernel() * Matern(nu=2.5) + WhiteKernel(0.05)
        gpr = GaussianProcessRegressor(kern, n_restarts_optimizer=2, normalize_y=True)
        t0 = time.perf_counter()
        gpr.fit(x, t)
        out["cold_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        m, s = gpr.predict(cand, return_std=True)
        _ei(m, s, float(np.max(t)))
        out["ei10k_s"] = time.perf_counter() - t0
        warm = GaussianProcessRegressor(gpr.kernel_, normalize_y=True)
        t0 = time.perf_counter()
        warm.fit(x2, t2)
        out["warm_s"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["base_rss_mb"] = base_rss
    return out


def _run_child(args: list[str], timeout: float) -> dict:
    """This script with ``args`` in a subprocess: its last stdout line (JSON),
    or ``{"timeout_s": ...}`` / ``{"error": stderr tail}``."""
    cmd = [sys.executable, __file__, *args]
    try:
        res = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=True
        )
        return json.loads(res.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return {"timeout_s": timeout}
    except subprocess.CalledProcessError as err:
        return {"error": err.stderr[-2000:]}


def speed(ns: list[int], adam_max_n: int, sk_max_n: int, timeout: float) -> list:
    rows = []
    for n in ns:
        methods = ["fast"]
        methods += ["adam"] if n <= adam_max_n else []
        methods += ["sklearn"] if n <= sk_max_n else []
        for method in methods:
            row = _run_child(["--child", method, str(n)], timeout)
            row = {"method": method, "n": n, **row}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def _load_archive(path: str):
    import pandas as pd

    import nasjax  # noqa: F401
    from nasjax.graph.arch import Arch
    from nasjax.surrogate import encode, layout

    df = pd.read_parquet(path).sort_values("round", kind="stable")
    archs = [Arch.from_json(s) for s in df["arch_json"]]
    # The searcher is told every member's rung-0 (screening) fitness: model that.
    target = "fitness_rung0" if "fitness_rung0" in df.columns else "fitness"
    lay = layout(archs[0].spec)
    import jax

    enc = np.stack([np.asarray(jax.jit(encode)(a), np.float64) for a in archs])
    fit = df[target].to_numpy(np.float64)
    return lay, enc, fit, df["round"].to_numpy()


def quality(paths: list[str], min_train: int, timeout: float) -> dict:
    """Model quality per archive, each in its own subprocess (with a timeout)."""
    out = {}
    for path in paths:
        args = ["--quality-child", path, "--min-train", str(min_train)]
        out[path] = _run_child(args, timeout)
        print(json.dumps({path: out[path]}), flush=True)
    return out


def child_quality(path: str, min_train: int) -> dict:
    """One archive: fit on rounds ``< r``, score round ``r``'s evaluations."""
    import jax
    from bench_common import mean_ci
    from scipy.stats import kendalltau

    from nasjax.surrogate import fit_gp

    lay, enc, fit, rounds = _load_archive(path)
    res: dict[str, dict[str, list]] = {}
    carry = None
    fits = 0
    for r in np.unique(rounds):
        tr, te = rounds < r, (rounds == r) & np.isfinite(fit)
        n_tr = int(np.sum(tr & np.isfinite(fit)))
        if n_tr < min_train or te.sum() < 3:
            continue
        key = jax.random.key(int(r))
        x, t = enc[tr], fit[tr]
        fresh = carry is None or fits % 5 == 0
        warm_opts = {"init": carry, "n_restarts": 8 if fresh else 1}
        variants = {
            "adam": {"optimizer": "adam"},
            "fast_cold": {},
            "fast_warm": warm_opts,
            "sparse": {"sparse_above": 0, "n_inducing": max(8, n_tr // 4)},
        }
        for name, opts in variants.items():
            t0 = time.perf_counter()
            gp = jax.block_until_ready(fit_gp(key, x, t, lay, **opts))
            secs = time.perf_counter() - t0
            if name == "fast_warm":
                carry, fits = gp.hyper, fits + 1
            m, s = gp.predict(enc[te])
            m, s = np.asarray(m, np.float64), np.asarray(s, np.float64)
            noise = float(np.mean(np.asarray(gp.hyper.noise))) * float(gp.y_scale) ** 2
            var = s**2 + noise
            yt = fit[te]
            lpd = -0.5 * (np.log(2 * np.pi * var) + (yt - m) ** 2 / var)
            tau = kendalltau(m, yt).statistic
            cell = res.setdefault(name, {"lpd": [], "tau": [], "secs": []})
            cell["lpd"].append(float(np.mean(lpd)))
            cell["tau"].append(float(tau) if np.isfinite(tau) else 0.0)
            cell["secs"].append(secs)
    summary = {}
    for name, cell in res.items():
        summary[name] = {"rounds": len(cell["lpd"])}
        for k, v in cell.items():
            mean, half = mean_ci(np.asarray(v))
            summary[name][k] = [float(mean), float(half)]
        if name != "adam":  # paired by round against the previous default
            for k in ("lpd", "tau"):
                diff = np.asarray(cell[k]) - np.asarray(res["adam"][k])
                mean, half = mean_ci(diff)
                summary[name][f"{k}_minus_adam"] = [float(mean), float(half)]
    return {"n": int(np.sum(np.isfinite(fit))), "methods": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ns", type=int, nargs="*", default=[64, 256, 1000, 4000])
    ap.add_argument("--adam-max-n", type=int, default=256)
    ap.add_argument("--sklearn-max-n", type=int, default=4000)
    ap.add_argument("--timeout", type=float, default=900.0, help="per cell (s)")
    ap.add_argument("--archives", nargs="*", default=[])
    ap.add_argument("--min-train", type=int, default=16)
    ap.add_argument("--out", default=None, help="JSON file of all results")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--quality-child", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quality_child:
        print(json.dumps(child_quality(args.quality_child, args.min_train)))
        return
    if args.child:
        print(json.dumps(child_speed(args.child[0], int(args.child[1]))))
        return
    from bench_common import machine_info

    result = {"machine": machine_info()}
    result["speed"] = speed(args.ns, args.adam_max_n, args.sklearn_max_n, args.timeout)
    if args.archives:
        result["quality"] = quality(args.archives, args.min_train, args.timeout)
    result["machine_after"] = machine_info()
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
