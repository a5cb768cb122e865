"""The answer's data: the final fit stops on one part of the last validation
block, the selection uses the other."""

import numpy as np

from nasjax.app import answer as ans
from nasjax.train.data import split_ids
from tests.helpers import tiny_app_config, tiny_dataset


def test_stop_and_select_share_no_validation_bar():
    data = tiny_dataset(n_steps=900)
    cfg = tiny_app_config({"evaluation.selection_fraction": 0.4})
    stop, select = ans.stop_and_select(data, cfg)
    n_sym = data.dataset.features.shape[1]
    _, whole, test = split_ids(data.folds, "test")
    _, older, test_a = split_ids(stop.folds, "test")
    _, recent, test_b = split_ids(select.folds, "test")
    horizon = data.dataset.meta.horizon
    assert (older // n_sym).max() + horizon < (recent // n_sym).min()
    assert set(older) | set(recent) <= set(whole)
    bars = np.unique(whole // n_sym)
    assert len(np.unique(recent // n_sym)) == round(0.4 * len(bars))
    np.testing.assert_array_equal(test_a, test)
    np.testing.assert_array_equal(test_b, test)
    # Training ids are those of the whole data (the final fit's training set).
    for part in (stop, select):
        np.testing.assert_array_equal(
            split_ids(part.folds, "test")[0], split_ids(data.folds, "test")[0]
        )


def test_a_zero_fraction_keeps_one_block():
    data = tiny_dataset(n_steps=900)
    cfg = tiny_app_config({"evaluation.selection_fraction": 0.0})
    stop, select = ans.stop_and_select(data, cfg)
    assert stop is data and select is data
