"""One compiled sampling loop for every model, and its text-level wrapper."""

from keras_lm.generation.loop import BUCKET, compiled_decode_loop, generate_ids
from keras_lm.generation.sampling import sample_next_token, truncate_logits
from keras_lm.generation.text import (check_sampling_args, encode_prompts,
                                      generate_text)

__all__ = ["BUCKET", "check_sampling_args", "compiled_decode_loop",
           "encode_prompts", "generate_ids", "generate_text",
           "sample_next_token", "truncate_logits"]
