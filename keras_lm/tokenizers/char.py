"""Character-level tokenizer: one id per Unicode character of the corpus."""

import tensorflow as tf

from keras_lm.tokenizers.base import Tokenizer, register_tokenizer


@register_tokenizer
class CharTokenizer(Tokenizer):
    """Maps each character seen in training text to an id.

    Ids 0 and 1 are padding and the unknown character, so a prompt with a
    character the corpus never had still encodes (as `unk_id`) instead of
    failing. Decoding drops both.

    Example:

    >>> tokenizer = CharTokenizer.from_text("hello world")
    >>> tokenizer.decode(tokenizer.encode("hello"))
    'hello'
    >>> tokenizer.encode("z") == [tokenizer.unk_id]
    True
    """

    kind = "char"

    def __init__(self, characters):
        self.characters = list(characters)
        self._ids = {c: i + 2 for i, c in enumerate(self.characters)}

    @classmethod
    def from_text(cls, text):
        return cls(sorted(set(text)))

    @property
    def vocab_size(self):
        return len(self.characters) + 2

    def encode(self, text):
        return [self._ids.get(c, self.unk_id) for c in text]

    def decode(self, ids):
        characters = self.characters
        return "".join(characters[i - 2] for i in ids if i >= 2)

    def get_config(self):
        return {"characters": self.characters}

    def graph_module(self):
        return _CharGraphTokenizer(self.characters, self.unk_id)


class _CharGraphTokenizer(tf.Module):
    """The in-graph twin of `CharTokenizer` (a hash table and a gather)."""

    def __init__(self, characters, unk_id):
        super().__init__()
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(characters, tf.string),
                tf.range(2, len(characters) + 2, dtype=tf.int32),
            ),
            default_value=unk_id,
        )
        self.id_to_text = tf.Variable(
            ["", ""] + list(characters), dtype=tf.string, trainable=False)

    def encode(self, strings):
        return self.table.lookup(tf.strings.unicode_split(strings, "UTF-8"))

    def decode(self, ids):
        return tf.strings.reduce_join(tf.gather(self.id_to_text, ids), axis=-1)
