"""Decoding for every model: one sampling loop and one beam search, both
compiled with XLA and written against one decoder protocol
(`keras_lm.generation.protocol`). `generate_ids` is the entry to both,
`generate_text` puts a tokenizer around it, `stream_ids`/`stream_text` hand
out tokens as they come, and `greedy_decode`,
`sample_sequences`, `beam_search` and `best_sequences` decode a `Seq2Seq`.
"""

from keras_lm.generation.beam_search import (BeamSearchResult, beam_search,
                                             beam_search_ids, best_sequences,
                                             check_decoding)
from keras_lm.generation.loop import BUCKET, compiled_decode_loop, generate_ids
from keras_lm.generation.quantize import (check_quantize_mode,
                                          quantize_for_decoding,
                                          with_kv_cache_dtype)
from keras_lm.generation.sampling import sample_next_token, truncate_logits
from keras_lm.generation.seq2seq import (GreedyResult, greedy_decode,
                                         sample_sequences)
from keras_lm.generation.streaming import stream_ids, stream_text
from keras_lm.generation.text import (check_sampling_args, encode_prompts,
                                      generate_text)

__all__ = ["BUCKET", "BeamSearchResult", "GreedyResult", "beam_search",
           "beam_search_ids", "best_sequences", "check_decoding",
           "check_sampling_args", "compiled_decode_loop", "encode_prompts",
           "check_quantize_mode", "generate_ids", "generate_text",
           "greedy_decode", "quantize_for_decoding",
           "sample_next_token", "sample_sequences", "stream_ids",
           "stream_text", "truncate_logits", "with_kv_cache_dtype"]
