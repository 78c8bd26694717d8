"""Run by test_distribute.py, once per worker (TF_CONFIG set) and once with
the default strategy: trains a small GRU and prints its losses as JSON."""

import json
import sys

from keras_lm.training import TrainingConfig, train
from keras_lm.training.distribute import make_strategy

corpus, out_dir, name = sys.argv[1], sys.argv[2], sys.argv[3]
strategy = make_strategy(name)  # first: the runtime must not start before
history = train(
    "gru", out_dir, data=corpus,
    model_config={"embedding_dim": 16, "rnn_units": 32, "num_layers": 2},
    training=TrainingConfig(batch_size=8, seq_len=32, epochs=2,
                            steps_per_epoch=5, validation_steps=2, seed=1),
    verbose=0, strategy=strategy)
print(json.dumps({"loss": history.history["loss"],
                  "val_loss": history.history["val_loss"],
                  "replicas": strategy.num_replicas_in_sync}))
