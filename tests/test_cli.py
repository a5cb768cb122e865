from pathlib import Path

import pytest

from nasjax.cli import main, parse_overrides


def test_overrides_map_onto_run_config():
    cfg, out = parse_overrides(
        ["searcher=random", "rounds=2", "train.n_steps=50", "ops=[conv,lstm]", "out=o"]
    )
    assert cfg.searcher == "random"
    assert cfg.rounds == 2
    assert cfg.train.n_steps == 50
    assert cfg.ops == ("conv", "lstm")
    assert out == Path("o")


@pytest.mark.parametrize(
    ("arg", "match"),
    [
        ("rounds", "expected key=value"),
        ("colour=blue", "unknown option 'colour'"),
        ("train.speed=3", "unknown train option 'speed'"),
        ("searcher=nope", "bad configuration"),
    ],
)
def test_bad_overrides_exit_with_a_clear_message(arg, match):
    with pytest.raises(SystemExit, match=match):
        parse_overrides([arg])


def test_help(capsys):
    main(["--help"])
    assert "python -m nasjax" in capsys.readouterr().out
