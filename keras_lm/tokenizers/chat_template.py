"""Chat templates: the Jinja programs that turn a conversation into a prompt.

A chat model (Llama 3, Qwen2, SmolLM2, Mistral) was trained on conversations
written in one exact format, with special tokens around each turn. Its Hugging
Face checkpoint ships that format as a Jinja template (`chat_template.jinja`,
or the `chat_template` entry of `tokenizer_config.json`). `ChatTemplate`
renders it exactly as `transformers`' ``apply_chat_template(...,
tokenize=False)`` does: the same sandboxed Jinja environment, filters and
globals, and the same variables (`messages`, `add_generation_prompt`, the
special tokens, `tools`, `documents`), so a prompt matches the model's
training format character for character.

Templates from the Hub are untrusted code, so they run in jinja2's
`ImmutableSandboxedEnvironment` and see only plain JSON data.
"""

import json
import os
from collections.abc import Mapping


from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.jinja_sandbox import compile_template, one_line
from keras_lm.io_utils import decode_utf8, read_json

#: The roles a message may have.
ROLES = ("system", "user", "assistant", "tool")
#: The special tokens a template may refer to (transformers' named ones).
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token",
                       "pad_token", "cls_token", "mask_token")
TEMPLATE_FILE = "chat_template.jinja"
CONFIG_FILE = "tokenizer_config.json"
LEGACY_SPECIAL_TOKENS_FILE = "special_tokens_map.json"
#: Names a message's reasoning goes by; templates read the first (Qwen3) or
#: `thinking` (gpt-oss), so transformers fills both from whichever is given.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


class ChatTemplate:
    """A Jinja chat template and the special token strings it refers to.

    Args:
        template: the template's Jinja source.
        special_tokens: a dict such as ``{"bos_token": "<s>", "eos_token":
            "</s>"}`` (the named tokens of tokenizer_config.json); the template
            sees each as a variable. None: no special tokens.

    Example:

    >>> chat = ChatTemplate(
    ...     "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}"
    ...     "{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}",
    ...     {"eos_token": "</s>"})
    >>> chat.render([{"role": "user", "content": "Hi"}])
    '<|user|>Hi</s><|assistant|>'
    >>> chat.end_of_turn_text()
    '</s>'
    >>> ChatTemplate.from_config(chat.get_config()).render(
    ...     [{"role": "user", "content": "Hi"}], add_generation_prompt=False)
    '<|user|>Hi</s>'
    """

    def __init__(self, template, special_tokens=None):
        if not isinstance(template, str) or not template.strip():
            raise KerasLMError("a chat template must be a non-empty string of "
                               f"Jinja source, got {_short(template)}")
        self.template = template
        self.special_tokens = _check_special_tokens(special_tokens or {})
        self._compiled = compile_template(template)

    def render(self, messages, add_generation_prompt=True, **extra):
        """The prompt text for `messages` (a list of ``{"role", "content"}``
        dicts), ending with the assistant's header when
        `add_generation_prompt`; `extra` are further template variables
        (`tools`, `documents`, `date_string`, ...), which override the special
        tokens of the same name.

        >>> ChatTemplate("{{ messages[0].content | upper }}").render(
        ...     [{"role": "user", "content": "hi"}])
        'HI'
        """
        # As transformers does: a key whose value is None is dropped, since
        # templates test whether a key is defined, not whether it is None.
        messages = [_with_reasoning_aliases(_plain(
            {key: value for key, value in message.items()
             if value is not None}))
            for message in check_messages(messages)]
        variables = {**self.special_tokens, "tools": None, "documents": None,
                     **_plain(extra)}
        try:
            return self._compiled.render(
                messages=messages,
                add_generation_prompt=bool(add_generation_prompt),
                **variables)
        except Exception as e:  # any error a template program raises is its own
            raise KerasLMError("the chat template failed to render: "
                               f"{one_line(e)}") from None

    def end_of_turn(self):
        """The text of the token that ends an assistant turn (where generation
        stops), or None when the template writes nothing after one; see the
        module's `end_of_turn`.

        >>> ChatTemplate("{% for m in messages %}{{ m.content }}<|end|>\\n"
        ...              "{% endfor %}").end_of_turn()
        '<|end|>'
        """
        return end_of_turn(self)

    end_of_turn_text = end_of_turn

    def get_config(self):
        """A JSON-able dict that `from_config` turns back into this."""
        return {"template": self.template,
                "special_tokens": dict(self.special_tokens)}

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, Mapping) or "template" not in config:
            raise KerasLMError("a chat template config must be a dict with "
                               "a 'template' entry; it is damaged, save it "
                               "again")
        return cls(config["template"], config.get("special_tokens"))

    def __repr__(self):
        return (f"ChatTemplate({_short(self.template)}, "
                f"special_tokens={self.special_tokens!r})")


