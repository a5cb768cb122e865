"""``bayes_morph``: GP + expected improvement over morph children (the method).

Until ``n_init`` evaluations succeed, random archs are asked. Afterwards each
``ask`` fits the GP (MAP by L-BFGS, float64) to the archive, conditions it
on pending archs (kriging believer), and picks ``n`` distinct children of the
top-k archs by :func:`nasjax.surrogate.propose`; the children inherit their
parents' (trained) weights. If the candidates run out, random archs fill in.

Warm start (``gp_warm_start``, MAP only): the MAP hyper-parameters of each fit
are kept in ``state.carry["gp"]`` (checkpointed with the state); the next fit
starts from them with a single start, and every ``gp_fresh_every``-th fit
runs all ``gp_restarts`` starts (the warm one among them).

Multi-objective option (``objectives=("accuracy", "params")`` or
``("accuracy", "macs")``, or all three): qParEGO-style random scalarisation.
The GP still models accuracy alone; the costs are known exactly for every
candidate (``-log10`` of :func:`nasjax.nn.active_param_count` /
:func:`nasjax.nn.active_macs`). Each member of a batch draws its own simplex
weight and maximises the exact expected improvement of the augmented
Chebyshev scalarisation (:func:`nasjax.surrogate.scalarised_expected_improvement`),
so one batch spreads along the front; parents are drawn from the lowest
Pareto ranks instead of the highest accuracy. The front itself is
:func:`nasjax.search.pareto_front_of` of the state.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from nasjax.graph.spec import ArchSpec
from nasjax.morph.registry import MORPHS
from nasjax.nn.fold_params import stack_members
from nasjax.search.base import (
    Proposal,
    Searcher,
    excluded,
    init_state,
    merge,
    proposal_from_random,
    random_population,
    take,
    tell_archive,
)
from nasjax.search.objectives import (
    check_objectives,
    known_objectives,
    objective_matrix,
    pareto_front_of,
    pareto_ranks,
)
from nasjax.surrogate.encode import encode_population, layout
from nasjax.surrogate.gp import fit_gp
from nasjax.surrogate.propose import Scalarisation, propose


def make(
    spec: ArchSpec,
    *,
    n_init: int = 8,
    n_candidates: int = 1024,
    top_k: int = 8,
    chain_length: int = 2,
    random_fraction: float = 0.125,
    morphs: Sequence[str] | None = None,
    acquisition: str = "ei",
    gp_method: str = "map",
    gp_restarts: int = 8,
    gp_steps: int = 200,
    gp_optimizer: str = "lbfgs",
    gp_warm_start: bool = True,
    gp_fresh_every: int = 5,
    gp_sparse_above: int = 2048,
    gp_inducing: int = 512,
    gp_noise_aware: bool = True,
    objectives: Sequence[str] = ("accuracy",),
    rho: float = 0.05,
) -> Searcher:
    """GP-BO over morphs in bucket ``spec``.

    Args:
        spec: The bucket.
        n_init: Successful evaluations before the GP is used.
        n_candidates: Candidates scored per ask.
        top_k: Parents come from the ``top_k`` fittest archs.
        chain_length: Morphs per candidate chain.
        random_fraction: Share of random-restart candidates.
        morphs: Morph names (default: all).
        acquisition: ``"ei"``, ``"log_ei"``, ``"pi"`` or ``"ucb"``.
        gp_method: ``"map"`` or ``"nuts"``.
        gp_restarts: MAP restarts.
        gp_steps: Most L-BFGS iterations per stage (Adam: steps per restart).
        gp_optimizer: ``"lbfgs"`` or ``"adam"``.
        gp_warm_start: Start each MAP fit from the previous one (above).
        gp_fresh_every: Fits between multi-start fits under warm start.
        gp_sparse_above: Observations above which the GP is sparse.
        gp_inducing: Inducing points of the sparse GP.
        gp_noise_aware: Add each observation's known noise (its told
            ``fitness_se`` squared) to the GP's learned noise, so that a
            score measured on few samples or with a wide fold spread
            counts for less; False: one learned noise for all.
        objectives: ``("accuracy",)`` (default, single objective) or
            ``"accuracy"`` followed by costs to minimise, from
            :data:`nasjax.search.objectives.COSTS` (``"params"``,
            ``"macs"``).
        rho: Augmentation weight of the Chebyshev scalarisation (multi-
            objective only).

    Raises:
        ValueError: On unknown objectives, or a multi-objective run with an
            acquisition other than ``"ei"``.
    """
    names = tuple(MORPHS) if morphs is None else tuple(morphs)
    lay = layout(spec)
    objs = check_objectives(objectives)
    costs = objs[1:]
    if costs and acquisition != "ei":
        raise ValueError(
            "multi-objective bayes_morph uses the scalarised expected "
            f"improvement; acquisition must be 'ei', got {acquisition!r}"
        )
    if costs and rho <= 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    if gp_fresh_every < 1:
        raise ValueError(f"gp_fresh_every must be >= 1, got {gp_fresh_every}")
    warm = gp_warm_start and gp_method == "map"

    def fit(key, enc, fitness, noise_var, carry):
        prev = (carry or {}).get("gp") if warm else None
        fits = int((carry or {}).get("gp_fits", 0))
        fresh = prev is None or fits % gp_fresh_every == 0
        gp = fit_gp(
            key, enc, fitness, lay, method=gp_method,
            n_restarts=gp_restarts if fresh else 1, steps=gp_steps,
            optimizer=gp_optimizer, init=prev, sparse_above=gp_sparse_above,
            n_inducing=gp_inducing,
            noise_var=noise_var if gp_noise_aware and noise_var.any() else None,
        )  # fmt: skip
        if not warm:
            return gp, carry
        return gp, {**(carry or {}), "gp": gp.hyper.to_host(), "gp_fits": fits + 1}

    def known(archs):
        return known_objectives(archs, costs)

    def ask(key, state, n):
        arch = state.archive
        k_fit, k_prop, k_fill = jax.random.split(key, 3)
        seen = excluded(state)
        ok = np.isfinite(arch.fitness)
        if arch.archs is None or ok.sum() < n_init:
            archs, params, fps = random_population(k_fill, spec, n, seen)
            prop = proposal_from_random(archs, params, fps)
            return prop, state._replace(pending=prop)
        enc = encode_population(arch.archs)
        gp, carry = fit(k_fit, enc, arch.fitness, arch.noise_var, state.carry)
        with_params = np.asarray(
            [ok[i] and fp in arch.params for i, fp in enumerate(arch.fingerprints)]
        )
        idx = np.flatnonzero(with_params)
        parents = take(arch.archs, idx)
        params = stack_members([arch.params[arch.fingerprints[i]] for i in idx])
        pending = (
            encode_population(state.pending.archs)
            if state.pending is not None
            else None
        )
        rank_by = arch.fitness[idx]
        scal = None
        if costs:
            rank_by, scal = _scalarisation(
                jax.random.fold_in(key, 1), gp, arch.archs, arch.fitness, idx,
                state.pending, pending, objs, n, rho, known,
            )  # fmt: skip
        mp = propose(
            k_prop, gp, parents, params, rank_by, n,
            n_candidates=n_candidates, top_k=top_k, chain_length=chain_length,
            random_fraction=random_fraction, morphs=names,
            acquisition=acquisition, exclude=seen, pending=pending,
            scalarisation=scal,
        )  # fmt: skip
        k = len(mp.fingerprints)
        morph_names = tuple(
            tuple(
                names[int(m)]
                for m, a in zip(mp.morph_ids[i], mp.applied[i], strict=True)
                if a
            )
            for i in range(k)
        )
        parent_fps = tuple(
            arch.fingerprints[idx[p]] if p >= 0 else "" for p in mp.parent
        )
        prop = Proposal(mp.archs, mp.params, parent_fps, morph_names, mp.fingerprints)
        if k < n:
            seen |= set(mp.fingerprints)
            r = random_population(k_fill, spec, n - k, seen)
            extra = proposal_from_random(*r)
            prop = extra if k == 0 else merge(prop, extra)
        return prop, state._replace(pending=prop, carry=carry)

    def tell(key, state, archs, fitness, params=None, fitness_se=None):
        del key
        keep = max(top_k, 2 * n_init)
        if not costs:
            return tell_archive(
                state, archs, fitness, params, keep, fitness_se=fitness_se
            )

        def front_rows(all_archs, all_fit):
            y = objective_matrix(all_archs, all_fit, objs)
            return np.flatnonzero(pareto_ranks(y) <= 1)

        state, metrics = tell_archive(
            state, archs, fitness, params, keep, front_rows, fitness_se=fitness_se
        )
        front = pareto_front_of(state, objs)
        return state, {**metrics, "pareto_size": len(front.fingerprints)}

    return Searcher(init_state, ask, tell)


def _scalarisation(
    key, gp, archs, fitness, idx, pending_prop, pending_enc, objs, n, rho, known
) -> tuple[np.ndarray, Scalarisation]:
    """Parent ranking scores ``float[len(idx)]`` and the per-pick weights."""
    y = objective_matrix(archs, fitness, objs)
    ok = np.all(np.isfinite(y), axis=1)
    lo, hi = y[ok].min(axis=0), y[ok].max(axis=0)
    observed = y[ok]
    if pending_prop is not None and pending_enc is not None:
        believed, _ = gp.predict(pending_enc)
        p_rows = objective_matrix(pending_prop.archs, np.asarray(believed), objs)
        observed = np.concatenate([observed, p_rows])
    weights = np.asarray(jax.random.dirichlet(key, np.ones(len(objs)), (n,)))
    rank = pareto_ranks(y[idx]).astype(np.float64)
    z_acc = (y[idx, 0] - lo[0]) / max(hi[0] - lo[0], 1e-12)
    score = -rank + 0.5 * z_acc  # lower ranks first; accuracy breaks ties
    return score, Scalarisation(weights, lo, hi, observed, known, rho)
