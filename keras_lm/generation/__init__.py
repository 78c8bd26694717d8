"""One compiled sampling loop for every model."""

from keras_lm.generation.loop import BUCKET, compiled_decode_loop, generate_ids
from keras_lm.generation.sampling import sample_next_token, truncate_logits

__all__ = ["BUCKET", "compiled_decode_loop", "generate_ids",
           "sample_next_token", "truncate_logits"]
