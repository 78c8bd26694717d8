"""What the bidirectional-encoder tasks share: a WordPiece tokenizer, texts
packed as `[CLS] tokens [SEP]` rows, and sentence embeddings.

`MaskedLMTask` (pre-training) and `ClassificationTask` (sentiment and other
labels) both read text through one `WordPieceTokenizer` and feed the model
rows made by `keras_lm.data.encoder_inputs.pack_rows`; both models answer
`embed(token_ids, pooling, normalize)`, so `keras-lm embed` and the
feature-extraction pipeline work on either kind of run.
"""

import sys

import numpy as np

from keras_lm.data.encoder_inputs import BUCKET, pack_rows
from keras_lm.errors import KerasLMError
from keras_lm.tasks.base import Task
from keras_lm.tokenizers.wordpiece import MASK_TOKEN, WordPieceTokenizer

#: Texts per model call when embedding or classifying many.
PREDICT_BATCH = 64
POOLINGS = ("mean", "cls")


class EncoderTask(Task):
    """Base of the encoder tasks (one WordPiece tokenizer, packed rows)."""

    # Measured on the 2-core CPU (benchmarks/README.md): the XLA-compiled
    # train step of these encoders ran 2-13x slower than TensorFlow's own
    # kernels (with a fixed input width too, so not only recompilation).
    jit_compile = False

    def __init__(self, config, tokenizers, model=None):
        super().__init__(config, tokenizers, model)
        self._said_truncated = False

    @property
    def tokenizer(self):
        return self.tokenizers["tokenizer"]

    @property
    def max_length(self):
        """Tokens per row at most, `[CLS]` and `[SEP]` included."""
        return self.model_config["max_sequence_length"]

    @staticmethod
    def tokenizer_section(options):
        return {"kind": "wordpiece", "vocab_size": options.vocab_size,
                "lowercase": bool(options.lowercase)}

    def learn_tokenizer(self, texts, tokenizers=None):
        """A WordPiece vocabulary from `texts` (unless `tokenizers` has
        one); fills in the model's vocabulary size and padding id."""
        if tokenizers is None:
            section = self.config["tokenizer"]
            self.tokenizers["tokenizer"] = WordPieceTokenizer.from_text(
                texts, section["vocab_size"], section["lowercase"])
        self.model_config.update(vocab_size=self.tokenizer.vocab_size,
                                 pad_id=self.tokenizer.pad_id)

    def check_vocabulary(self):
        if self.model_config["vocab_size"] != self.tokenizer.vocab_size:
            raise KerasLMError(
                f"the model's vocabulary ({self.model_config['vocab_size']}) "
                f"does not match its tokenizer ({self.tokenizer.vocab_size}"
                " tokens); the run or checkpoint is inconsistent")

    def pack(self, texts, what="texts"):
        """`texts` as packed rows `(len(texts), max_length)`; says once on
        stderr when texts were cut to the model's context."""
        if isinstance(texts, str):
            raise KerasLMError("give a list of texts, not one string")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise KerasLMError(f"text {i + 1} is empty; every text needs "
                                   "some words")
        rows, truncated = pack_rows(
            self.encode_texts(texts), self.tokenizer.cls_id,
            self.tokenizer.sep_id, self.tokenizer.pad_id, self.max_length)
        if truncated and not self._said_truncated:
            self._said_truncated = True
            print(f"note: {truncated} of {len(rows)} {what} are longer than "
                  f"the model's context of {self.max_length} tokens; they "
                  "were truncated", file=sys.stderr)
        return rows, truncated

    def encode_texts(self, texts):
        """Token ids of each text, a literal `[MASK]` kept as the mask
        token (as Hugging Face tokenizers keep their special tokens)."""
        parts = [text.split(MASK_TOKEN) for text in texts]
        flat = self.tokenizer.encode_batch([p for ps in parts for p in ps])
        encoded, start = [], 0
        for pieces in parts:
            ids = list(flat[start])
            for piece_ids in flat[start + 1:start + len(pieces)]:
                ids += [self.tokenizer.mask_id, *piece_ids]
            encoded.append(ids)
            start += len(pieces)
        return encoded

    def batches(self, rows):
        """`rows` in model-sized slices, each cut to its longest row
        (rounded up to the data pipeline's bucket)."""
        pad = self.tokenizer.pad_id
        for start in range(0, len(rows), PREDICT_BATCH):
            chunk = rows[start:start + PREDICT_BATCH]
            longest = int((chunk != pad).sum(axis=1).max())
            width = min(rows.shape[1], -(-longest // BUCKET) * BUCKET)
            yield chunk[:, :width]

    def embed(self, texts, pooling=None, normalize=False):
        """One vector per text, float32 `(len(texts), features)`: the
        encoder's hidden states pooled (`"mean"` over the real tokens, or
        `"cls"`; None: the model's own choice), L2-normalised if asked.

        >>> task.embed(["a fine film", "a dull one"]).shape  # doctest: +SKIP
        (2, 128)
        """
        if pooling is not None and pooling not in POOLINGS:
            raise KerasLMError(f"unknown pooling {pooling!r}; choose one of "
                               f"{', '.join(POOLINGS)}")
        model = self.require_model()
        rows, _ = self.pack(texts)
        options = {"normalize": normalize}
        if pooling is not None:
            options["pooling"] = pooling
        return np.concatenate([
            np.asarray(model.embed(batch, **options))
            for batch in self.batches(rows)])

    def token_features(self, texts):
        """The encoder's hidden state of each token of each text: a list of
        float32 arrays `(tokens, features)`, `[CLS]` and `[SEP]` included."""
        model = self.require_model()
        rows, _ = self.pack(texts)
        features = []
        for batch in self.batches(rows):
            hidden = np.asarray(model.encoder(batch), np.float32)
            lengths = (batch != self.tokenizer.pad_id).sum(axis=1)
            features += [h[:n] for h, n in zip(hidden, lengths)]
        return features
