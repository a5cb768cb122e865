"""AutoKeras 3 (Keras JAX backend) on the exported splits; see ``common.py``.

``--variant structured``: ``ak.StructuredDataClassifier`` on the flattened
windows (``W * F`` numerical columns). ``--variant rnn``: an ``ak.AutoModel``
``Input -> RNNBlock -> ClassificationHead`` on the ``[n, W, F]`` windows
(AutoKeras 3 has no time-series task class).

Training budget per trial: ``steps // eval_every`` epochs of ``eval_every``
steps each (``steps_per_epoch``) at the same batch size as nasjax, validation
accuracy after every epoch; KerasTuner scores a trial by its best epoch, as
nasjax scores an architecture by its best evaluation. An ``EarlyStopping``
callback that never fires is passed so that AutoKeras neither inserts its
own nor retrains the winner at the end: the best model is the best trial's
best-epoch checkpoint, trained on the training split only. The wall-clock
budget is checked after every trial (the oracle's ``max_trials`` is cut to
the trials done once it is spent).
"""

from __future__ import annotations

import os
import time

T_PROCESS = time.perf_counter()
os.environ.setdefault("KERAS_BACKEND", "jax")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from common import Recorder, load_splits, parse_args  # noqa: E402

_LOG: list[dict] = []  # module globals: KerasTuner deep-copies callbacks
_STATE: dict = {}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv, variant="structured")
    import autokeras as ak
    import keras

    data = load_splits(args.data)
    _, w, f = data["x_train"].shape
    if args.variant == "structured":
        shape = (-1, w * f)
        x_tr, x_va, x_te = (
            data[k].reshape(shape) for k in ("x_train", "x_val", "x_test")
        )
    elif args.variant == "rnn":
        x_tr, x_va, x_te = data["x_train"], data["x_val"], data["x_test"]
    else:
        raise SystemExit(f"unknown variant {args.variant!r}")
    y_tr, y_va = data["y_train"].astype(np.int64), data["y_val"].astype(np.int64)
    keras.utils.set_random_seed(args.seed)
    project = Path(args.out) / "project"
    common_kw = dict(
        max_trials=args.max_trials,
        directory=str(project),
        overwrite=True,
        seed=args.seed,
        objective="val_accuracy",
    )
    if args.variant == "structured":
        model = ak.StructuredDataClassifier(num_classes=2, **common_kw)
    else:
        inp = ak.Input()
        out = ak.ClassificationHead(num_classes=2)(ak.RNNBlock()(inp))
        model = ak.AutoModel(inputs=inp, outputs=out, **common_kw)
    rec = Recorder(f"autokeras_{args.variant}", args, T_PROCESS)
    _STATE.update(rec=rec, model=model)

    class TrialClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            _LOG.append({"start_s": rec.now(), "val": []})

        def on_epoch_end(self, epoch, logs=None):
            _LOG[-1]["val"].append(float((logs or {}).get("val_accuracy", np.nan)))

        def on_train_end(self, logs=None):
            _LOG[-1]["end_s"] = rec.now()
            if rec.over_budget():  # stop before the next trial
                oracle = _STATE["model"].tuner.oracle
                oracle.max_trials = len(oracle.trials)

    epochs = max(1, args.steps // args.eval_every)
    never = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=epochs + 1
    )
    model.fit(
        x_tr,
        y_tr,
        epochs=epochs,
        steps_per_epoch=args.eval_every,
        batch_size=args.batch_size,
        validation_data=(x_va, y_va),
        callbacks=[TrialClock(), never],
        verbose=0,
    )
    search_s = rec.now()
    for entry in _LOG:
        val = max(entry["val"]) if entry["val"] else np.nan
        rec.add(
            entry["start_s"], entry.get("end_s", np.nan), val, epochs=len(entry["val"])
        )
    oracle = model.tuner.oracle
    statuses = [str(t.status) for t in oracle.trials.values()]
    rec.info["n_failed"] = sum("FAILED" in s.upper() for s in statuses)
    rec.info["oracle_trials"] = len(statuses)
    best = oracle.get_best_trials(1)[0]
    rec.info["best_score"] = best.score
    rec.info["best_hyperparameters"] = best.hyperparameters.values
    # P(up) of the best model (its sigmoid output), through the best pipeline.
    keras_model = model.tuner.get_best_model()
    pipeline = model.tuner.get_best_pipeline()
    x_in = pipeline.transform_x(model._adapt(x_te, model.inputs))
    out = np.asarray(keras_model.predict(x_in, batch_size=1024, verbose=0))
    proba = out[:, -1] if out.ndim == 2 and out.shape[1] == 2 else out.reshape(-1)
    labels = np.asarray(model.predict(x_te, batch_size=1024, verbose=0)).reshape(-1)
    agree = float(np.mean((proba > 0.5) == (labels.astype(np.float64) > 0.5)))
    rec.info["proba_label_agreement"] = agree
    if agree < 0.5:  # the head's output is P(class 0): flip
        proba = 1.0 - proba
    rec.info["params_count"] = int(keras_model.count_params())
    rec.info["versions"] = {
        "autokeras": ak.__version__,
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
    }
    rec.write(proba, search_s)


if __name__ == "__main__":
    main()
