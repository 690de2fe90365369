"""The tokenizer shared by filter strings and ``order_by`` clauses.

MLflow parses searches with ``sqlparse``, a general SQL tokenizer, and then checks the pieces; we tokenize
only what the search grammar needs, so every stray character is reported where it is:

- ``WORD``: a bare name or keyword, ``[\\w$#]+`` (``metrics``, ``AND``, ``1st`` after a dot);
- ``NUMBER``: ``-1``, ``0.5``, ``.5``, ``1.``, ``1e-3``; a number running into letters (``1AND``) is an error;
- ``STRING`` ``'...'``, ``DQUOTED`` ``"..."``, ``BACKTICK`` ``\\`...\\```: the text between the quotes is
  taken as is, as MLflow does (``'it''s'`` is the five characters ``it''s``); a doubled quote or a
  backslash-escaped quote does not end the literal;
- ``DOT``, ``OP`` (``= != < <= > >=``), ``LPAREN``, ``RPAREN``, ``COMMA``, and ``END``.

A ``.`` directly after a name (no space) is always a ``DOT`` and the name part after it is always a
``WORD``, so ``metrics.5`` is the metric ``5``, while ``> .5`` is a number.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from asynctrack.exceptions import INVALID_PARAMETER_VALUE, MlflowException

__all__ = ["Kind", "Token", "invalid", "tokenize", "unexpected"]


class Kind(enum.Enum):
    WORD = "name"
    NUMBER = "number"
    STRING = "string"
    DQUOTED = "double-quoted name or string"
    BACKTICK = "backticked name"
    DOT = "'.'"
    OP = "comparator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    END = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its source text, its value (quotes removed), its 0-based offset, and whether it
    touches the previous token (identifiers must not contain spaces)."""

    kind: Kind
    text: str
    value: str
    pos: int
    glued: bool


_QUOTES = {"'": Kind.STRING, '"': Kind.DQUOTED, "`": Kind.BACKTICK}
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[\w$#]+")
_WORD_CHAR = re.compile(r"[\w$#.]")
_OPS = ("<=", ">=", "!=", "=", "<", ">")
_PUNCT = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}


def invalid(message: str) -> MlflowException:
    """An INVALID_PARAMETER_VALUE error, the only kind a bad search raises."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def unexpected(what: str, source: str, text: str, pos: int, hint: str = "") -> MlflowException:
    """``Invalid <what> '<source>': unexpected '<text>' at position <n>`` (1-based, as an editor counts)."""
    shown = "end of input" if not text else repr(text)
    return invalid(f"Invalid {what} {source!r}: unexpected {shown} at position {pos + 1}{hint}")


def _quoted(source: str, start: int, what: str) -> tuple[int, str]:
    """End offset and inner text of the literal opening at ``start``."""
    quote = source[start]
    i = start + 1
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "\\" and quote != "`" and i + 1 < n:
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and source[i + 1] == quote:
                i += 2
                continue
            return i + 1, source[start + 1 : i]
        i += 1
    raise invalid(
        f"Invalid {what} {source!r}: unterminated {_QUOTES[quote].value} starting at position {start + 1}"
    )


def tokenize(source: str, what: str = "filter") -> list[Token]:
    """The tokens of ``source``, ending with an ``END`` token; ``what`` names the input in errors."""
    if not isinstance(source, str):  # every search's filter and order_by passes here: one check for all
        raise invalid(f"Invalid {what} {source!r}: it must be a string, not {type(source).__name__}")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise invalid(f"Invalid {what}: it is not valid Unicode text ({exc.reason})") from None
    tokens: list[Token] = []
    i = 0
    n = len(source)
    glued = False
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
            glued = False
            continue
        prev = tokens[-1] if tokens else None
        after_name = glued and prev is not None and prev.kind in (Kind.WORD, Kind.DQUOTED, Kind.BACKTICK)
        if ch in _QUOTES:
            end, inner = _quoted(source, i, what)
            tokens.append(Token(_QUOTES[ch], source[i:end], inner, i, glued))
            i = end
        elif ch == "." and after_name:
            tokens.append(Token(Kind.DOT, ".", ".", i, True))
            i += 1
        elif prev is not None and prev.kind is Kind.DOT and glued and _WORD.match(source, i):
            m = _WORD.match(source, i)
            assert m is not None
            tokens.append(Token(Kind.WORD, m.group(), m.group(), i, True))
            i = m.end()
        elif (m := _NUMBER.match(source, i)) is not None:
            if m.end() < n and _WORD_CHAR.match(source, m.end()):
                bad = re.compile(r"[-\w$#.]+").match(source, i)
                assert bad is not None
                raise unexpected(what, source, bad.group(), i)
            tokens.append(Token(Kind.NUMBER, m.group(), m.group(), i, glued))
            i = m.end()
        elif (m := _WORD.match(source, i)) is not None:
            tokens.append(Token(Kind.WORD, m.group(), m.group(), i, glued))
            i = m.end()
        elif (op := next((o for o in _OPS if source.startswith(o, i)), None)) is not None:
            tokens.append(Token(Kind.OP, op, op, i, glued))
            i += len(op)
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, ch, i, glued))
            i += 1
        else:
            raise unexpected(what, source, ch, i)
        glued = True
    tokens.append(Token(Kind.END, "", "", n, glued))
    return tokens
