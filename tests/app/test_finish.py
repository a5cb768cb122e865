"""The finish's choice of ensemble candidates (nasjax.app.finish)."""

from types import SimpleNamespace

from nasjax.app.finish import runners_up
from nasjax.graph import ZOO
from tests.helpers import small_spec

ARCH = ZOO["linear"](small_spec(ops=("identity",))).to_json()


def _row(fp: str, fitness: float, losses: tuple[float, ...], rung: int = 1) -> dict:
    return {
        "fingerprint": fp,
        "fitness": fitness,
        "rung": rung,
        "failed": False,
        "arch_json": ARCH,
        **{f"val_loss_fold{k}": v for k, v in enumerate(losses)},
    }


def _loop(rows, best: int = 0):
    kept = {r["fingerprint"]: f"params of {r['fingerprint']}" for r in rows}
    searcher = SimpleNamespace(archive=SimpleNamespace(params=kept))
    return SimpleNamespace(rows=rows, best_row=best, searcher=searcher)


def test_runners_up_rank_by_rung_then_fitness_one_row_per_arch():
    rows = [
        _row("best", 0.70, (0.60, 0.61), rung=2),
        _row("x", 0.90, (0.50, 0.51), rung=0),  # a screening score only
        _row("y", 0.66, (0.62, 0.62), rung=2),
        _row("y", 0.50, (0.70, 0.72), rung=1),  # y's lower-ranked row
    ]
    got = runners_up(_loop(rows), 5)
    assert [f.row["fingerprint"] for f in got] == ["y", "x"]
    assert got[0].row["fitness"] == 0.66
