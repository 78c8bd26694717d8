"""Run in a fresh process by test_distribute.py: two logical CPUs, then
MirroredStrategy vs the default strategy on every model family (the three
language models and the Seq2Seq translator)."""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from keras_lm.runs import train  # noqa: E402

corpus, out_dir = sys.argv[1], sys.argv[2]
# family -> (model config, the task's options); one trainer for all four.
MODELS = {
    "gru": ({"embedding_dim": 16, "rnn_units": 32, "num_layers": 2},
            {"data": corpus}),
    "lstm": ({"embedding_dim": 16, "rnn_units": 16, "tie_embeddings": True},
             {"data": corpus}),
    "transformer": ({"num_layers": 2, "num_heads": 2, "d_model": 32,
                     "max_sequence_length": 32}, {"data": corpus}),
    "seq2seq": ({"embedding_dim": 16, "units": 16},
                {"tokenizer": "char", "max_examples": 400,
                 "max_source_length": 40, "max_target_length": 12}),
}
results = {}
for family, (model_config, options) in MODELS.items():
    for strategy in ("default", "mirrored"):
        history = train(
            family, f"{out_dir}/{family}-{strategy}",
            model_config=model_config,
            training=dict(batch_size=8, seq_len=32, epochs=2,
                          steps_per_epoch=5, validation_steps=2, seed=1),
            verbose=0, strategy=strategy, **options)
        results[f"{family}/{strategy}"] = {
            "loss": history.history["loss"],
            "val_loss": history.history["val_loss"]}
results["replicas"] = tf.distribute.MirroredStrategy().num_replicas_in_sync
print(json.dumps(results))
