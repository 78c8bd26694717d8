"""Tasks: one object per kind of job, and the families registered to them.

Adding a family: write the model (a `keras.Model` with `get_config`), pick
or write its task (`keras_lm.tasks.base.Task`), and register the pair below
(or from your own module, before use): the trainer, the loader, `evaluate`,
`export` and the CLI's `keras-lm train NAME` pick it up from the registry.
See docs/adding_a_family.md.
"""

from keras_lm.models import GRUGenerator, LSTMLanguageModel, \
    MaskedLanguageModel, Seq2Seq, TextClassifier, TransformerLM
from keras_lm.registry import register_family
from keras_lm.tasks.base import Task
from keras_lm.tasks.causal_lm import CausalLMTask
from keras_lm.tasks.classification import ClassificationTask
from keras_lm.tasks.masked_lm import MaskedLMTask
from keras_lm.tasks.seq2seq import Seq2SeqTask

register_family("gru", GRUGenerator, CausalLMTask,
                help="train a stateful-capable GRU character generator",
                derived=("vocab_size", "stateful"))
register_family("lstm", LSTMLanguageModel, CausalLMTask,
                help="train a stacked LSTM language model",
                derived=("vocab_size", "stateful"))
register_family("transformer", TransformerLM, CausalLMTask,
                help="train a GPT-style Transformer language model",
                derived=("vocab_size",))
register_family("seq2seq", Seq2Seq, Seq2SeqTask,
                help="train an LSTM encoder-decoder on sentence pairs",
                derived=("source_vocab_size", "target_vocab_size",
                         "start_id", "end_id"))
register_family("encoder", MaskedLanguageModel, MaskedLMTask,
                help="pre-train a BERT-style bidirectional encoder "
                     "(masked language modelling) on unlabeled text",
                derived=("vocab_size", "pad_id"))
register_family("classifier", TextClassifier, ClassificationTask,
                help="train a text classifier (Transformer encoder or "
                     "bidirectional LSTM/GRU) on labeled text",
                derived=("vocab_size", "pad_id", "num_classes"))

__all__ = ["CausalLMTask", "ClassificationTask", "MaskedLMTask",
           "Seq2SeqTask", "Task"]
