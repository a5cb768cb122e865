"""Every config composes and validates against the schemas (nasjax.app.config)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException

from nasjax.app.cli import (
    DEPRECATED_GROUPS,
    conf_dir,
    format_rate,
    protocol_keys_without_mode,
    rename_deprecated_keys,
    warn_deprecated_choices,
)
from nasjax.app.config import (
    GROUP_SCHEMAS,
    AppConfig,
    SurrogateConfig,
    ignored_search_options,
    register_configs,
    searcher_options,
    to_app_config,
)
from nasjax.data import SideSeries
from nasjax.search import SEARCHERS
from tests.helpers import small_spec

CONF = conf_dir()
NEEDS_PATH = {"binance", "freqtrade", "csv", "parquet"}


@pytest.fixture
def composer():
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield lambda overrides=(), **kw: compose("config", list(overrides), **kw)
    GlobalHydra.instance().clear()


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


GROUP_OPTIONS = [(g, o) for g in GROUP_SCHEMAS for o in _options(g)]


def test_every_schema_group_has_options():
    for group in GROUP_SCHEMAS:
        assert _options(group), f"conf/{group}/ has no yaml"


@pytest.mark.parametrize(("group", "option"), GROUP_OPTIONS)
def test_every_group_option_composes_to_an_app_config(composer, group, option):
    overrides = [f"{group}={option}"]
    if group == "protocol":  # part of the configuration only in this mode
        overrides.append("mode=protocol")
    if group == "data" and option in NEEDS_PATH:
        overrides.append("data.path=/some/folder")
    app = to_app_config(composer(overrides))
    assert isinstance(app, AppConfig)
    hash(app)  # frozen configs stay hashable (lists became tuples)


def test_a_search_run_has_no_protocol_keys(composer):
    for overrides in ([], ["debug=smoke"], ["experiment=synthetic"]):
        cfg = composer(overrides)
        assert cfg.mode == "search" and cfg.protocol is None, overrides
        # the library's config keeps its default protocol settings
        assert to_app_config(cfg).protocol == AppConfig().protocol


def test_mode_protocol_adds_the_protocol_group(composer):
    default = to_app_config(composer(["mode=protocol"]))
    assert default.mode == "protocol" and default.protocol.n_nodes == 100
    attack = to_app_config(composer(["mode=protocol", "protocol=attack"]))
    assert attack.protocol.agents != default.protocol.agents
    chain = composer(["mode=protocol", "protocol.chain=evm"])
    assert chain.protocol.chain == "evm"
    smoke = to_app_config(composer(["mode=protocol", "debug=smoke"]))
    assert (smoke.protocol.n_nodes, smoke.protocol.n_blocks) == (20, 50)


def test_a_protocol_rate_without_a_denominator_prints_as_na():
    # a short protocol run may decide no proposal of a kind (a multirun of
    # mode=protocol debug=smoke protocol.n_blocks=5 crashed on None)
    assert format_rate(None) == "n/a" and format_rate(0.0123) == "0.012"


def test_protocol_overrides_without_mode_protocol_are_named():
    assert protocol_keys_without_mode(["protocol.n_nodes=5", "seed=1"]) == [
        "protocol.n_nodes=5"
    ]
    assert protocol_keys_without_mode(["protocol=attack"]) == ["protocol=attack"]
    for args in (
        ["mode=protocol", "protocol=attack"],
        ["-m", "mode=search,protocol", "protocol.n_nodes=5"],
        ["search.population=4", "--cfg", "job"],
    ):
        assert protocol_keys_without_mode(args) == [], args


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_every_experiment_composes(composer, experiment):
    cfg = composer([f"experiment={experiment}", "data.path=/some/folder"])
    assert to_app_config(cfg).search.population >= 1


@pytest.mark.parametrize("debug", _options("debug"))
def test_debug_overlays_shrink_the_budget(composer, debug):
    default = to_app_config(composer())
    small = to_app_config(composer([f"debug={debug}"]))
    assert small.train.n_steps < default.train.n_steps
    budget = small.search.population * small.search.rounds
    assert budget < default.search.population * default.search.rounds


@pytest.mark.parametrize("searcher", _options("search"))
def test_searcher_options_are_accepted_by_the_factory(composer, searcher):
    app = to_app_config(composer([f"search={searcher}"]))
    spec = small_spec()
    searcher_obj = SEARCHERS[app.search.name](spec, **searcher_options(app))
    assert callable(searcher_obj.ask)


def test_options_of_another_searcher_are_reported(composer):
    """Every composed searcher alone: nothing ignored. Another searcher's key
    set: one message naming the key, its readers and the chosen searcher."""
    for searcher in SEARCHERS:
        app = to_app_config(composer([f"search={searcher}"]))
        assert ignored_search_options(app) == []
    app = to_app_config(composer(["search=bayes_morph", "search.tournament_size=3"]))
    (msg,) = ignored_search_options(app)
    assert "search.tournament_size=3" in msg and "evolution only" in msg
    assert "search=bayes_morph ignores it" in msg
    app = to_app_config(composer(["search=evolution", "search.tournament_size=3"]))
    assert ignored_search_options(app) == []


def test_missing_mandatory_path_is_reported(composer):
    cfg = composer(["data=freqtrade"])
    with pytest.raises(ValueError, match=r"needs data\.path"):
        to_app_config(cfg)


@pytest.mark.parametrize(
    "override",
    ["search.colour=1", "seed=abc", "train.n_steps=many", "features.return_lags=[1,x]"],
)
def test_misspelt_key_or_wrong_type_fails_at_composition(composer, override):
    with pytest.raises(ConfigCompositionException):
        composer([override])


def test_side_fear_greed_fills_data_side(composer):
    """``side=fear_greed`` puts the bundled index under ``data.side`` for any
    candle source; the default has none; a series of one's own is a list of
    ``SideSeries`` keys, checked at composition."""
    assert to_app_config(composer()).data.side == ()
    app = to_app_config(
        composer(["side=fear_greed", "data=freqtrade", "data.path=/some/folder"])
    )
    (fng,) = app.data.side
    assert fng == SideSeries("fear_greed", columns=("fng_value",), time_column="Date")
    hash(app)
    own = to_app_config(
        composer(["data.side=[{path:flows.parquet,symbol_column:coin,lag:1h}]"])
    )
    assert own.data.side == (
        SideSeries("flows.parquet", symbol_column="coin", lag="1h"),
    )
    with pytest.raises(ConfigCompositionException):
        composer(["data.side=[{path:x.csv,colums:[a]}]"])
    with pytest.raises(ValueError, match="lag"):
        to_app_config(composer(["data.side=[{path:x.csv,lag:soon}]"]))


def test_invalid_value_fails_before_any_work(composer):
    with pytest.raises(ValueError, match=r"search\.name must be one of"):
        to_app_config(composer(["search.name=nope"]))
    with pytest.raises(ValueError, match="multiple of eval_every"):
        to_app_config(composer(["train.n_steps=75"]))


def test_overrides_reach_the_app_config(composer):
    app = to_app_config(
        composer(
            [
                "search=evolution",
                "search.rounds=5",
                "train.learning_rate=0.01",
                "data.symbols=[BTC/USDT,ETH/USDT]",
                "search_space.ops=[conv,lstm]",
                "seed=7",
                "search.inherit=false",
            ]
        )
    )
    assert app.search.name == "evolution"
    assert app.search.inherit is False
    assert to_app_config(composer()).search.inherit is True
    assert app.search.rounds == 5
    assert app.train.learning_rate == 0.01
    assert app.data.symbols == ("BTC/USDT", "ETH/USDT")
    assert app.search_space.ops == ("conv", "lstm")
    assert app.seed == 7
    assert searcher_options(app)["population_size"] == 32


def test_slurm_launcher_composes(composer):
    cfg = composer(["hydra/launcher=slurm"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert cfg.hydra.launcher.tasks_per_node == 1


def test_distributed_options(composer):
    """none: one process; local2: two local workers; slurm with the submitit
    launcher: one task per GPU joining from the SLURM environment."""
    from nasjax.distributed import DistributedConfig, resolve_launch

    none = to_app_config(composer()).distributed
    assert isinstance(none, DistributedConfig)
    assert not none.auto and none.local_processes == 0
    assert resolve_launch(none, {"SLURM_JOB_ID": "1"}) is None  # never joins
    local2 = to_app_config(composer(["distributed=local2"])).distributed
    assert local2.auto and local2.local_processes == 2
    assert local2.devices_per_process == 2
    cfg = composer(
        [
            "distributed=slurm",
            "hydra/launcher=slurm",
            "hydra.launcher.tasks_per_node=4",
            "hydra.launcher.gpus_per_node=4",
        ],
        return_hydra_config=True,
    )
    slurm = to_app_config(cfg).distributed
    env = {
        "SLURM_JOB_ID": "4242",
        "SLURM_NTASKS": "8",
        "SLURM_PROCID": "5",
        "SLURM_LOCALID": "1",
        "SLURM_STEP_NODELIST": "gpu[07-08]",
        "SLURM_GPUS_PER_TASK": "1",
    }
    plan = resolve_launch(slurm, env)
    assert plan is not None and plan.source == "slurm"
    assert (plan.num_processes, plan.process_id) == (8, 5)
    assert plan.coordinator_address is not None
    assert plan.coordinator_address.startswith("gpu07:")
    with pytest.raises(ValueError, match="local_processes"):
        to_app_config(composer(["distributed.local_processes=-1"]))


def test_local_workers_rerun_the_job_in_the_same_folder(tmp_path):
    from nasjax.app.cli import is_local_worker, worker_argv

    argv = worker_argv(["distributed=local2", "seed=3"], tmp_path)
    assert argv[1:5] == ["-m", "nasjax", "distributed=local2", "seed=3"]
    assert f"hydra.run.dir={tmp_path}" in argv
    assert is_local_worker({"NASJAX_PROCESS_ID": "1"})
    assert not is_local_worker({})


def test_joblib_launcher_composes(composer):
    cfg = composer(["hydra/launcher=joblib"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")


_KEY = re.compile(r"^\s*(-\s+)?[\w/@.]+\s*:\s*(.*)$")


@pytest.mark.parametrize("path", sorted(CONF.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_yaml_key_has_a_comment(path: Path):
    block_indent = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and (not stripped or indent > block_indent):
            continue  # inside a block scalar
        block_indent = None
        if not stripped or stripped.startswith("#"):
            continue
        match = _KEY.match(line)
        if match is None:
            continue
        value = match.group(2).split("#")[0].strip()
        if value in ("|", "|-", ">", ">-"):
            block_indent = indent
        if value in ("", "|", "|-", ">", ">-") or stripped.startswith("- "):
            continue  # a section header, block scalar or defaults entry
        assert "#" in line, f"{path.name}:{number} has no comment: {line!r}"


@pytest.mark.parametrize("override", ["+train.foo=1", "++search.colour=2"])
def test_an_added_unknown_key_is_a_clear_error(composer, override):
    cfg = composer([override])
    key = override.lstrip("+").split("=")[0]
    with pytest.raises(ValueError, match=rf"unknown configuration keys.*{key}"):
        to_app_config(cfg)


@pytest.mark.parametrize("option", _options("progress"))
def test_the_deprecated_logger_group_is_an_alias_of_progress(composer, option, caplog):
    assert _options("logger") == _options("progress")
    cfg = composer([f"logger={option}"], return_hydra_config=True)
    expected = to_app_config(composer([f"progress={option}"])).progress
    assert to_app_config(cfg).progress == expected
    with caplog.at_level("WARNING", logger="nasjax"):
        messages = warn_deprecated_choices(cfg.hydra.runtime.choices)
    assert messages == [
        f"logger={option} is deprecated: the group is renamed, use progress={option}"
    ]
    assert messages[0] in caplog.text
    plain = composer(return_hydra_config=True).hydra.runtime.choices
    assert warn_deprecated_choices(plain) == []
    assert set(DEPRECATED_GROUPS) == {"logger"}


def test_an_unknown_tracker_lists_the_options(composer):
    with pytest.raises(ConfigCompositionException, match="tracker/wandb") as info:
        composer(["tracker=wandb"])
    for option in ("none", "mlflow", "tensorboard"):
        assert option in str(info.value)


def test_the_deprecated_logger_keys_are_renamed(composer):
    args, messages = rename_deprecated_keys(
        ["logger.progress=false", "+logger.level=ERROR", "seed=1", "--multirun"]
    )
    assert args == [
        "progress.bar=false",
        "progress.level=ERROR",
        "seed=1",
        "--multirun",
    ]
    assert messages == [
        "logger.progress is deprecated: the key is renamed, use progress.bar",
        "logger.level is deprecated: the key is renamed, use progress.level",
    ]
    app = to_app_config(composer(args[:2]))
    assert (app.progress.bar, app.progress.level) == (False, "ERROR")
    assert rename_deprecated_keys(["progress=quiet"]) == (["progress=quiet"], [])


def test_default_surrogate_is_the_fast_refit_and_gp_fast_its_alias(composer):
    default = to_app_config(composer()).surrogate
    assert (default.optimizer, default.warm_start) == ("lbfgs", True)
    assert default == SurrogateConfig()  # the schema's defaults are the file's
    assert to_app_config(composer(["surrogate=gp_fast"])).surrogate == default
    adam = to_app_config(composer(["surrogate=gp_adam"])).surrogate
    assert (adam.optimizer, adam.warm_start) == ("adam", False)
