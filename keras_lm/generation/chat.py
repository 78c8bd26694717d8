"""Chat: a conversation rendered by the checkpoint's own chat template,
continued by the model until it ends its turn.

    chat = Chat(model, tokenizer, template)
    reply = chat.reply([{"role": "user", "content": "Hi!"}])
    for piece in chat.stream([{"role": "user", "content": "Hi!"}]):
        print(piece, end="", flush=True)

The template (`keras_lm.tokenizers.chat_template.ChatTemplate`) renders the
messages with `add_generation_prompt=True`, as transformers'
`apply_chat_template` does; the text is encoded without the tokenizer's
`prefix_ids` (a template writes its `bos_token` itself), and generation stops at
the template's end-of-turn token as well as the tokenizer's stop ids.

A conversation longer than the context loses its oldest messages (after a
leading system message), whole and a user message with the reply to it,
until it fits with room for the reply;
`Chat.dropped` says how many were cut, and one that still does not fit is
refused in one line.
"""

import json
import os

from keras_lm.errors import KerasLMError
from keras_lm.generation.streaming import CHUNK_TOKENS, stream_text
from keras_lm.generation.text import (check_sampling_args, completion_text,
                                      cut_at_stop)


class Chat:
    """Replies to conversations with a causal LM and a chat template.

    Args:
        model: a `CausalLM` (`TransformerLM` of an imported checkpoint).
        tokenizer: its tokenizer.
        template: a `ChatTemplate`.
        stop_token_ids: ids that end a reply, besides the template's end of
            turn (None: the tokenizer's `default_stop_ids()`).
        sampling: default `temperature`, `top_k`, `top_p` (a checkpoint's
            generation_config.json); greedy when empty.
    """

    def __init__(self, model, tokenizer, template, stop_token_ids=None,
                 sampling=None):
        self.model, self.tokenizer, self.template = model, tokenizer, template
        stops = (tokenizer.default_stop_ids() if stop_token_ids is None
                 else list(stop_token_ids))
        end_of_turn = template.end_of_turn()
        if end_of_turn is not None:
            end_id = tokenizer.stop_id(end_of_turn)
            stops += [end_id] if end_id not in stops else []
        self.stop_token_ids = stops
        self.sampling = {"temperature": 0.0, **(sampling or {})}
        self.dropped = 0

    def prompt_ids(self, messages, max_new_tokens):
        """`(text, ids)` of the rendered conversation, cut to fit the
        context with `max_new_tokens` to spare (see the module)."""
        messages = list(messages)
        context = self.model.max_sequence_length
        first = 1 if messages and messages[0].get("role") == "system" else 0
        self.dropped = 0
        while True:
            text = self.template.render(messages, add_generation_prompt=True)
            ids = self.tokenizer.encode(text)
            if context is None or len(ids) + max_new_tokens <= context:
                return text, ids
            if len(messages) - first <= 1:
                raise KerasLMError(
                    f"the conversation is {len(ids)} tokens and the reply "
                    f"may take {max_new_tokens}, more than the model's "
                    f"context of {context}; shorten the last message or ask "
                    "for fewer new tokens")
            # A user message goes with the reply to it, so a template that
            # wants user and assistant to alternate (Mistral) still renders.
            pair = 2 if (len(messages) - first > 2 and messages[first + 1]
                         .get("role") == "assistant") else 1
            del messages[first:first + pair]
            self.dropped += pair

    def _options(self, max_new_tokens, options):
        options = {**self.sampling, **options}
        check_sampling_args(max_new_tokens, options.get("temperature", 1.0),
                            options.get("top_k", 0), options.get("top_p", 1.0),
                            options.get("seed", 0))
        return options

    def stream(self, messages, max_new_tokens=256, chunk_tokens=CHUNK_TOKENS,
               **options):
        """Yields the reply's text piece by piece (`stream_text`)."""
        options = self._options(max_new_tokens, options)
        text, ids = self.prompt_ids(messages, max_new_tokens)
        yield from stream_text(self.model, self.tokenizer, text, ids,
                               max_new_tokens,
                               stop_token_ids=self.stop_token_ids,
                               chunk_tokens=chunk_tokens, **options)

    def reply(self, messages, max_new_tokens=256, **options):
        """The whole reply to `messages`, in one compiled call.

        `options`: `temperature`, `top_k`, `top_p`, `seed` (by default the
        checkpoint's sampling settings, else greedy).
        """
        from keras_lm.generation.loop import generate_ids

        options = self._options(max_new_tokens, options)
        text, ids = self.prompt_ids(messages, max_new_tokens)
        new = generate_ids(self.model, [ids], [len(ids)], max_new_tokens,
                           stop_token_ids=self.stop_token_ids,
                           **options).numpy()[0].tolist()
        return completion_text(self.tokenizer, text, ids,
                               cut_at_stop(new, self.stop_token_ids))


#: Where an export keeps its chat template (see `write_chat_asset`).
CHAT_ASSET = os.path.join("assets", "chat_template.json")


def run_chat_settings(config):
    """`(chat_template, sampling)` of a run's config.json ("generation",
    which an imported checkpoint's run has); `(None, {})` without one."""
    from keras_lm.tokenizers.chat_template import ChatTemplate

    generation = config.get("generation") or {}
    template = generation.get("chat_template")
    return ((None if template is None else ChatTemplate.from_config(template)),
            dict(generation.get("sampling") or {}))


def chat_asset(template):
    """What a server needs to chat with an export, as JSON: the Jinja
    `template` and its `special_tokens` (render with jinja2 and
    `add_generation_prompt=True`; pass the text to the `chat` signature)
    and the `end_of_turn` token, where `chat` stops."""
    return {"template": template.template,
            "special_tokens": dict(template.special_tokens),
            "end_of_turn": template.end_of_turn()}


def read_chat_asset(saved_model_dir):
    """The `chat_asset` an export holds, or None."""
    path = os.path.join(saved_model_dir, CHAT_ASSET)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
