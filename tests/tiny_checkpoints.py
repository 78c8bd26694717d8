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
