"""Every registry entry accepts the call shapes of the core ``Protocol``s.

(The Protocols themselves are checked statically by pyright; these tests bind
the Protocols' arguments to each entry's runtime signature.)
"""

import inspect

import jax
import numpy as np
import pytest

from nasjax.baselines import BASELINES
from nasjax.baselines.classification import CLASSIFIERS, ClassifierFn
from nasjax.baselines.registry import FitPredict
from nasjax.graph import ArchSpec
from nasjax.morph import MORPHS, MorphFn
from nasjax.search import SEARCHERS, AskFn, InitFn, Searcher, TellFn

SPEC = ArchSpec(n_features=3, window=8, max_nodes=8, max_width=16)


def _binds(fn, *args, **kwargs) -> None:
    inspect.signature(fn).bind(*args, **kwargs)


def _protocol_params(protocol) -> list[str]:
    return list(inspect.signature(protocol.__call__).parameters)[1:]


def test_protocol_signatures():
    assert _protocol_params(InitFn) == ["key", "cfg"]
    assert _protocol_params(AskFn) == ["key", "state", "n"]
    assert _protocol_params(TellFn) == [
        "key",
        "state",
        "archs",
        "fitness",
        "params",
        "fitness_se",
    ]
    assert _protocol_params(MorphFn) == ["key", "arch", "params"]
    assert _protocol_params(FitPredict) == ["key", "data", "split", "fold", "cfg"]
    assert _protocol_params(ClassifierFn) == ["key", "data", "cfg"]


@pytest.mark.parametrize("name", sorted(SEARCHERS))
def test_searchers_take_the_protocol_arguments(name):
    searcher = SEARCHERS[name](SPEC)
    assert isinstance(searcher, Searcher)
    assert Searcher._fields == ("init", "ask", "tell")
    key = jax.random.key(0)
    _binds(searcher.init, key)
    _binds(searcher.init, key, None)
    state = searcher.init(key, None)
    _binds(searcher.ask, key, state, 4)
    _binds(searcher.tell, key, state, None, np.zeros(4))
    _binds(searcher.tell, key, state, None, np.zeros(4), params=None)


@pytest.mark.parametrize("name", sorted(MORPHS))
def test_morphs_take_the_protocol_arguments(name):
    _binds(MORPHS[name].fn, jax.random.key(0), None, {})


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_take_the_protocol_arguments(name):
    fit_predict = BASELINES[name].fit_predict
    _binds(fit_predict, None, None)
    _binds(fit_predict, None, None, split="val", fold=0, cfg=None)


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_classifiers_take_the_protocol_arguments(name):
    _binds(CLASSIFIERS[name], None, None)
    _binds(CLASSIFIERS[name], None, None, cfg=None)
