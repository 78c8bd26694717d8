"""Tiny Hugging Face checkpoints built in the tests (no network): byte-level
BPE tokenizers trained with the `tokenizers` library and random
Llama-family models saved by `transformers`."""

# ChatML (Qwen2, SmolLM2-Instruct), without tools.
CHATML = (
    "{% for message in messages %}{% if loop.first and message['role'] != "
    "'system' %}{{ '<|im_start|>system\nYou are a helpful assistant."
    "<|im_end|>\n' }}{% endif %}{{ '<|im_start|>' + message['role'] + '\n' "
    "+ message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

#: Sentences the tokenizer tests encode: accents, CJK, emoji, runs of spaces
#: and newlines, digits, special tokens written in the text.
SENTENCES = [
    "Hello world",
    "Café naïve, déjà vu — señor Müller!",
    "東京は今日も晴れです。北京欢迎你",
    "emoji 🌸🎉 and 👩‍👩‍👧 family",
    "  leading spaces,   runs of   spaces  \n\n\n  and\ttabs\t\t\n",
    "trailing spaces   ",
    "numbers 12345 and 3.14159, x2 ٣٤",
    "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>assistant\n",
    "a<|im_end|>b <|endoftext|> c",
    "",
]


def training_text():
    """Text to learn merges from: Shakespeare-like lines and the kinds of
    characters the sentences use."""
    lines = ["To be, or not to be, that is the question:",
             "Whether 'tis nobler in the mind to suffer",
             "The slings and arrows of outrageous fortune,",
             "Café déjà vu señor Müller naïve",
             "東京 北京 晴れ 欢迎 你 今日",
             "emoji 🌸 🎉 family spaces tabs numbers",
             "Hello world, hello there! user assistant system"]
    return lines * 20


def byte_level_bpe(folder, digits=True, bos=True, vocab_size=500):
    """Trains a byte-level BPE with ChatML's special tokens and saves it as
    a transformers tokenizer (tokenizer.json, tokenizer_config.json with
    the chat template) in `folder`; returns the `PreTrainedTokenizerFast`.

    `digits`: split every digit apart first (SmolLM2); `bos`: a
    TemplateProcessing post-processor that starts every text with <s>
    (Llama)."""
    from tokenizers import (Tokenizer, decoders, models, pre_tokenizers,
                            processors, trainers)
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>"]
    backend = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False,
                                          use_regex=True)
    backend.pre_tokenizer = (pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), byte_level])
        if digits else byte_level)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(training_text(), trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    if bos:
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", backend.token_to_id("<s>"))])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="<|im_end|>",
        pad_token="<|endoftext|>")
    tokenizer.chat_template = CHATML
    tokenizer.save_pretrained(folder)
    return tokenizer


#: The three Llama-family layouts the import tests cover.
FAMILIES = ("llama", "qwen2", "mistral")


def llama_family(folder, family):
    """A tiny random `LlamaForCausalLM` (grouped-query attention, Llama 3
    rope scaling, untied head, sharded, BOS, sampling defaults),
    `Qwen2ForCausalLM` (q/k/v biases, tied, two stop ids, no BOS) or
    `MistralForCausalLM` (sliding window) with its tokenizer, saved in
    `folder`; returns `(model, tokenizer)` from transformers."""
    import torch
    import transformers

    tokenizer = byte_level_bpe(folder, digits=family != "qwen2",
                               bos=family != "qwen2")
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    torch.manual_seed({"llama": 0, "qwen2": 1, "mistral": 2}[family])
    # A wide initialisation spreads the logits, so greedy decoding has no
    # near-ties that float round-off could flip.
    common = dict(vocab_size=len(tokenizer), hidden_size=64,
                  intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=128, initializer_range=0.2,
                  bos_token_id=tokenizer.bos_token_id, eos_token_id=im_end,
                  pad_token_id=tokenizer.pad_token_id)
    if family == "llama":
        config = transformers.LlamaConfig(
            **common, tie_word_embeddings=False, rope_theta=50000.0,
            rope_scaling={"rope_type": "llama3", "factor": 4.0,
                          "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 32})
        model = transformers.LlamaForCausalLM(config)
    elif family == "qwen2":
        config = transformers.Qwen2Config(**common, tie_word_embeddings=True)
        model = transformers.Qwen2ForCausalLM(config)
    else:
        config = transformers.MistralConfig(**common, sliding_window=96,
                                            tie_word_embeddings=False)
        model = transformers.MistralForCausalLM(config)
    model.eval()
    generation = model.generation_config
    if family == "llama":
        generation.do_sample, generation.temperature = True, 0.7
        generation.top_p, generation.top_k = 0.9, 20
    if family == "qwen2":
        generation.eos_token_id = [im_end, tokenizer.pad_token_id]
    model.save_pretrained(folder, max_shard_size="100KB"
                          if family == "llama" else "50MB")
    return model, tokenizer


# TinyLlama-1.1B-Chat's (Zephyr) template.
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n"
    "{% endif %}\n{% endfor %}")


def sentencepiece_llama(folder):
    """A tiny random `LlamaForCausalLM` with a SentencePiece tokenizer.model
    (byte fallback, TinyLlama's tokenizer_config.json and chat template) in
    `folder`; returns `(model, tokenizer)` from transformers."""
    import io
    import json
    import os

    import sentencepiece
    import torch
    import transformers

    proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text() * 2), model_writer=proto,
        vocab_size=400, model_type="bpe", byte_fallback=True,
        character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        split_digits=True, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity",
        minloglevel=2)
    with open(os.path.join(folder, "tokenizer.model"), "wb") as f:
        f.write(proto.getvalue())
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False,
                   "bos_token": "<s>", "eos_token": "</s>",
                   "unk_token": "<unk>", "pad_token": "</s>",
                   "legacy": False, "tokenizer_class": "LlamaTokenizer",
                   "chat_template": ZEPHYR}, f)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(3)
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=400, hidden_size=64, intermediate_size=96,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
        max_position_embeddings=128, initializer_range=0.2, bos_token_id=1,
        eos_token_id=2, tie_word_embeddings=False)).eval()
    model.save_pretrained(folder)
    return model, tokenizer
