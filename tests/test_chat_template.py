"""Chat templates render exactly as transformers' `apply_chat_template`, read
back from a saved checkpoint folder, and find the token that ends a turn."""

import json
import os

import jinja2
import pytest

from keras_lm.errors import KerasLMError
from keras_lm.tokenizers.chat_template import (ChatTemplate, end_of_turn,
                                               parse_messages,
                                               read_chat_template)

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

# Qwen2.5's ChatML template (tool calls left out): a default system message,
# tools written with tojson, consecutive tool results in one user turn.
CHATML = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# Meta Llama 3 Instruct's template.
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")

# Mistral Instruct's: no system role, user and assistant must alternate.
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate "
    "user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
    "' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ message['content'] + eos_token }}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}")

# Block whitespace control (trim_blocks, lstrip_blocks, "-"), loop.last,
# tojson with its options, strftime_now, namespace with {% break %}, dict().
FEATURES = """\
{% set ns = namespace(system=false) %}
{% for message in messages %}
    {% if message.role == "system" %}
        {% set ns.system = true %}
        {% break %}
    {% endif %}
{% endfor %}
<|meta|>{{ {"date": strftime_now("%Y-%m-%d"), "system": ns.system, "n": messages | length, "html": "<b>&'caf\u00e9'"} | tojson }}
{% if tools %}
<|tools|>{{ tools | tojson(indent=2) }}
{% endif %}
{% for message in messages %}
    <|{{ message.role }}|>
    {{ message.content | trim }}{{ eos_token }}{% if not loop.last %} {{ dict(i=loop.index) | tojson(sort_keys=true) }}{% endif %}

    {%- if loop.last and add_generation_prompt %}
<|assistant|>
    {%- endif %}
{% endfor %}
"""

TEMPLATES = {"chatml": CHATML, "llama3": LLAMA3, "mistral": MISTRAL,
             "features": FEATURES}
