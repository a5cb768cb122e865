"""The deprecated call form of ``train_population`` mapped onto the new one.

Earlier releases took ``train_population(key, archs, params, dataset, folds,
norm, cfg, *, fold_axis=, shard=, init_from=, data=, chunk_size=,
dispatch=, min_capacities=, node_loop=)``. That form keeps working for one
release, with a ``DeprecationWarning``: the three data arguments (or the
prebuilt ``data=``) become the one ``data`` value, the mode keywords a
:class:`~nasjax.train.plan.TrainPlan`, ``init_from="scratch"`` params None.
"""

from __future__ import annotations

import warnings
from typing import Any

from nasjax.data.dataset import Dataset, FoldedData
from nasjax.train.plan import (
    Auto,
    DispatchedOps,
    ScheduledOps,
    Strategy,
    TrainPlan,
    VmappedSwitch,
)

#: The mode keywords of the deprecated form (now a ``TrainPlan``).
PLAN_KEYWORDS: tuple[str, ...] = (
    "dispatch",
    "node_loop",
    "fold_axis",
    "init_from",
    "shard",
    "chunk_size",
    "min_capacities",
)
_DATA_NAMES = ("dataset", "folds", "norm", "cfg")
DISPATCH_MODES: tuple[str, ...] = ("ops", "switch")
NODE_LOOP_MODES: tuple[str, ...] = ("auto", "unroll", "scan", "schedule")
INIT_MODES: tuple[str, ...] = ("inherit", "scratch")


def plan_from_keywords(
    dispatch: str = "ops",
    node_loop: str = "auto",
    fold_axis: str = "vmap",
    shard: bool = True,
    chunk_size: int | None = None,
    min_capacities: Any = None,
) -> TrainPlan:
    """The :class:`TrainPlan` of the deprecated mode keywords.

    ``dispatch="switch"`` is :class:`VmappedSwitch` (which ignored
    ``node_loop`` and ``min_capacities``); ``dispatch="ops"`` maps
    ``node_loop`` ``"auto"`` / ``"schedule"`` / ``"unroll"`` / ``"scan"`` to
    :class:`Auto`, :class:`ScheduledOps` and :class:`DispatchedOps`.

    Raises:
        ValueError: On an unknown mode.
    """
    if dispatch not in DISPATCH_MODES:
        raise ValueError(f"dispatch must be one of {DISPATCH_MODES}, got {dispatch!r}")
    if node_loop not in NODE_LOOP_MODES:
        raise ValueError(
            f"node_loop must be one of {NODE_LOOP_MODES}, got {node_loop!r}"
        )
    strategy: Strategy
    if dispatch == "switch":
        strategy, min_capacities = VmappedSwitch(), None
    elif node_loop == "auto":
        strategy = Auto()
    elif node_loop == "schedule":
        strategy = ScheduledOps()
    else:
        strategy = DispatchedOps(node_loop)
    return TrainPlan(
        strategy=strategy,
        fold_axis=fold_axis,
        chunk_size=chunk_size or None,
        min_capacities=min_capacities,
        shard=shard,
    )


def legacy_call(
    params: Any, data: Any, cfg: Any, args: tuple, kwargs: dict, plan: Any
) -> tuple[Any, Any, Any, Any]:
    """``(params, data, cfg, plan)`` of a call with extra arguments.

    ``data`` / ``cfg`` are the 4th and 5th positional arguments, ``args`` the
    positional ones after them, ``kwargs`` every keyword but ``plan`` and
    ``lr_scale``. New-form keywords (``data=``, ``cfg=``) pass silently;
    the old form warns.

    Raises:
        TypeError: On unknown keywords, a value given twice, or ``plan=``
            with the deprecated mode keywords.
        ValueError: On an unknown mode.
    """
    kwargs = dict(kwargs)
    unknown = set(kwargs) - {*PLAN_KEYWORDS, "data", *_DATA_NAMES}
    if unknown:
        raise TypeError(
            f"train_population() got unexpected keyword arguments {sorted(unknown)}"
        )
    old_data = (
        bool(args)
        or isinstance(data, Dataset)
        or any(name in kwargs for name in ("dataset", "folds", "norm"))
    )
    if old_data:
        given = [data, cfg, *args]
        if len(given) > len(_DATA_NAMES):
            raise TypeError(
                "train_population() takes at most 7 positional arguments "
                f"(the deprecated form), got {3 + len(given)}"
            )
        values = {
            n: v for n, v in zip(_DATA_NAMES, given, strict=False) if v is not None
        }
        for name in _DATA_NAMES:
            if name in kwargs:
                if name in values:
                    raise TypeError(f"train_population() got {name} twice")
                values[name] = kwargs.pop(name)
        missing = [n for n in _DATA_NAMES if n not in values]
        if missing:
            raise TypeError(f"train_population() is missing {missing}")
        prebuilt = kwargs.pop("data", None)
        data = (
            FoldedData(values["dataset"], values["folds"], values["norm"])
            if prebuilt is None
            else prebuilt
        )
        cfg = values["cfg"]
    else:
        for name in ("data", "cfg"):
            if name in kwargs:
                if (data if name == "data" else cfg) is not None:
                    raise TypeError(f"train_population() got {name} twice")
                if name == "data":
                    data = kwargs.pop(name)
                else:
                    cfg = kwargs.pop(name)
    modes = {k: kwargs.pop(k) for k in PLAN_KEYWORDS if k in kwargs}
    if old_data or modes:
        warnings.warn(
            "train_population(key, archs, params, dataset, folds, norm, cfg, "
            "dispatch=/node_loop=/fold_axis=/init_from=/shard=/chunk_size=/"
            "min_capacities=/data=) is deprecated: call train_population(key, "
            "archs, params, data, cfg, plan=TrainPlan(...)) with data a "
            "FoldedData or TrainData, and params=None to train from scratch",
            DeprecationWarning,
            stacklevel=3,
        )
    if modes:
        if plan is not None:
            raise TypeError(
                "train_population(): pass plan= or the deprecated mode "
                f"keywords {sorted(modes)}, not both"
            )
        init_from = modes.pop("init_from", "inherit")
        if init_from not in INIT_MODES:
            raise ValueError(
                f"init_from must be one of {INIT_MODES}, got {init_from!r}"
            )
        if init_from == "scratch":
            params = None
        plan = plan_from_keywords(**modes)
    return params, data, cfg, plan
