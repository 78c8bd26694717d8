"""`keras-lm chat SOURCE`: talk to a chat checkpoint (an imported run, a
Hugging Face Llama, Qwen2 or Mistral folder with a chat template, or a
SavedModel exported from such a run, whose replies come whole).

    keras-lm chat runs/smollm2 --system "You are terse."
    > What is the capital of France?
    Paris.
    > /reset

Each line you type is a user message; the reply streams as it is generated
(`keras_lm.generation.chat.Chat.stream`) and joins the conversation, so the
next message is answered in context. `/reset` starts a new conversation; an
empty line or end of input ends the session. `--message` (repeatable) runs
the same without a prompt, for scripts.
"""

import sys

from keras_lm.cli import flags


def add_parser(commands):
    parser = commands.add_parser(
        "chat", help="chat with an imported chat model, streaming replies")
    parser.add_argument("source", help="run directory of an imported "
                                       "checkpoint, or a Hugging Face folder")
    parser.add_argument("--system", help="a system message that opens the "
                                         "conversation")
    parser.add_argument("--message", action="append",
                        help="a user message to answer without prompting "
                             "(repeat for several turns)")
    parser.add_argument("--max-new-tokens", type=int, default=256,
                        help="longest reply, in tokens (default 256)")
    parser.add_argument("--chunk-tokens", type=int, default=16,
                        help="tokens generated per streamed piece "
                             "(default 16; each piece costs one prefill)")
    flags.add_sampling(parser, "the reply's")
    return parser


def run(args):
    from keras_lm.pipelines import TextGenerationPipeline

    pipe = TextGenerationPipeline(args.source)
    respond = (_export_replies(pipe, args) if pipe.source == "saved_model"
               else _streamed_replies(pipe, args))
    system = ([{"role": "system", "content": args.system}]
              if args.system else [])
    messages = list(system)
    for text in (args.message or _typed_messages()):
        if text == "/reset":
            messages = list(system)
            continue
        messages.append({"role": "user", "content": text})
        reply = ""
        for piece in respond(messages):
            reply += piece
            print(piece, end="", flush=True)
        print(flush=True)
        messages.append({"role": "assistant", "content": reply})


def _streamed_replies(pipe, args):
    """`respond(messages)`: the reply's pieces as the model makes them."""
    from keras_lm.errors import KerasLMError
    from keras_lm.generation.chat import Chat

    if pipe.chat_template is None:
        raise KerasLMError(f"{args.source} has no chat template; use "
                           "`keras-lm generate` to continue plain text")
    chat = Chat(pipe.model, pipe.tokenizer, pipe.chat_template,
                sampling=pipe.sampling)
    options = flags.given(args, ("temperature", "top_k", "top_p", "seed"))

    def respond(messages):
        yield from chat.stream(messages, args.max_new_tokens,
                               chunk_tokens=args.chunk_tokens, **options)
        if chat.dropped:
            print(f"\nkeras-lm: the {chat.dropped} oldest message(s) did not "
                  "fit the context and were left out", file=sys.stderr)
    return respond


def _export_replies(pipe, args):
    """`respond(messages)`: a SavedModel's whole reply (its `chat`
    signature runs the loop in one call, so nothing streams)."""
    options = flags.given(args, ("temperature", "top_k", "top_p", "seed"))

    def respond(messages):
        out = pipe(messages, max_new_tokens=args.max_new_tokens, **options)
        yield out[0]["generated_text"][-1]["content"]
    return respond


def _typed_messages():
    """Lines typed at a "> " prompt, until an empty line or end of input."""
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line or not line.strip():
            return
        yield line.rstrip("\n")
