"""TPU readiness, checked on the CPU: for every model family the train step
and the decoding loops (sampling and beam search) compile with XLA
(`jit_compile=True`) on static shapes, and mixed precision policies keep
the logits in float32."""

import numpy as np
import pytest

import keras
from keras_lm.generation import (beam_search, generate_ids, greedy_decode,
                                 sample_sequences)
from keras_lm.models import (GRUGenerator, LSTMLanguageModel, Seq2Seq,
                             TransformerLM)
from keras_lm.models.seq2seq import masked_loss
from keras_lm.training.metrics import MaskedTokenAccuracy
from keras_lm.training.trainer import TrainingConfig, compile_model

VOCAB, BATCH, TIME = 40, 4, 16


@pytest.fixture
def policy(request):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(previous)


# Every family under mixed_bfloat16 (CPU/TPU); mixed_float16 (GPU, with loss
# scaling) once per kind of model. The float32 XLA train step of the language
# models runs in every training test already.
LM_CASES = [("gru", "mixed_bfloat16"), ("lstm", "mixed_bfloat16"),
            ("transformer", "mixed_bfloat16"), ("lstm", "mixed_float16"),
            ("transformer", "mixed_float16")]


LANGUAGE_MODELS = {
    "gru": lambda: GRUGenerator(VOCAB, embedding_dim=8, rnn_units=16,
                                num_layers=2),
    "lstm": lambda: LSTMLanguageModel(VOCAB, embedding_dim=16, rnn_units=16,
                                      tie_embeddings=True),
    "transformer": lambda: TransformerLM(VOCAB, max_sequence_length=64,
                                         num_layers=2, num_heads=2,
                                         d_model=16),
}


@pytest.mark.slow
@pytest.mark.parametrize("family, policy", LM_CASES, indirect=["policy"])
def test_language_model_train_step_and_sampling_compile_with_xla(family,
                                                                 policy):
    model = LANGUAGE_MODELS[family]()
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, (BATCH, TIME)).astype("int32")
    y = rng.integers(0, VOCAB, (BATCH, TIME)).astype("int32")
    # jit_compile=True makes Keras compile the whole train step with XLA and
    # raise if any op cannot be compiled.
    compile_model(model, TrainingConfig(), total_steps=10, jit_compile=True)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert model(x).dtype == "float32"
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    new = generate_ids(model, x[:, :5], [5] * BATCH, 8, temperature=1.0,
                       top_k=5, seed=1)
    assert new.shape == (BATCH, 8)
    # beam search reorders the (mixed-precision) state with XLA too
    best = generate_ids(model, x[:, :5], [5] * BATCH, 8, beam_width=3)
    assert best.shape == (BATCH, 8)


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"],
                         indirect=True)
def test_seq2seq_train_step_and_decoding_compile_with_xla(policy):
    model = Seq2Seq(VOCAB, VOCAB + 2, embedding_dim=8, units=16,
                    attention="additive")
    rng = np.random.default_rng(0)
    source = rng.integers(1, VOCAB, (BATCH, TIME)).astype("int32")
    decoder_in = rng.integers(1, VOCAB, (BATCH, TIME)).astype("int32")
    target = rng.integers(1, VOCAB, (BATCH, TIME)).astype("int32")
    model.compile(optimizer="adam", loss=masked_loss(),
                  metrics=[MaskedTokenAccuracy()], jit_compile=True)
    logs = model.train_on_batch((source, decoder_in), target, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert model((source, decoder_in)).dtype == "float32"
    greedy = greedy_decode(model, source, max_length=6, jit_compile=True)
    beams = beam_search(model, source, beam_width=3, max_length=6,
                        jit_compile=True)
    sampled = sample_sequences(model, source, 6, temperature=0.8, top_p=0.9)
    assert greedy.sequences.shape == sampled.shape == (BATCH, 6)
    assert beams.sequences.shape[:2] == (BATCH, 3)
