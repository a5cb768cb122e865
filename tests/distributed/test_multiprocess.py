"""Real multi-process runs on 127.0.0.1 (CPU, gloo), against single-process ones.

Two processes with two fake CPU devices each form one 4-device global mesh
(``jax.distributed`` through :func:`nasjax.distributed.run_local`); their
results must equal one process with 4 devices and one process with 1 device.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import nasjax  # noqa: F401
from nasjax import distributed as dist

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORKER = str(HERE / "dist_worker.py")
TIMEOUT = 900


def _clean_env() -> dict[str, str]:
    """This environment without cluster variables (a SLURM test job included)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "NASJAX_", "OMPI_", "JAX_COORDINATOR"))
    }


def _two_processes(*args: str) -> list[subprocess.CompletedProcess[str]]:
    procs = dist.run_local(
        [sys.executable, WORKER, *args],
        num_processes=2,
        devices_per_process=2,
        timeout=TIMEOUT,
        cwd=ROOT,
        base_env=_clean_env(),
    )
    for rank, p in enumerate(procs):
        assert p.returncode == 0, (
            f"rank {rank}:\n{p.stdout[-2000:]}\n{p.stderr[-6000:]}"
        )
    return procs


def _one_process(n_devices: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *args],
        env=dist.cpu_device_env(n_devices, _clean_env()),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, f"{out[-2000:]}\n{err[-6000:]}"
    return out


def _assert_close(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=2e-5, atol=2e-5, err_msg=k)


@pytest.mark.slow  # two JAX processes (the 4-device mesh tests stay fast)
def test_two_processes_mesh_helpers_and_training(tmp_path):
    """On a global mesh spanning 2 processes x 2 devices: feeding, gathering,
    exact all-gather, the divergence check, broadcast, a sharded orbax
    checkpoint round trip; then 3 members trained (padded to 4, fed per
    process, all-gathered) equal the single-device result of this process."""
    import dist_worker

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(_two_processes, "quick", str(tmp_path))
        want = dist_worker.train_arrays(
            dist_worker.TRAIN_CASES, *dist_worker.tiny_setup()
        )
        procs = future.result()
    for rank, p in enumerate(procs):
        assert "MESH_OK" in p.stdout and "TRAIN_OK" in p.stdout
        assert f'"process_index": {rank}, "process_count": 2' in p.stdout
        assert '"local_device_count": 2, "device_count": 4' in p.stdout
        assert '"source": "env"' in p.stdout
    got = dict(np.load(tmp_path / "train.npz"))
    assert np.isfinite(want["p3_c0_fitness"]).all()
    _assert_close(got, want)


@pytest.mark.slow
@pytest.mark.parametrize("searcher", ["evolution", "bayes_morph"])
def test_search_two_processes_equals_four_and_one_devices(tmp_path, searcher):
    """Populations of 5 (padded to 8, and in 2 chunks of 4) and a 2-round
    search (ask -> train_population -> tell, state fingerprint checked every
    round, collective orbax checkpoints): 2 processes x 2 devices, 1 x 4 and
    1 x 1 give the same results.parquet and trained params."""
    runs = {"two": tmp_path / "two", "four": tmp_path / "four", "one": tmp_path / "one"}
    singles = [
        _one_process(4, "search", str(runs["four"]), searcher),
        _one_process(1, "search", str(runs["one"]), searcher),
    ]
    _two_processes("search", str(runs["two"]), searcher)
    for p in singles:
        assert "SEARCH_OK" in _finish(p)
    ref = pl.read_parquet(runs["one"] / "results.parquet")
    assert ref.height == 6 and ref["round"].to_list() == [0] * 3 + [1] * 3
    assert ref["fitness"].is_finite().all()
    # Round 1 holds morph children that inherited their parents' weights.
    assert (ref.filter(pl.col("round") == 1)["parent_fingerprint"] != "").any()
    ref_train = dict(np.load(runs["one"] / "train.npz"))
    for name in ("two", "four"):
        df = pl.read_parquet(runs[name] / "results.parquet")
        assert df.columns == ref.columns
        for col in df.columns:
            if col == "state_fingerprint":  # exact bytes: equal within a run only
                continue
            if df[col].dtype == pl.Float64:
                np.testing.assert_allclose(df[col], ref[col], atol=1e-5, err_msg=col)
            else:
                assert df[col].to_list() == ref[col].to_list(), (name, col)
        _assert_close(dict(np.load(runs[name] / "train.npz")), ref_train)
    assert not (runs["two"] / "results.parquet.tmp").exists()