# === Messages ===

def check_messages(messages):
    """`messages` unchanged if it is a non-empty list of dicts, each with a
    `role` from `ROLES` and a string `content`; else a one-line error.

    >>> check_messages([{"role": "bot", "content": "Hi"}])
    Traceback (most recent call last):
    ...
    keras_lm.errors.KerasLMError: message 1 has unknown role 'bot'; allowed roles: system, user, assistant, tool
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise KerasLMError('messages must be a non-empty list of {"role": '
                           '..., "content": ...} objects, got '
                           f'{_short(messages)}')
    for number, message in enumerate(messages, 1):
        if not isinstance(message, Mapping):
            raise KerasLMError(f'message {number} must be an object with '
                               f'"role" and "content", got {_short(message)}')
        role = message.get("role")
        if not isinstance(role, str):
            raise KerasLMError(f'message {number} needs a "role" string '
                               f"(one of {', '.join(ROLES)}), got "
                               f"{_short(role)}")
        if role not in ROLES:
            raise KerasLMError(f"message {number} has unknown role {role!r}; "
                               f"allowed roles: {', '.join(ROLES)}")
        if not isinstance(message.get("content"), str):
            raise KerasLMError(f'message {number} ({role}) needs a "content" '
                               f'string, got {_short(message.get("content"))}')
    return messages


def parse_messages(text_or_list):
    """A checked list of messages from a JSON string (the command line, an
    exported model's callers) or from a list.

    >>> parse_messages('[{"role": "user", "content": "Hi"}]')
    [{'role': 'user', 'content': 'Hi'}]
    >>> parse_messages("Hi")
    Traceback (most recent call last):
    ...
    keras_lm.errors.KerasLMError: messages are not valid JSON (Expecting value: line 1 column 1 (char 0)); pass a list such as [{"role": "user", "content": "Hi"}]
    """
    messages = text_or_list
    if isinstance(text_or_list, (bytes, bytearray)):
        text_or_list = decode_utf8(bytes(text_or_list), "messages")
    if isinstance(text_or_list, str):
        try:
            messages = json.loads(text_or_list)
        except ValueError as e:
            raise KerasLMError("messages are not valid JSON "
                               f"({one_line(e)}); pass a list such as "
                               '[{"role": "user", "content": "Hi"}]') from None
    return list(check_messages(messages))


def _with_reasoning_aliases(message):
    # As transformers does: a message's reasoning under any of its names is
    # also given under the names the templates read.
    reasoning = next((message[key] for key in _REASONING_FIELDS
                      if message.get(key) is not None), None)
    if reasoning is None:
        return message
    return {"thinking": reasoning, **message, "reasoning_content": reasoning}


def _plain(value):
    """`value` rebuilt from plain JSON types, anything else as a placeholder
    such as "<ndarray>": a template (untrusted code) then calls no method of
    the caller's objects, as in transformers."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    for kind in (bool, str, int, float):  # subclasses: enums, numpy floats
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        if getattr(value, "shape", None) == ():
            return _plain(value.item())
    return f"<{type(value).__name__}>"


# === End of turn ===

_MARKER = "KerasLMAssistantTurnMarker"
_USER = {"role": "user", "content": "Hi"}
#: Openings to try, in order, until one renders: some templates refuse a
#: system message, others need one first.
_OPENINGS = ([_USER],
             [{"role": "system", "content": "Be brief."}, _USER])


def end_of_turn(template):
    """The text that a `ChatTemplate` writes right after an assistant's
    message (`<|im_end|>` for ChatML, `<|eot_id|>` for Llama 3, `</s>` for
    Mistral), up to the next whitespace; None when nothing follows it.

    The text is what follows a marker message both where the conversation
    ends and where a user turn follows, so neither a template's closing text
    nor the next turn's header is taken for it. A chunk that begins with one
    of the template's special tokens is cut to that token, and one that begins
    with "<" is cut after the first ">" (two tokens written together give the
    first).

    >>> end_of_turn(ChatTemplate("{% for m in messages %}{{ m.content }}"
    ...                          "<|eot_id|>{% endfor %}<|x|>"))
    '<|eot_id|>'
    >>> end_of_turn(ChatTemplate("{% for m in messages %}{{ m.content }}\\n"
    ...                          "{% endfor %}(end)")) is None
    True
    """
    assistant = {"role": "assistant", "content": _MARKER}
    for opening in _OPENINGS:
        at_end = _after_marker(template, opening + [assistant])
        if at_end is None:
            continue
        followed = _after_marker(template, opening + [assistant, _USER])
        if followed is not None:
            at_end = os.path.commonprefix([at_end, followed])
        return _first_token(at_end, template.special_tokens.values())
    return None


def _after_marker(template, conversation):
    """The text after the marker in `conversation`'s rendering; None when
    the template refuses it or drops the marker."""
    try:
        text = template.render(conversation, add_generation_prompt=False)
    except KerasLMError:
        return None
    return text.split(_MARKER, 1)[1] if _MARKER in text else None


def _first_token(following, special_tokens):
    chunks = following.split()
    if not chunks:
        return None
    chunk = chunks[0]
    known = [token for token in special_tokens
             if token and chunk.startswith(token)]
    if known:
        return max(known, key=len)
    if chunk.startswith("<") and ">" in chunk:
        return chunk[:chunk.index(">") + 1]
    return chunk


# === Reading a checkpoint ===

def read_chat_template(folder):
    """The `ChatTemplate` of a Hugging Face checkpoint folder, or None when it
    has none: `chat_template.jinja` (what transformers 5 saves), else
    tokenizer_config.json's `chat_template` (a string, or a list of named
    templates whose "default" is used), with the special tokens named in
    tokenizer_config.json (special_tokens_map.json filling any it lacks).

    >>> import tempfile
    >>> read_chat_template(tempfile.mkdtemp()) is None
    True
    """
    config_path = os.path.join(folder, CONFIG_FILE)
    config = read_json(config_path) if os.path.isfile(config_path) else {}
    if not isinstance(config, dict):
        raise KerasLMError(f"{config_path} must hold a JSON object; the "
                           "checkpoint is damaged, download it again")
    template = _read_template_file(folder)
    if template is None:
        template = _template_from_config(config.get("chat_template"),
                                         config_path)
    if template is None:
        return None
    return ChatTemplate(template, _read_special_tokens(folder, config))


def _read_template_file(folder):
    path = os.path.join(folder, TEMPLATE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return decode_utf8(f.read(), path)


def _template_from_config(entry, path):
    if entry is None or isinstance(entry, str):
        return entry
    if isinstance(entry, list):
        named = {item.get("name"): item.get("template") for item in entry
                 if isinstance(item, dict)}
        if "default" in named:
            return named["default"]
        raise KerasLMError(f"{path} has chat templates named "
                           f"{', '.join(map(str, named))} but none named "
                           "'default'; add one named 'default'")
    raise KerasLMError(f"{path}'s chat_template must be a string or a list "
                       "of {'name', 'template'} objects, got "
                       f"{_short(entry)}")


def _read_special_tokens(folder, config):
    legacy_path = os.path.join(folder, LEGACY_SPECIAL_TOKENS_FILE)
    legacy = read_json(legacy_path) if os.path.isfile(legacy_path) else {}
    tokens = {}
    for name in SPECIAL_TOKEN_NAMES:
        for source in (config, legacy if isinstance(legacy, dict) else {}):
            text = _token_text(source.get(name))
            if text is not None:
                tokens[name] = text
                break
    return tokens


def _token_text(value):
    # A token is saved as its text, or as an AddedToken dict with "content".
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _check_special_tokens(tokens):
    if not isinstance(tokens, Mapping):
        raise KerasLMError("special_tokens must be a dict such as "
                           f'{{"eos_token": "</s>"}}, got {_short(tokens)}')
    for name, text in tokens.items():
        if not (isinstance(name, str)
                and (text is None or isinstance(text, str))):
            raise KerasLMError(f"special token {name!r} must be a string "
                               f"name with a string text, got {_short(text)}")
    return {name: text for name, text in tokens.items() if text is not None}


# === Messages for errors ===

def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
