"""Train/validation/test splits of sentence pairs that never share a source."""

import dataclasses

import numpy as np

from keras_lm.data.pair_readers import PairSource
from keras_lm.errors import KerasLMError


@dataclasses.dataclass
class PairSplits:
    train: list
    validation: list
    test: list


def split_pairs(pairs, validation_fraction=0.1, test_fraction=0.1, seed=0):
    """Splits pairs into train/validation/test, deterministically by seed.

    Pairs are grouped by their source text and whole groups are assigned to
    one split, so the same source sentence (Anki has many with several
    translations; a generated task can repeat one) never appears in two
    splits. Fractions count distinct sources. A `PairSource` with its own
    splits (tfds) is returned as those splits.
    """
    if isinstance(pairs, PairSource):
        if pairs.splits:
            s = pairs.splits
            return PairSplits(s.get("train", []), s.get("validation", []),
                              s.get("test", []))
        pairs = pairs.pairs
    for name, fraction in (("validation", validation_fraction),
                           ("test", test_fraction)):
        if not 0.0 <= fraction < 1.0:
            raise KerasLMError(f"{name} fraction must be in [0, 1), got "
                               f"{fraction}")
    if validation_fraction + test_fraction >= 1.0:
        raise KerasLMError("validation and test fractions must leave some "
                           "pairs for training")
    groups = {}
    for pair in pairs:
        groups.setdefault(pair[0], []).append(pair)
    keys = list(groups)  # first-seen order: deterministic
    np.random.default_rng(seed).shuffle(keys)

    def count(fraction):
        return 0 if fraction == 0 else max(1, int(round(len(keys) * fraction)))

    num_validation, num_test = count(validation_fraction), count(test_fraction)
    if num_validation + num_test >= len(keys):
        raise KerasLMError(f"only {len(keys)} distinct sources: too few to "
                           "split into train/validation/test")
    cuts = [num_validation, num_validation + num_test]
    parts = [keys[:cuts[0]], keys[cuts[0]:cuts[1]], keys[cuts[1]:]]
    validation, test, train = (
        [pair for key in part for pair in groups[key]] for part in parts)
    return PairSplits(train, validation, test)
