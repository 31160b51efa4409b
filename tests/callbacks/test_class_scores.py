"""The numbers behind confusion_matrix.png and per_class.csv, checked against hand-computed ones."""

import numpy as np
import pytest
import torch

from lightning_hydra_template.callbacks.class_scores import per_class_csv, per_class_scores
from lightning_hydra_template.callbacks.confusion_image import confusion_image, row_normalised
from lightning_hydra_template.callbacks.confusion_matrix import ConfusionMatrix

# Rows: true a, b, c; columns: predicted a, b, c. Class c never occurs but is predicted once.
COUNTS = np.array([[5, 1, 0], [2, 3, 1], [0, 0, 0]])


def test_the_confusion_matrix_counts_true_classes_in_rows_and_predictions_in_columns():
    labels = torch.tensor([0, 0, 1, 1, 1, 2])
    predicted = torch.tensor([0, 1, 0, 1, 2, 2])
    logits = torch.nn.functional.one_hot(predicted, 3).float() * 5  # argmax: `predicted`
    matrix = ConfusionMatrix()
    matrix._update(logits[:4], labels[:4])  # two batches, summed
    matrix._update(logits[4:], labels[4:])
    matrix._update(None, labels)  # a module whose steps return nothing is skipped
    assert matrix._counts().tolist() == [[1, 1, 0], [1, 1, 1], [0, 0, 1]]
    assert matrix._counts() is None  # read once per epoch


def test_row_normalisation_gives_each_true_class_shares_summing_to_one():
    shares = row_normalised(COUNTS)
    assert shares[0].tolist() == pytest.approx([5 / 6, 1 / 6, 0])
    assert shares[1].tolist() == pytest.approx([2 / 6, 3 / 6, 1 / 6])
    assert shares[2].tolist() == [0, 0, 0]  # a class with no images: no division by zero


def test_per_class_scores_match_a_hand_computed_example():
    a, b, c = per_class_scores(COUNTS, ["a", "b", "c"])
    # a: 5 right of 6 true and of 7 predicted; F1 = 2*5 / (2*5 + 2 false positives + 1 false negative).
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((5 / 7, 5 / 6, 10 / 13, 6))
    assert (b["precision"], b["recall"], b["f1"], b["support"]) == pytest.approx((3 / 4, 3 / 6, 6 / 10, 6))
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 0)


def test_per_class_csv_has_one_row_per_class_name():
    text = per_class_csv(per_class_scores(COUNTS, ["a", "T-shirt/top", "c"]))
    assert text.splitlines() == [
        "class,precision,recall,f1,support",
        "a,0.714286,0.833333,0.769231,6",
        "T-shirt/top,0.750000,0.500000,0.600000,6",
        "c,0.000000,0.000000,0.000000,0",
    ]


@pytest.mark.parametrize("classes", [3, 45, 100])
def test_the_confusion_image_draws_for_few_and_many_classes(classes):
    counts = np.arange(classes * classes).reshape(classes, classes)
    image = confusion_image(counts, [f"class {i}" for i in range(classes)], "test")
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
    assert image.min() < 100  # something dark was drawn on the white background