SPECIALS = {"chatml": {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
            "llama3": {"bos_token": "<|begin_of_text|>",
                       "eos_token": "<|eot_id|>"},
            "mistral": {"bos_token": "<s>", "eos_token": "</s>",
                        "unk_token": "<unk>"},
            "features": {"eos_token": "</s>"}}
END_OF_TURN = {"chatml": "<|im_end|>", "llama3": "<|eot_id|>",
               "mistral": "</s>", "features": "</s>"}


def _m(role, content):
    return {"role": role, "content": content}


CONVERSATIONS = [
    [_m("user", "Hello there")],
    [_m("system", "Answer in French."), _m("user", "  Hi  ")],
    [_m("user", "2+2?"), _m("assistant", "4"), _m("user", "caf\u00e9 \U0001F642?")],
    [_m("system", "Be brief."), _m("user", "Hi"), _m("assistant", "Hello!")],
    [_m("user", "Weather?"), _m("assistant", "Calling."), _m("tool", "sunny")],
]
TOOLS = [{"type": "function", "function": {
    "name": "weather", "description": "The weather <today> in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def _hf_tokenizer(name):
    """A transformers tokenizer over a tiny word-level vocabulary with `name`'s
    chat template and special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = SPECIALS[name]
    vocab = {token: i for i, token in enumerate(
        ["[UNK]", "hi", "there", *specials.values()])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **specials)
    tokenizer.chat_template = TEMPLATES[name]
    return tokenizer


@pytest.fixture(scope="module", params=sorted(TEMPLATES))
def hf(request):
    return request.param, _hf_tokenizer(request.param)


def _expected(tokenizer, messages, **kwargs):
    """transformers' rendering, or the one-line error we must raise instead."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    except jinja2.TemplateError as e:
        return KerasLMError(f"the chat template failed to render: {e}")


def _assert_renders_like(chat, tokenizer, messages, **kwargs):
    expected = _expected(tokenizer, messages, **kwargs)
    if isinstance(expected, Exception):
        with pytest.raises(KerasLMError) as info:
            chat.render(messages, **kwargs)
        assert str(info.value) == str(expected)
    else:
        assert chat.render(messages, **kwargs) == expected


@pytest.mark.parametrize("generation_prompt", [True, False])
def test_renders_exactly_like_transformers(hf, generation_prompt):
    name, tokenizer = hf
    chat = ChatTemplate(TEMPLATES[name], tokenizer.special_tokens_map)
    for messages in CONVERSATIONS:
        _assert_renders_like(chat, tokenizer, messages,
                             add_generation_prompt=generation_prompt)


def test_tools_and_extra_variables_like_transformers(hf):
    name, tokenizer = hf
    chat = ChatTemplate(TEMPLATES[name], tokenizer.special_tokens_map)
    for messages in CONVERSATIONS[:2]:
        _assert_renders_like(chat, tokenizer, messages, tools=TOOLS,
                             add_generation_prompt=True)
    # An extra variable overrides a special token of the same name; a key
    # whose value is None is dropped from a message, as transformers does.
    messages = [{"role": "user", "content": "Hi", "tool_calls": None}]
    _assert_renders_like(chat, tokenizer, messages, eos_token="<END>",
                         add_generation_prompt=True)


def test_reads_back_a_saved_tokenizer(hf, tmp_path):
    name, tokenizer = hf
    tokenizer.save_pretrained(tmp_path)
    chat = read_chat_template(tmp_path)
    assert chat.special_tokens == tokenizer.special_tokens_map
    for messages in CONVERSATIONS[:3]:
        _assert_renders_like(chat, tokenizer, messages,
                             add_generation_prompt=True)
    assert (end_of_turn(chat) == chat.end_of_turn()
            == chat.end_of_turn_text() == END_OF_TURN[name])


def _write_tokenizer_config(folder, **entries):
    (folder / "tokenizer_config.json").write_text(json.dumps(entries),
                                                  encoding="utf-8")


def test_reads_tokenizer_config_forms(tmp_path):
    """A template in tokenizer_config.json (a string, or named templates with
    "default"), and tokens saved as AddedToken dicts, read as transformers
    reads them."""
    from transformers import PreTrainedTokenizerFast

    _hf_tokenizer("mistral").save_pretrained(tmp_path)
    os.remove(tmp_path / "chat_template.jinja")
    eos = {"__type": "AddedToken", "content": "</s>", "lstrip": False,
           "normalized": False, "rstrip": False, "single_word": False,
           "special": True}
    for template in (MISTRAL, [{"name": "default", "template": MISTRAL},
                               {"name": "other", "template": "{{ x }}"}]):
        _write_tokenizer_config(tmp_path, chat_template=template,
                                bos_token="<s>", eos_token=eos, pad_token=None)
        chat = read_chat_template(tmp_path)
        assert chat.special_tokens == {"bos_token": "<s>", "eos_token": "</s>"}
        reloaded = PreTrainedTokenizerFast.from_pretrained(tmp_path)
        messages = CONVERSATIONS[2][:2]
        assert chat.render(messages) == reloaded.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True)
        assert chat.end_of_turn_text() == "</s>"


def test_chat_template_jinja_wins_and_missing_template(tmp_path):
    _write_tokenizer_config(tmp_path, chat_template="config {{ eos_token }}",
                            eos_token="E")
    (tmp_path / "chat_template.jinja").write_text("file {{ eos_token }}",
                                                  encoding="utf-8")
    assert read_chat_template(tmp_path).render([_m("user", "x")]) == "file E"
    os.remove(tmp_path / "chat_template.jinja")
    assert read_chat_template(tmp_path).render([_m("user", "x")]) == "config E"
    _write_tokenizer_config(tmp_path, eos_token="E")
    assert read_chat_template(tmp_path) is None
    _write_tokenizer_config(tmp_path, chat_template=[{"name": "rag",
                                                      "template": "x"}])
    with pytest.raises(KerasLMError, match="none named 'default'"):
        read_chat_template(tmp_path)


def test_end_of_turn_edge_cases():
    # A template that needs a system message first.
    needs_system = ("{% if messages[0].role != 'system' %}"
                    "{{ raise_exception('system first') }}{% endif %}"
                    "{% for m in messages %}{{ m.content }}<|end|>\n{% endfor %}")
    assert end_of_turn(ChatTemplate(needs_system)) == "<|end|>"
    # Nothing after the assistant's text, or only the template's closing text
    # (which is not what ends a turn mid-conversation).
    plain = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
    assert end_of_turn(ChatTemplate(plain)) is None
    assert end_of_turn(ChatTemplate(plain + "(end)")) is None
    # Two tokens written together: the special token, or the first <...>.
    joined = "{% for m in messages %}{{ m.content }}<|e|><|x|>{% endfor %}"
    assert end_of_turn(ChatTemplate(joined)) == "<|e|>"
    assert end_of_turn(ChatTemplate(joined, {"eos_token": "<|e|><|x|>"})) \
        == "<|e|><|x|>"
    # A template that refuses every conversation.
    assert end_of_turn(ChatTemplate("{{ raise_exception('no') }}")) is None


@pytest.mark.parametrize("messages, match", [
    ([], "non-empty list"),
    ("hi", "non-empty list"),
    (["hi"], "message 1 must be an object"),
    ([{"content": "hi"}], 'message 1 needs a "role"'),
    ([_m("user", "hi"), _m("bot", "hi")],
     "message 2 has unknown role 'bot'; allowed roles: system, user, "
     "assistant, tool"),
    ([{"role": "user", "content": None}], 'message 1 \\(user\\) needs a "content"'),
])
def test_bad_messages(messages, match):
    with pytest.raises(KerasLMError, match=match) as info:
        ChatTemplate(LLAMA3).render(messages)
    assert "\n" not in str(info.value)


def test_template_errors_are_one_line():
    mistral = ChatTemplate(MISTRAL, SPECIALS["mistral"])
    with pytest.raises(KerasLMError) as info:
        mistral.render([_m("system", "x"), _m("user", "y")])
    assert str(info.value) == ("the chat template failed to render: "
                               "System role not supported")
    for source, match in [
            ("{{ messages[0].content.nope.deeper }}",
             "has no attribute 'nope'"),
            ("{% set ns = namespace(_x=1) %}", "'_x'"),
            ("{{ messages.append(1) }}",
             "attribute 'append' of 'list' object is unsafe"),
            ("{{ 1 / 0 }}", "ZeroDivisionError")]:
        with pytest.raises(KerasLMError, match=match) as info:
            ChatTemplate(source).render([_m("user", "x")])
        assert "\n" not in str(info.value)
    with pytest.raises(KerasLMError, match="not valid Jinja.*line 2"):
        ChatTemplate("ok\n{% for %}")
    with pytest.raises(KerasLMError, match="non-empty string"):
        ChatTemplate("")


def test_parse_messages():
    messages = [_m("user", "Hi \u00e9")]
    assert parse_messages(json.dumps(messages)) == messages
    assert parse_messages(json.dumps(messages).encode()) == messages
    assert parse_messages(tuple(messages)) == messages
    with pytest.raises(KerasLMError, match="not valid JSON") as info:
        parse_messages('[{"role": "user",\n "content": ')
    assert "\n" not in str(info.value)
    with pytest.raises(KerasLMError, match="unknown role 'robot'"):
        parse_messages('[{"role": "robot", "content": "x"}]')
    with pytest.raises(KerasLMError, match="non-empty list"):
        parse_messages('{"role": "user", "content": "x"}')


def test_config_round_trip():
    chat = ChatTemplate(LLAMA3, SPECIALS["llama3"])
    config = json.loads(json.dumps(chat.get_config()))
    again = ChatTemplate.from_config(config)
    assert again.get_config() == chat.get_config()
    assert again.render(CONVERSATIONS[2]) == chat.render(CONVERSATIONS[2])
    with pytest.raises(KerasLMError, match="'template' entry"):
        ChatTemplate.from_config({"special_tokens": {}})
    with pytest.raises(KerasLMError, match="special token 'eos_token'"):
        ChatTemplate(LLAMA3, {"eos_token": 7})
