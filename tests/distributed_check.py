"""Run in a fresh process by test_distribute.py: two logical CPUs, then
MirroredStrategy vs the default strategy on every model family (the three
language models and the Seq2Seq translator)."""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from keras_lm.training import TrainingConfig, train  # noqa: E402
from keras_lm.translation import train_seq2seq  # noqa: E402

corpus, out_dir = sys.argv[1], sys.argv[2]
MODELS = {
    "gru": {"embedding_dim": 16, "rnn_units": 32, "num_layers": 2},
    "lstm": {"embedding_dim": 16, "rnn_units": 16, "tie_embeddings": True},
    "transformer": {"num_layers": 2, "num_heads": 2, "d_model": 32,
                    "max_sequence_length": 32},
}
results = {}
for family, model_config in MODELS.items():
    for strategy in ("default", "mirrored"):
        history = train(
            family, f"{out_dir}/{family}-{strategy}", data=corpus,
            model_config=model_config,
            training=TrainingConfig(batch_size=8, seq_len=32, epochs=2,
                                    steps_per_epoch=5, validation_steps=2,
                                    seed=1),
            verbose=0, strategy=strategy)
        results[f"{family}/{strategy}"] = {
            "loss": history.history["loss"],
            "val_loss": history.history["val_loss"]}
for strategy in ("default", "mirrored"):
    history = train_seq2seq(
        f"{out_dir}/seq2seq-{strategy}", tokenizer="char", max_examples=400,
        max_source_length=40, max_target_length=12, embedding_dim=16,
        units=16, batch_size=8, epochs=2, steps_per_epoch=5,
        validation_steps=2, seed=1, verbose=0, strategy=strategy).history
    results[f"seq2seq/{strategy}"] = {
        "loss": history.history["loss"],
        "val_loss": history.history["val_loss"]}
results["replicas"] = tf.distribute.MirroredStrategy().num_replicas_in_sync
print(json.dumps(results))
