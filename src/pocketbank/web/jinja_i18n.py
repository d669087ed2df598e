"""``_("literal")`` in a template is translated once, when the template is compiled, rather than at every render.

Each language has its own Jinja2 environment (``render.environment``), so the translation of a constant string is
fixed for every template that environment compiles. At render time the i18n extension's newstyle ``gettext`` costs
~6 us a call (three context calls, a Markup, a ``%`` format), and a page has 20 to 50 of them.
``ConstantGettext`` rewrites the tokens ``_ ( "literal" )`` to ``( "translated" | safe )``: exactly the value the
newstyle ``gettext`` returns with autoescaping on (``Markup(gettext(literal)) % {}``), which Jinja2 folds into a
constant. Calls with variables (``_("Hello, %(name)s", name=...)``) or with anything but one string literal are left
to the runtime ``gettext``, and so is every call in a template rendered without autoescaping (where ``gettext``
returns a plain string) or with an ``{% autoescape %}`` block.
"""

from __future__ import annotations

import gettext
import itertools
from collections.abc import Iterable, Iterator

from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

TRANSLATIONS_ATTRIBUTE = "constant_gettext_translations"  # set with ``env.extend(...)`` by whoever installs them


class ConstantGettext(Extension):
    def filter_stream(self, stream: TokenStream) -> Iterable[Token]:
        translations: gettext.NullTranslations | None = getattr(self.environment, TRANSLATIONS_ATTRIBUTE, None)
        autoescape = self.environment.autoescape
        escaped = autoescape(stream.name) if callable(autoescape) else bool(autoescape)
        tokens = list(stream)
        if translations is None or not escaped or _has_autoescape_block(tokens):
            return tokens
        return _fold(tokens, translations)


def _has_autoescape_block(tokens: list[Token]) -> bool:
    return any(
        a.type == "block_begin" and b.type == "name" and b.value == "autoescape" for a, b in itertools.pairwise(tokens)
    )


def _fold(tokens: list[Token], translations: gettext.NullTranslations) -> Iterator[Token]:
    i, previous = 0, ""
    while i < len(tokens):
        t = tokens[i]
        text = _constant(tokens[i + 1 : i + 4], translations) if t.test("name:_") and previous != "dot" else None
        if text is None:  # anything but ``_("literal")`` (``x._(...)`` is an attribute, not the function)
            yield t
            i, previous = i + 1, t.type
            continue
        for kind, value in (("lparen", "("), ("string", text), ("pipe", "|"), ("name", "safe"), ("rparen", ")")):
            yield Token(t.lineno, kind, value)
        i, previous = i + 4, "rparen"


def _constant(call: list[Token], translations: gettext.NullTranslations) -> str | None:
    """What the newstyle ``gettext`` returns for ``( "literal" )``, or None for any other call."""
    if [c.type for c in call] != ["lparen", "string", "rparen"]:
        return None
    try:
        return str(translations.gettext(call[1].value)) % {}  # the same text as Markup(...) % {}: no arguments
    except (KeyError, TypeError, ValueError):  # e.g. a placeholder without its variable: left to fail when rendered
        return None
