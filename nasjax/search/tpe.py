"""``tpe``: Optuna's Tree-structured Parzen Estimator over the same arch space.

A peer searcher through Optuna's ask/tell interface (optional dependency:
``pip install 'nasjax[tpe]'``). The architecture space of a bucket is
parametrised define-by-run (:func:`suggest`):

* ``n_nodes`` in ``[2, N]`` (input node + ``n_nodes - 1`` op nodes),
* per node ``i``: ``width_i`` (multiples of ``width_step``), and for op nodes
  ``op_i`` (categorical); ``kernel_i`` and ``dilation_i`` only when
  ``op_i == "conv"``,
* the backbone chain ``i -> i + 1`` is always present; every other forward
  edge ``i -> j`` (``j >= i + 2``) is a ``skip_i_j`` boolean,
* ``readout`` (categorical).

Every parameter set is a valid arch (:func:`params_to_arch`), and every arch
with the backbone chain maps back to a unique parameter set
(:func:`arch_to_params`; kernel and dilation of non-conv nodes, which do not
change the computation, are dropped).

State and determinism. The ``Searcher`` functions are pure, but an Optuna
study is a mutable object. The state therefore holds no study: it is the
shared :class:`~nasjax.search.base.SearchState`, whose archive already holds
every told ``(arch, fitness)``. Each ``ask`` rebuilds an in-memory study by
replaying the archive as finished trials (``study.add_trial``; failed
evaluations as failed trials, in archive order) and the pending archs as
running trials, with a ``TPESampler`` seeded from the ask key; it then calls
``study.ask()`` ``n`` times. So the state checkpoints as plain data, a resumed
search rebuilds exactly the same study, and the same key gives the same
proposals. The rebuild costs one ``add_trial`` per evaluation (milliseconds
for hundreds of trials). With ``constant_liar`` (default) the trials asked
earlier in the batch count as bad while running, which spreads a batch out.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from nasjax.graph.arch import Arch
from nasjax.graph.build import chain, stack
from nasjax.graph.spec import READOUTS, ArchSpec, bucket_indices
from nasjax.search.base import (
    Searcher,
    excluded,
    fingerprints,
    host_rng,
    init_population,
    init_state,
    merge,
    proposal_from_random,
    random_population,
    take,
    tell_archive,
)
from nasjax.typing import Key, Params

if TYPE_CHECKING:
    import optuna

INSTALL_HINT = (
    "the 'tpe' searcher needs the optional dependency optuna: "
    "pip install 'nasjax[tpe]' (or pip install 'optuna>=4')"
)


def _optuna():
    """Import optuna, or raise an ImportError that says how to install it."""
    try:
        import optuna
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return optuna


def distributions(spec: ArchSpec) -> dict[str, Any]:
    """Every parameter's Optuna distribution for bucket ``spec``.

    Returns:
        ``name -> optuna.distributions.BaseDistribution``; a trial uses the
        subset its ``n_nodes`` and ops make active.
    """
    dist = _optuna().distributions
    n = spec.max_nodes
    out: dict[str, Any] = {"n_nodes": dist.IntDistribution(2, n)}
    for i in range(n):
        out[f"width_{i}"] = dist.IntDistribution(
            spec.width_step, spec.max_width, step=spec.width_step
        )
        if i == 0:
            continue
        out[f"op_{i}"] = dist.CategoricalDistribution(spec.ops)
        out[f"kernel_{i}"] = dist.IntDistribution(1, spec.max_kernel)
        out[f"dilation_{i}"] = dist.CategoricalDistribution(spec.dilations)
    for i in range(n):
        for j in range(i + 2, n):
            out[f"skip_{i}_{j}"] = dist.CategoricalDistribution((False, True))
    out["readout"] = dist.CategoricalDistribution(READOUTS)
    return out


def _active(spec: ArchSpec, params: dict[str, Any]) -> list[str]:
    """Names of the parameters a (partial) parameter set makes active."""
    n = int(params["n_nodes"])
    names = ["n_nodes"]
    for i in range(n):
        names.append(f"width_{i}")
        if i == 0:
            continue
        names.append(f"op_{i}")
        if params.get(f"op_{i}") == "conv":
            names += [f"kernel_{i}", f"dilation_{i}"]
    names += [f"skip_{i}_{j}" for i in range(n) for j in range(i + 2, n)]
    return [*names, "readout"]


def suggest(trial: optuna.Trial, spec: ArchSpec) -> dict[str, Any]:
    """Draw one parameter set define-by-run from ``trial``.

    Returns:
        The parameter dict (``trial.params``).
    """
    dists = distributions(spec)
    dist = _optuna().distributions
    params: dict[str, Any] = {}
    n = trial.suggest_int("n_nodes", 2, spec.max_nodes)
    params["n_nodes"] = n
    for name in _active(spec, {"n_nodes": n})[1:]:
        if name.startswith("op_"):
            params[name] = trial.suggest_categorical(name, spec.ops)
            if params[name] == "conv":
                i = name.split("_")[1]
                for sub in (f"kernel_{i}", f"dilation_{i}"):
                    params[sub] = _suggest_one(trial, sub, dists[sub], dist)
            continue
        params[name] = _suggest_one(trial, name, dists[name], dist)
    return params


def _suggest_one(trial, name, d, dist):
    if isinstance(d, dist.IntDistribution):
        return trial.suggest_int(name, d.low, d.high, step=d.step)
    return trial.suggest_categorical(name, d.choices)


def params_to_arch(spec: ArchSpec, params: dict[str, Any]) -> Arch:
    """The (validated) arch of a parameter set."""
    n = int(params["n_nodes"])
    ops = [str(params[f"op_{i}"]) for i in range(1, n)]
    conv = [op == "conv" for op in ops]
    return chain(
        spec,
        ops,
        [int(params[f"width_{i}"]) for i in range(1, n)],
        input_width=int(params["width_0"]),
        kernels=[int(params[f"kernel_{i}"]) if c else 1 for i, c in enumerate(conv, 1)],
        dilations=[
            int(params[f"dilation_{i}"]) if c else 1 for i, c in enumerate(conv, 1)
        ],
        readout=str(params["readout"]),
        skips=[
            (i, j)
            for i in range(n)
            for j in range(i + 2, n)
            if bool(params[f"skip_{i}_{j}"])
        ],
    )


def arch_to_params(arch: Arch) -> dict[str, Any] | None:
    """The parameter set of a single arch (None without the backbone chain)."""
    spec = arch.spec
    a = arch.to_numpy()
    n = int(a["node_mask"].sum())
    adj = a["adj"].astype(bool)
    if not all(adj[i, i + 1] for i in range(n - 1)):
        return None
    params: dict[str, Any] = {"n_nodes": n}
    for i in range(n):
        params[f"width_{i}"] = int(a["width"][i])
        if i == 0:
            continue
        op = spec.ops[int(a["ops"][i])]
        params[f"op_{i}"] = op
        if op == "conv":
            params[f"kernel_{i}"] = int(a["kernel"][i])
            params[f"dilation_{i}"] = int(a["dilation"][i])
    for i in range(n):
        for j in range(i + 2, n):
            params[f"skip_{i}_{j}"] = bool(adj[i, j])
    params["readout"] = READOUTS[int(a["readout"])]
    return params


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's per-study INFO log line (level restored afterwards)."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def build_study(
    key: Key,
    spec: ArchSpec,
    archs: Arch | None,
    fitness: np.ndarray,
    pending: Arch | None = None,
    *,
    n_startup_trials: int = 10,
    n_ei_candidates: int = 24,
    constant_liar: bool = True,
    multivariate: bool = False,
) -> optuna.Study:
    """An in-memory study replaying evaluations (and pending archs).

    Args:
        key: PRNG key; seeds the ``TPESampler``.
        spec: The bucket.
        archs: Stacked evaluated archs ``[E]`` (None when none).
        fitness: ``float[E]``; NaN = failed (a failed trial).
        pending: Stacked archs being evaluated (running trials), or None.
        n_startup_trials: Random trials before TPE is used.
        n_ei_candidates: Candidates TPE scores per parameter.
        constant_liar: Count running trials as bad (spreads a batch).
        multivariate: Multivariate TPE.

    Returns:
        A maximising ``optuna.Study``. Archs without the backbone chain (not
        in this space) are skipped.
    """
    optuna = _optuna()
    dists = distributions(spec)
    seed = int(host_rng(key).integers(2**31 - 1))
    with warnings.catch_warnings():
        # Older Optuna releases mark constant_liar / multivariate experimental.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=n_startup_trials,
            n_ei_candidates=n_ei_candidates,
            constant_liar=constant_liar,
            multivariate=multivariate,
        )
    with _quiet():
        study = optuna.create_study(direction="maximize", sampler=sampler)
    done = optuna.trial.TrialState
    rows: list[tuple[Arch, float | None]] = []
    if archs is not None:
        fit = np.asarray(fitness, np.float64)
        rows += [(a, float(f)) for a, f in zip(_unstack(archs), fit, strict=True)]
    if pending is not None:
        rows += [(a, None) for a in _unstack(pending)]
    for arch, value in rows:
        params = arch_to_params(arch)
        if params is None:
            continue
        d = {k: dists[k] for k in params}
        if value is None:
            trial = optuna.trial.create_trial(
                params=params, distributions=d, state=done.RUNNING
            )
        elif np.isfinite(value):
            trial = optuna.trial.create_trial(
                params=params, distributions=d, value=value
            )
        else:
            trial = optuna.trial.create_trial(
                params=params, distributions=d, state=done.FAIL
            )
        study.add_trial(trial)
    return study


def _unstack(archs: Arch) -> list[Arch]:
    """Host-side rows of a stacked population (numpy leaves)."""
    host = archs.to_numpy()
    rows = range(archs.batch_shape[0])
    return [Arch(spec=archs.spec, **{f: v[i] for f, v in host.items()}) for i in rows]


def _fresh_params(key: Key, archs: Arch) -> Params:
    """``nn.init`` params of each member, padded to a power of two."""
    n = archs.batch_shape[0]
    idx = bucket_indices(n, 8)
    keys = jax.random.split(key, len(idx))
    params = init_population(keys, take(archs, idx))
    return take(params, np.arange(n))


def make(
    spec: ArchSpec,
    *,
    n_startup_trials: int = 10,
    n_ei_candidates: int = 24,
    constant_liar: bool = True,
    multivariate: bool = False,
    max_tries: int = 8,
    keep_params: int = 16,
) -> Searcher:
    """Optuna TPE over the archs of ``spec``.

    Args:
        spec: The bucket.
        n_startup_trials: Random trials before TPE models the archive.
        n_ei_candidates: Candidates TPE scores per parameter.
        constant_liar: Count running trials as bad (batch diversity).
        multivariate: Multivariate TPE.
        max_tries: ``study.ask()`` calls per wanted arch before random archs
            fill in (duplicates of evaluated or pending archs are skipped).
        keep_params: Params kept in the archive (top-k and most recent).

    Raises:
        ImportError: If optuna is not installed (with the install command).
    """
    _optuna()
    kw = {
        "n_startup_trials": n_startup_trials,
        "n_ei_candidates": n_ei_candidates,
        "constant_liar": constant_liar,
        "multivariate": multivariate,
    }

    def ask(key, state, n):
        k_study, k_init, k_fill = jax.random.split(key, 3)
        arch = state.archive
        pend = state.pending.archs if state.pending is not None else None
        study = build_study(k_study, spec, arch.archs, arch.fitness, pend, **kw)
        seen = excluded(state)
        chosen: list[Arch] = []
        fps: list[str] = []
        for _ in range(max_tries * n):
            if len(chosen) == n:
                break
            trial = study.ask()
            a = params_to_arch(spec, suggest(trial, spec))
            fp = a.fingerprint()
            if fp in seen:
                continue  # left running: constant_liar then avoids it
            seen.add(fp)
            chosen.append(a)
            fps.append(fp)
        prop = None
        if chosen:
            archs = stack(chosen)
            if fingerprints(archs) != tuple(fps):
                raise RuntimeError("tpe: fingerprints changed while stacking")
            prop = proposal_from_random(archs, _fresh_params(k_init, archs), tuple(fps))
        if len(chosen) < n:
            r = random_population(k_fill, spec, n - len(chosen), seen)
            extra = proposal_from_random(*r)
            prop = extra if prop is None else merge(prop, extra)
        assert prop is not None
        return prop, state._replace(pending=prop)

    def tell(key, state, archs, fitness, params=None, fitness_se=None):
        del key
        return tell_archive(
            state, archs, fitness, params, keep_params, fitness_se=fitness_se
        )

    return Searcher(init_state, ask, tell)
