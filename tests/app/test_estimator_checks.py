"""scikit-learn's own estimator checks on ``NASClassifier`` (slow).

Every check fits the classifier on its own small dataset (blobs of 2-10
features, 2-3 classes, string/int labels, lists, pandas frames, memmaps),
and most shapes are new to the compiled training program, so the whole set
takes minutes on a 2-core CPU: it is marked ``slow``. The fast tests of
``test_estimator.py`` cover fit/predict, labels, clone, pickling, Pipeline
and ``cross_val_score`` with ``TimeSeriesSplit``.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from nasjax.app.estimator import NASClassifier
from tests.app.test_estimator import TINY

#: Checks that cannot apply, each with the reason. None: all 54 checks of
#: scikit-learn 1.9 pass (``check_array_api_input`` skips itself without
#: ``SCIPY_ARRAY_API``); about 5 minutes on a loaded 2-core CPU.
EXPECTED_FAILED: dict[str, str] = {}


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@parametrize_with_checks(
    [NASClassifier(**TINY)], expected_failed_checks=lambda est: EXPECTED_FAILED
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
