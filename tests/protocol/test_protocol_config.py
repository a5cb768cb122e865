"""Configuration: YAML presets mirror the dataclasses, validation, overrides, CLI."""

import dataclasses
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from nasjax.app.config import writable_schema
from nasjax.protocol import PRESETS, ProtocolConfig, from_dict, to_dict, with_overrides
from nasjax.protocol.cli import parse_args, parse_value

CONF = Path(__file__).resolve().parents[2] / "conf" / "protocol"
YAMLS = sorted(CONF.glob("*.yaml"))


def schema():
    return writable_schema(ProtocolConfig)


def load(path):
    """A preset yaml without its Hydra defaults list."""
    node = OmegaConf.load(path)
    assert isinstance(node, DictConfig)
    node.pop("defaults", None)
    return node


def test_every_preset_has_a_yaml():
    assert {p.stem for p in YAMLS} == set(PRESETS)


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.stem)
def test_yaml_builds_its_preset(path):
    merged = OmegaConf.merge(schema(), load(path))
    cfg = OmegaConf.to_object(merged)
    assert isinstance(cfg, ProtocolConfig)
    assert cfg == PRESETS[path.stem]
    hash(cfg)  # lists from YAML became tuples


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.stem)
def test_yaml_keys_match_fields_and_are_commented(path):
    loaded = OmegaConf.to_container(load(path))
    assert isinstance(loaded, dict)

    def same_keys(data, obj, where):
        names = {f.name for f in dataclasses.fields(obj)}
        assert set(data) == names, where
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                same_keys(data[f.name], value, f"{where}.{f.name}")

    same_keys(loaded, ProtocolConfig(), path.stem)
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert " # " in line, f"{path.name}: key without a comment: {line!r}"


def test_yaml_rejects_unknown_and_mistyped_keys(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("consensus:\n  comittee_size: 8\n")
    with pytest.raises(Exception, match="comittee_size"):
        OmegaConf.merge(schema(), OmegaConf.load(bad))
    bad.write_text("n_nodes: many\n")
    with pytest.raises(Exception, match="n_nodes"):
        OmegaConf.merge(schema(), OmegaConf.load(bad))


def test_validation_names_the_problem():
    with pytest.raises(ValueError, match="attacker shares"):
        with_overrides(ProtocolConfig(), {"agents.ring": 0.9})
    with pytest.raises(ValueError, match="evaluator"):
        ProtocolConfig(evaluator="oracle")
    with pytest.raises(ValueError, match="quorum"):
        with_overrides(ProtocolConfig(), {"consensus.quorum": 1.5})
    with pytest.raises(KeyError, match=r"consensus\.comittee_size"):
        with_overrides(ProtocolConfig(), {"consensus.comittee_size": 3})


def test_dict_round_trip_and_overrides():
    cfg = PRESETS["real"]
    assert from_dict(to_dict(cfg)) == cfg
    cfg2 = with_overrides(
        cfg, {"consensus.committee_size": 3, "real.search_space.ops": ["conv"]}
    )
    assert cfg2.consensus.committee_size == 3 and cfg2.real.search_space.ops == (
        "conv",
    )
    assert cfg2.agents == cfg.agents


def test_cli_parses_key_values(tmp_path):
    cfg, grid, out = parse_args(
        [
            "preset=attack",
            "n_blocks=7",
            "consensus.commit_reveal=False",
            "sweep.shares=[0.1,0.2]",
            f"out={tmp_path}",
        ]
    )
    assert cfg.n_blocks == 7 and cfg.consensus.commit_reveal is False
    assert cfg.agents.ring == PRESETS["attack"].agents.ring
    assert grid.shares == (0.1, 0.2)
    assert out == tmp_path
    assert parse_value("[a,b]") == ["a", "b"] and parse_value("0.5") == 0.5
    with pytest.raises(SystemExit, match="unknown protocol option"):
        parse_args(["consensus.nope=1"])
    with pytest.raises(SystemExit, match="key=value"):
        parse_args(["n_blocks"])
    with pytest.raises(SystemExit, match="'n_nodes' must be an integer, got 'abc'"):
        parse_args(["n_nodes=abc"])
    with pytest.raises(SystemExit, match=r"'consensus\.commit_reveal' must be true"):
        parse_args(["consensus.commit_reveal=3"])
    assert (
        parse_args(["agents.lie_margin=0"])[0].agents.lie_margin == 0
    )  # int: a number
