"""START/END of seq2seq targets. The shared `Tokenizer` interface reserves
`pad_id = 0` and `unk_id = 1` and has no start/end tokens, so they are added
*after* the target tokenizer's vocabulary: `start_id = vocab_size`,
`end_id = vocab_size + 1`, and the model's target vocabulary is
`vocab_size + 2` (`TargetSpecials`). Any tokenizer plugs in unchanged, and
`TargetSpecials.decode` strips the additions before `tokenizer.decode`.
Source ids are the source tokenizer's own ids (0 = padding).

>>> specials = TargetSpecials(tokenizer_vocab_size=4)
>>> specials.start_id, specials.end_id, specials.strip([2, 3, 5, 2])
(4, 5, [2, 3])
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class TargetSpecials:
    """The target-side token ids added after a tokenizer's vocabulary."""

    tokenizer_vocab_size: int

    @property
    def start_id(self):
        return self.tokenizer_vocab_size

    @property
    def end_id(self):
        return self.tokenizer_vocab_size + 1

    @property
    def vocab_size(self):
        """The model's target vocabulary: the tokenizer's plus START/END."""
        return self.tokenizer_vocab_size + 2

    def strip(self, ids):
        """Ids up to the first END, without padding, START or END."""
        kept = []
        for i in np.asarray(ids).reshape(-1).tolist():
            if i == self.end_id:
                break
            if 0 < i < self.tokenizer_vocab_size:
                kept.append(i)
        return kept

    def decode(self, tokenizer, ids):
        """The text of generated target ids (stops at the first END)."""
        return tokenizer.decode(self.strip(ids))


def target_specials(tokenizer):
    """START = vocab_size, END = vocab_size + 1 of the target tokenizer."""
    return TargetSpecials(tokenizer.vocab_size)
