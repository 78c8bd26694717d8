"""`keras-lm chat SOURCE`: talk to a chat checkpoint (an imported run, or a
Hugging Face Llama, Qwen2 or Mistral folder with a chat template).

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
    from keras_lm.generation.chat import Chat
    from keras_lm.pipelines import TextGenerationPipeline

    pipe = TextGenerationPipeline(args.source)
    if pipe.source == "saved_model":
        from keras_lm.errors import KerasLMError

        raise KerasLMError(f"{args.source} is a SavedModel; chat with the run "
                           "or checkpoint it came from (a SavedModel's "
                           "template is applied by its server, see README)")
    if pipe.chat_template is None:
        from keras_lm.errors import KerasLMError

        raise KerasLMError(f"{args.source} has no chat template; use "
                           "`keras-lm generate` to continue plain text")
    chat = Chat(pipe.model, pipe.tokenizer, pipe.chat_template,
                sampling=pipe.sampling)
    options = flags.given(args, ("temperature", "top_k", "top_p", "seed"))
    system = ([{"role": "system", "content": args.system}]
              if args.system else [])
    messages = list(system)
    for text in (args.message or _typed_messages()):
        if text == "/reset":
            messages = list(system)
            continue
        messages.append({"role": "user", "content": text})
        reply = ""
        for piece in chat.stream(messages, args.max_new_tokens,
                                 chunk_tokens=args.chunk_tokens, **options):
            reply += piece
            print(piece, end="", flush=True)
        print(flush=True)
        if chat.dropped:
            print(f"keras-lm: the {chat.dropped} oldest message(s) did not "
                  "fit the context and were left out", file=sys.stderr)
        messages.append({"role": "assistant", "content": reply})


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
