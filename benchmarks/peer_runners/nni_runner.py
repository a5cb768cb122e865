"""NNI's network-morphism tuner (the port of AutoKeras' classic morphism + GP
search) on the exported splits; see ``common.py``.

The tuner is driven directly through its ask/tell methods
(``generate_parameters`` / ``receive_trial_result``) in one process, without
the NNI experiment manager. Its graphs target images; here they get the
windows as a 1-D "image" of length ``W`` with ``F`` channels (the tuner's
1-D support: ``input_shape = (W, F)`` makes its CNN generator and morphs use
``Conv1d``, ``BatchNorm1d``, 1-D pooling and global average pooling), and the
torch model built from the graph JSON (``json_to_graph(...).produce_torch_model()``,
as in NNI's network-morphism examples) reads ``[n, F, W]`` (channels first).
Windows shorter than ``MIN_LENGTH`` steps are left-padded with zeros (the
past side) to that length: the generator's CNN pools its input several times
and fails on a 4-step sequence ("max_pool1d() Invalid computed output size:
0"). The graphs carry no weights, so every trial trains from scratch. The
wall-clock budget is checked before and after each proposal (the tuner's
Bayesian optimisation can take minutes per proposal and cannot be
interrupted).

Training per trial mirrors nasjax's: ``steps`` AdamW steps (lr 1e-3, weight
decay 1e-4, linear warm-up then cosine decay to 10%, global-norm clipping at
1.0) on minibatches drawn with replacement from the training split,
validation accuracy every ``eval_every`` steps, the best evaluation kept.
"""

from __future__ import annotations

import time

T_PROCESS = time.perf_counter()

import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import Recorder, load_splits, parse_args  # noqa: E402

MIN_LENGTH = 16
"""Shortest sequence the tuner's generated CNNs get (zero-padded in the past)."""


def pad_past(x: np.ndarray, length: int) -> np.ndarray:
    """``float32[n, max(W, length), F]``: windows left-padded with zeros."""
    short = length - x.shape[1]
    return x if short <= 0 else np.pad(x, ((0, 0), (short, 0), (0, 0)))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, learning_rate=1e-3, warmup_steps=20)
    import torch
    from nni.algorithms.hpo.networkmorphism_tuner.graph import json_to_graph
    from nni.algorithms.hpo.networkmorphism_tuner.networkmorphism_tuner import (
        NetworkMorphismTuner,
    )

    logging.getLogger("NetworkMorphism_AutoML").setLevel(logging.WARNING)
    logging.getLogger("nni").setLevel(logging.WARNING)
    torch.set_num_threads(os.cpu_count() or 1)
    random.seed(args.seed)
    np.random.seed(args.seed)  # noqa: NPY002  (the tuner draws from the global RNG)
    torch.manual_seed(args.seed)

    data = load_splits(args.data)
    for k in ("x_train", "x_val", "x_test"):
        data[k] = pad_past(data[k], MIN_LENGTH)
    _, w, f = data["x_train"].shape

    def channels_first(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 2, 1)))

    x_tr, x_va, x_te = (channels_first(data[k]) for k in ("x_train", "x_val", "x_test"))
    y_tr = torch.from_numpy(data["y_train"].astype(np.int64))
    y_va = data["y_val"].astype(np.int64)
    model_dir = Path(args.out) / "models"
    tuner = NetworkMorphismTuner(
        task="cv",
        input_width=w,
        input_channel=f,
        n_output_node=2,
        optimize_mode="maximize",
        path=str(model_dir),
        verbose=False,
    )
    tuner.input_shape = (w, f)  # 1-D: length W, F channels (see the docstring)
    rec = Recorder("nni_morphism", args, T_PROCESS)
    warmup = min(args.warmup_steps, args.steps // 4)

    def lr_at(step: int) -> float:
        if step < warmup:
            return args.learning_rate * (step + 1) / warmup
        frac = (step - warmup) / max(1, args.steps - warmup)
        return args.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    @torch.no_grad()
    def proba(net: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
        net.eval()
        out = [
            torch.softmax(net(x[i : i + 1024]), -1)[:, 1]
            for i in range(0, len(x), 1024)
        ]
        net.train()
        return torch.cat(out).numpy()

    best_val, best_state, best_model = -np.inf, None, None
    failed = 0
    for trial in range(args.max_trials):
        if rec.over_budget():
            break
        params = tuner.generate_parameters(trial)
        if rec.over_budget():  # the proposal itself spent the budget
            rec.info["proposals_discarded"] = 1
            break
        net = json_to_graph(params).produce_torch_model()
        opt = torch.optim.AdamW(
            net.parameters(), lr=args.learning_rate, weight_decay=1e-4
        )
        gen = np.random.default_rng([args.seed, trial])
        start = rec.now()
        val, state = -np.inf, None
        ok = True
        net.train()
        for step in range(args.steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            idx = torch.from_numpy(gen.integers(0, len(x_tr), args.batch_size))
            loss = torch.nn.functional.cross_entropy(net(x_tr[idx]), y_tr[idx])
            if not torch.isfinite(loss):
                ok = False
                break
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            if (step + 1) % args.eval_every == 0:
                acc = float(np.mean((proba(net, x_va) > 0.5) == y_va))
                if acc > val:
                    val = acc
                    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        end = rec.now()
        if not ok or state is None:
            failed += 1
            val = 0.0  # the tuner needs a number; a failed trial is the worst
        tuner.receive_trial_result(trial, params, val)
        n_params = sum(p.numel() for p in net.parameters())
        rec.add(start, end, val if ok else np.nan, params_count=int(n_params))
        if ok and val > best_val:
            best_val, best_state, best_model = val, state, net
    search_s = rec.now()
    test = None
    if best_model is not None:
        best_model.load_state_dict(best_state)
        test = proba(best_model, x_te)
    rec.info["n_failed"] = failed
    rec.info["versions"] = {"torch": torch.__version__, "nni": _nni_version()}
    rec.info["input_shape"] = [w, f]
    rec.write(test, search_s)


def _nni_version() -> str:
    from importlib.metadata import version

    return version("nni")


if __name__ == "__main__":
    main()
