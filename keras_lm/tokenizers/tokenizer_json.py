"""Reading a Hugging Face `tokenizer.json` of a byte-level BPE (GPT-2,
SmolLM2, Qwen2, Llama 3) into `ByteBPETokenizer` arguments, and telling
which of its pre-tokenizers the in-graph tokenizer reproduces."""

import os

from keras_lm.errors import KerasLMError
from keras_lm.io_utils import read_json

#: GPT-2's pre-tokenizer, as tokenizer.json writes it.
GPT2_PRE_TOKENIZER = {"type": "ByteLevel", "add_prefix_space": False,
                      "trim_offsets": True, "use_regex": True}
#: SmolLM2's: every digit alone, then GPT-2's.
DIGITS = {"type": "Digits", "individual_digits": True}
#: The Split regexes of Llama 3 and Qwen2 (digits in runs of up to three,
#: or one by one), each followed by a ByteLevel without its own regex.
SPLIT_PATTERNS = {
    r"\p{N}{1,3}": "llama3", r"\p{N}": "qwen2"}
_SPLIT_TEMPLATE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"
                   r"DIGITS| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _is_gpt2_byte_level(pre):
    return (isinstance(pre, dict) and pre.get("type") == "ByteLevel"
            and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False))


def _describe(pre):
    if isinstance(pre, dict) and pre.get("type") == "Sequence":
        return "Sequence of " + ", ".join(
            str(p.get("type")) for p in pre.get("pretokenizers", []))
    return str(pre.get("type")) if isinstance(pre, dict) else repr(pre)


def _split_pattern(part):
    """The `SPLIT_PATTERNS` digits of a Llama 3 / Qwen2 Split, else None."""
    if (part.get("type") != "Split" or part.get("invert")
            or part.get("behavior") != "Isolated"):
        return None
    regex = (part.get("pattern") or {}).get("Regex")
    return next((digits for digits in SPLIT_PATTERNS
                 if regex == _SPLIT_TEMPLATE.replace("DIGITS", digits)), None)


def graph_pre_tokenizer(pre):
    """How the in-graph tokenizer pre-tokenizes for tokenizer.json's `pre`:
    "gpt2" (GPT-2's ByteLevel regex), "digits" (each digit apart first, as
    SmolLM2) or "llama3" / "qwen2" (their Split regex); a one-line error
    for a pre-tokenizer that has no in-graph form here."""
    if _is_gpt2_byte_level(pre):
        return "gpt2"
    parts = pre.get("pretokenizers", []) if isinstance(pre, dict) else []
    if pre.get("type") == "Sequence" and len(parts) == 2:
        first, byte_level = parts
        if ({k: first.get(k) for k in DIGITS} == DIGITS
                and _is_gpt2_byte_level(byte_level)):
            return "digits"
        digits = _split_pattern(first)
        if (digits and byte_level.get("type") == "ByteLevel"
                and not byte_level.get("use_regex", True)
                and not byte_level.get("add_prefix_space", False)):
            return SPLIT_PATTERNS[digits]
    raise KerasLMError(
        f"this tokenizer's pre-tokenizer ({_describe(pre)}) has no in-graph "
        "form in keras-lm (supported: GPT-2's ByteLevel, alone or after "
        "Digits as in SmolLM2, and the Split regexes of Llama 3 and Qwen2); "
        "it tokenizes in Python, but cannot be exported")


def template_prefix(post_processor, path):
    """The ids a tokenizer.json post-processor puts before a single text:
    the special tokens ahead of "A" in a `TemplateProcessing`."""
    if not post_processor:
        return []
    processors = (post_processor.get("processors", [])
                  if post_processor.get("type") == "Sequence"
                  else [post_processor])
    for processor in processors:
        kind = processor.get("type")
        if kind == "ByteLevel":
            continue
        if kind != "TemplateProcessing":
            raise KerasLMError(f"{path}: post-processor {kind!r} is not "
                               "supported (byte-level BPE checkpoints use "
                               "ByteLevel or TemplateProcessing)")
        prefix = []
        for item in processor.get("single", []):
            if "Sequence" in item:
                return prefix
            token = item["SpecialToken"]["id"]
            prefix += processor["special_tokens"][token]["ids"]
        raise KerasLMError(f"{path}: its TemplateProcessing has no text "
                           "(\"A\") in its single template")
    return []


def tokenizer_json_config(path):
    """`ByteBPETokenizer` arguments (all but `end_of_text`) from a Hugging
    Face tokenizer.json (a file, or a folder with one)."""
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
        raise KerasLMError(f"{path} not found: a byte-level BPE checkpoint "
                           "needs its tokenizer.json")
    data = read_json(path, required=("model",))
    model = data["model"] if isinstance(data["model"], dict) else {}
    kind = model.get("type")
    if kind != "BPE" or model.get("byte_fallback"):
        what = ("a SentencePiece-style BPE (byte_fallback)" if kind == "BPE"
                else f"a {kind} model")
        raise KerasLMError(f"{path} holds {what}; only byte-level BPE "
                           "tokenizers (GPT-2, SmolLM2, Qwen2, Llama 3) "
                           "import")
    pre = data.get("pre_tokenizer")
    uses_byte_level = _is_gpt2_byte_level(pre) or any(
        p.get("type") == "ByteLevel" for p in (pre or {}).get(
            "pretokenizers", []))
    if not uses_byte_level:
        raise KerasLMError(f"{path} has no ByteLevel pre-tokenizer "
                           f"({_describe(pre)}); it is not a byte-level BPE")
    normalizer = data.get("normalizer")
    if normalizer is not None:
        if normalizer.get("type") != "NFC":
            raise KerasLMError(f"{path}: normalizer {_describe(normalizer)} "
                               "is not supported (none or NFC)")
        normalizer = "NFC"
    vocabulary = dict(model.get("vocab") or {})
    added = data.get("added_tokens") or []
    for token in added:
        if any(token.get(flag) for flag in ("lstrip", "rstrip",
                                            "single_word")):
            raise KerasLMError(f"{path}: added token {token['content']!r} "
                               "strips spaces or matches whole words, which "
                               "is not supported")
        vocabulary[token["content"]] = token["id"]
    merges = []
    for rule in model.get("merges") or []:
        if not isinstance(rule, str):
            if len(rule) != 2 or any(" " in part for part in rule):
                raise KerasLMError(f"{path}: merge rule {rule!r} is not two "
                                   "tokens without spaces")
            rule = " ".join(rule)
        merges.append(rule)
    return {"vocabulary": vocabulary, "merges": merges,
            "added_tokens": [token["content"] for token in added],
            "pre_tokenizer": pre, "normalizer": normalizer,
            "ignore_merges": bool(model.get("ignore_merges")),
            "prefix_ids": template_prefix(data.get("post_processor"), path)}
