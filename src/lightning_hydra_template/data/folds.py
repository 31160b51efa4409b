"""k-fold cross-validation: which part of the train+val pool validates, stratified by label and seeded.

`data.folds=5 data.fold=0` .. `data.fold=4` are five runs whose validation parts are disjoint and
together cover the pool; the test split is never part of the pool. Written here rather than taken
from scikit-learn's StratifiedKFold: that would make scikit-learn a dependency for a dozen lines.
"""

from collections.abc import Hashable, Sequence

import numpy as np

from ..errors import ConfigError


def check_fold(folds: int | None, fold: int) -> None:
    """A one-line error naming the key when `data.folds` / `data.fold` cannot work."""
    if folds is None:
        return
    if not isinstance(folds, int) or folds < 2:
        raise ConfigError(
            f"data.folds={folds} must be an integer of 2 or more (or null: no cross-validation)."
        )
    if not isinstance(fold, int) or not 0 <= fold < folds:
        raise ConfigError(f"data.fold={fold} must be one of 0..{folds - 1} (data.folds={folds}).")


def fold_of_each(labels: Sequence[Hashable], folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of each item: per label, a seeded shuffle dealt out in turn.

    The deal goes on from one label to the next, so every fold gets the same number of items of each
    label and overall, give or take one.
    """
    generator = np.random.default_rng(seed)
    by_label: dict[Hashable, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    assigned = np.empty(len(labels), dtype=np.int64)
    dealt = 0
    for label in sorted(by_label, key=str):
        members = np.asarray(by_label[label])[generator.permutation(len(by_label[label]))]
        assigned[members] = (dealt + np.arange(len(members))) % folds
        dealt += len(members)
    return assigned


def split_fold(labels: Sequence[Hashable], folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `labels` of (training, validation) for fold `fold`, each in ascending order."""
    if len(labels) < folds:
        raise ConfigError(
            f"data.folds={folds} needs at least {folds} training and validation items, got {len(labels)}."
        )
    assigned = fold_of_each(labels, folds, seed)
    return np.flatnonzero(assigned != fold), np.flatnonzero(assigned == fold)
