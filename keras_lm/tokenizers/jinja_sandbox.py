"""The Jinja sandbox chat templates render in: transformers' settings,
filters and globals (`raise_exception`, `strftime_now`, `tojson`, `dict`,
`namespace`), with its hardening, since Hub templates are untrusted code."""

import datetime
import functools
import json
import re

import jinja2
import jinja2.ext
import jinja2.sandbox

from keras_lm.errors import KerasLMError


def _raise_exception(message):
    # Templates call raise_exception("...") to refuse a conversation.
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None,
            sort_keys=False):
    # Jinja's own tojson escapes <, >, & and ' for HTML, and keeps no
    # non-ASCII text: neither belongs in a prompt (transformers' filter).
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def _strftime_now(format):
    return datetime.datetime.now().strftime(format)


class _Namespace(jinja2.utils.Namespace):
    """Jinja's `namespace()`, refusing names that start with "_", which could
    reach Python's internals (transformers' sandbox hardening)."""

    def __init__(*args, **kwargs):  # `namespace(self=...)` must still work
        self, attributes = args[0], dict(*args[1:], **kwargs)
        for name in attributes:
            _check_namespace_name(name)
        jinja2.utils.Namespace.__init__(self, attributes)

    def __setitem__(self, name, value):
        _check_namespace_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)


def _check_namespace_name(name):
    if isinstance(name, str) and name.startswith("_"):
        raise jinja2.exceptions.SecurityError(
            f"a chat template may not store {name!r} on a namespace; names "
            "starting with '_' are refused")


class _Dict:
    """`dict(...)` and `dict.fromkeys(...)` for templates, without handing
    them the `dict` type itself."""

    def __call__(self, *args, **kwargs):
        return dict(*args, **kwargs)

    def fromkeys(self, *args, **kwargs):
        return dict.fromkeys(*args, **kwargs)


#: Older jinja2 releases have known sandbox escapes (transformers refuses
#: them too), and chat templates from the Hub are untrusted code.
_JINJA2_SAFE = (3, 1, 6)


@functools.lru_cache(maxsize=None)
def _environment():
    version = tuple(int(part) for part
                    in re.findall(r"\d+", jinja2.__version__)[:3])
    if version < _JINJA2_SAFE:
        raise KerasLMError(f"chat templates need jinja2 3.1.6 or newer, found "
                           f"{jinja2.__version__}; run pip install -U jinja2")
    # The settings transformers renders with: blocks eat their own newline and
    # indentation, and {% break %} / {% continue %} are allowed.
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols])
    environment.filters["tojson"] = _tojson
    environment.globals.update(raise_exception=_raise_exception,
                               strftime_now=_strftime_now, dict=_Dict(),
                               namespace=_Namespace)
    return environment


@functools.lru_cache(maxsize=32)
def compile_template(template):
    """`template` compiled in the sandbox, or a one-line error."""
    try:
        return _environment().from_string(template)
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise KerasLMError(f"the chat template is not valid Jinja: "
                           f"{one_line(e)} (line {e.lineno}); fix the "
                           "template or load another checkpoint") from None


def one_line(error):
    """A template error as one line of text."""
    text = str(error) if str(error) else type(error).__name__
    if not isinstance(error, (jinja2.exceptions.TemplateError, ValueError)):
        text = f"{type(error).__name__}: {text}"
    return " ".join(text.split())
