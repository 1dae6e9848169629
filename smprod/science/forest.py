"""Random-forest prediction on threads, tree by tree: every tree's output, deterministic.

scikit-learn's ``RandomForestRegressor.predict`` dispatches each call through joblib and sums
the trees into one array under a lock, in whatever order the threads finish. On the small tiles
of a production day (about 20,000 pixels) its overhead is most of the cost: walking the trees
directly on a thread pool took about half the time of ``predict`` for the sub-grid model
(docs/models.md, "Speed and memory"), gives the members the uncertainty needs without a second
pass, and sums in a fixed order.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import RandomForestRegressor

#: Threads the trees are walked on (the machine's two cores).
N_JOBS = 2


def tree_predictions(forest: RandomForestRegressor, X: NDArray) -> NDArray[np.float64]:  # noqa: N803
    """Every tree's prediction, shape (trees, rows), computed on ``N_JOBS`` threads.

    Tree traversal releases the GIL, so threads share the cores without copying the forest;
    each tree writes its own row, so the result does not depend on scheduling.
    """
    X = np.ascontiguousarray(X, dtype=np.float32)  # noqa: N806  (the trees' own dtype)
    out = np.empty((len(forest.estimators_), len(X)), np.float64)

    def one(index: int) -> None:
        out[index] = forest.estimators_[index].predict(X, check_input=False)

    with ThreadPoolExecutor(N_JOBS) as pool:
        list(pool.map(one, range(len(forest.estimators_))))
    return out


def forest_mean(forest: RandomForestRegressor, X: NDArray) -> NDArray[np.float64]:  # noqa: N803
    """The forest's point prediction (the mean of its trees), as :func:`tree_predictions` walks them."""
    return np.asarray(tree_predictions(forest, X).mean(axis=0), np.float64)
