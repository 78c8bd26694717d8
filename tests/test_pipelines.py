"""`tf.data` layouts: windows for stateless training, streams for stateful."""

import numpy as np
import pytest

from keras_lm.data import language_model_dataset
from keras_lm.errors import KerasLMError

IDS = np.arange(10_001, dtype="int32")


def batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def test_targets_are_inputs_shifted_by_one_and_shapes_are_static():
    dataset, layout = language_model_dataset(IDS, 20, 8, num_batches=3)
    assert dataset.element_spec[0].shape == (8, 20)
    for x, y in batches(dataset):
        np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
        np.testing.assert_array_equal(y[:, -1], x[:, -1] + 1)
    assert layout.batches_per_pass == (10_000 // 20) // 8


def test_each_pass_is_a_new_shuffle_of_every_window():
    dataset, layout = language_model_dataset(IDS, 20, 8, seed=3,
                                             num_batches=2 * 62)
    starts = [x[:, 0] for x, _ in batches(dataset)]
    first = np.concatenate(starts[:62])
    second = np.concatenate(starts[62:])
    assert sorted(first) == sorted(second) == list(range(0, 9920, 20))
    assert not np.array_equal(first, second)


def test_random_offsets_start_windows_anywhere_reproducibly():
    dataset, _ = language_model_dataset(IDS, 20, 8, seed=3,
                                        random_offsets=True, num_batches=125)
    all_batches = batches(dataset)
    for x, y in all_batches:  # still contiguous text, targets shifted by one
        np.testing.assert_array_equal(x, x[:, :1] + np.arange(20))
        np.testing.assert_array_equal(y, x + 1)
    starts = np.concatenate([x[:, 0] for x, _ in all_batches])
    assert starts.min() >= 0 and starts.max() + 21 <= len(IDS)
    assert np.mean(starts % 20 != 0) > 0.9  # off the fixed grid...
    assert np.histogram(starts, bins=5, range=(0, 10_000))[0].min() > 150
    resumed, _ = language_model_dataset(IDS, 20, 8, seed=3,
                                        random_offsets=True, start_batch=70,
                                        num_batches=3)
    for (a, _), (b, _) in zip(all_batches[70:], batches(resumed)):
        np.testing.assert_array_equal(a, b)  # ...yet the same on resume
    other_seed, _ = language_model_dataset(IDS, 20, 8, seed=4,
                                           random_offsets=True, num_batches=1)
    assert not np.array_equal(batches(other_seed)[0][0], all_batches[0][0])


def test_stateful_rows_continue_across_batches():
    dataset, layout = language_model_dataset(IDS, 25, 4, stateful=True,
                                             num_batches=layout_batches(25, 4))
    previous = None
    for x, _ in batches(dataset):
        if previous is not None:
            np.testing.assert_array_equal(x[:, 0], previous[:, -1] + 1)
        previous = x
    # the streams are contiguous quarters of the corpus
    first_x, _ = batches(language_model_dataset(IDS, 25, 4, stateful=True,
                                                num_batches=1)[0])[0]
    np.testing.assert_array_equal(first_x[:, 0], [0, 2500, 5000, 7500])


def layout_batches(seq_len, batch_size):
    return language_model_dataset(IDS, seq_len, batch_size, stateful=True,
                                  num_batches=1)[1].batches_per_pass


def test_starting_later_gives_the_same_batches():
    full, _ = language_model_dataset(IDS, 20, 8, seed=5, num_batches=100)
    resumed, _ = language_model_dataset(IDS, 20, 8, seed=5, start_batch=70,
                                        num_batches=30)
    for (a, _), (b, _) in zip(batches(full)[70:], batches(resumed)):
        np.testing.assert_array_equal(a, b)


def test_corpus_too_short_for_one_batch():
    with pytest.raises(KerasLMError, match="too short for one batch"):
        language_model_dataset(np.arange(50), 20, 8)
