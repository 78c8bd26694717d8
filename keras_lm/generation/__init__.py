"""Decoding for every model: one sampling loop and one beam search, both
compiled with XLA and both written against one decoder protocol
(`keras_lm.generation.protocol`), plus their text-level wrappers.

`generate_ids` is the entry to both loops (`beam_width=1` samples, more
runs beam search); `generate_text` puts a tokenizer around it. A `Seq2Seq`
decodes through the same loops from the prompt `[START]`: `greedy_decode`,
`sample_sequences`, `beam_search`, `best_sequences`.
"""

from keras_lm.generation.beam_search import (BeamSearchResult, beam_search,
                                             beam_search_ids, best_sequences,
                                             check_decoding)
from keras_lm.generation.loop import BUCKET, compiled_decode_loop, generate_ids
from keras_lm.generation.sampling import sample_next_token, truncate_logits
from keras_lm.generation.seq2seq import (GreedyResult, greedy_decode,
                                         sample_sequences)
from keras_lm.generation.text import (check_sampling_args, encode_prompts,
                                      generate_text)

__all__ = ["BUCKET", "BeamSearchResult", "GreedyResult", "beam_search",
           "beam_search_ids", "best_sequences", "check_decoding",
           "check_sampling_args", "compiled_decode_loop", "encode_prompts",
           "generate_ids", "generate_text", "greedy_decode",
           "sample_next_token", "sample_sequences", "truncate_logits"]
