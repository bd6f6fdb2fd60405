"""Text as people type it, Chinese input methods included.

- ``half_width``: codes and numbers (phones, e-mails, product codes, currency codes, references) typed
  full-width (``０２１－６１２３　４５６７``) become the ASCII form (``021-6123 4567``) before they are
  validated and stored. NFKC does it; runs of whitespace (the ideographic space among them) become one space.
- ``find_mentions``: the one @handle grammar, for comments and meeting minutes alike.
- ``handle_keys``: the handles a person answers to.

The handle grammar. An ``@`` starts a mention unless a Latin letter, digit or ``@`` comes right before it
(``ops@rep2`` is an e-mail address, ``请@manager`` is a mention). Then either

- a Latin handle: letters, digits, ``_ + -``, dots between them, and an optional ``@domain.tld``. It ends at
  the first character that cannot be part of it, so CJK text right after it ends it:
  ``@manager请审批`` names ``manager``, ``@rep2.`` names ``rep2``; or
- a display name in another script (``@张伟请看``): the longest of the known names the text starts with
  (``张伟``, not ``张``, when both exist). When no known name fits, the run of word characters
  (``@某人请看`` → ``某人请看``): a handle nobody answers to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

_CJK = (
    "\u2e80-\u2fdf"  # radicals
    "\u3005-\u3007\u3021-\u3029"  # 々 〆 〇, Suzhou numerals
    "\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff"  # kana, bopomofo
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # Han
    "\uac00-\ud7af"  # Hangul
    "\U00020000-\U0003ffff"  # Han, supplementary planes
)
_LATIN = rf"[^\W{_CJK}]"
"""A word character of an alphabetic script: letters (full-width ones too), digits, underscore."""
_LATIN_PART = rf"(?:{_LATIN}|[+\-])+"
_LATIN_HANDLE = re.compile(
    rf"{_LATIN_PART}(?:\.{_LATIN_PART})*(?:[@＠](?:{_LATIN}|-)+(?:\.(?:{_LATIN}|-)+)+)?")
_AT = re.compile(rf"(?<!{_LATIN})(?<![@＠])[@＠]")
_WORD_RUN = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")
_NOTE = re.compile(r"\s*[(（].*$")


def half_width(value: str | None) -> str | None:
    """``value`` in NFKC with its whitespace runs made one space: the form codes and numbers are stored in."""
    if value is None:
        return None
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value))


def text_key(value: str) -> str:
    """How two texts people typed are compared for sameness: NFKC (full-width letters, digits and punctuation
    as their half-width forms), whitespace runs as one space, trimmed, case folded (``ＥＭＥＡ　`` is ``emea``)."""
    return (half_width(value) or "").strip().casefold()


def handle_key(handle: str) -> str:
    """How a handle is looked up: NFKC, lower case (``＠ＲＥＰ２`` finds ``rep2``)."""
    return unicodedata.normalize("NFKC", handle).lower()


def handle_keys(email: str, name: str) -> set[str]:
    """A person answers to their e-mail, its local part, their name without spaces, and that name without a
    bracketed note (``王经理 (Sales Manager)`` → ``王经理``)."""
    email, name = handle_key(email), handle_key(name)
    keys = {email, email.split("@", 1)[0], name.replace(" ", ""), _NOTE.sub("", name).replace(" ", "")}
    return {k for k in keys if k}


@dataclass(frozen=True)
class Mention:
    handle: str
    """As written, e.g. ``manager`` or ``张伟``; look it up with ``handle_key``."""
    start: int
    """Where the ``@`` is."""
    end: int


def find_mentions(text: str, names: Iterable[str] = ()) -> list[Mention]:
    """The @mentions in ``text``, in order. ``names`` are the known handles (lower case, as ``handle_keys``
    makes them); they decide where a handle in a non-Latin script ends."""
    known = sorted({n for n in names if n}, key=len, reverse=True)
    mentions: list[Mention] = []
    end = 0
    for at in _AT.finditer(text):
        if at.start() < end:
            continue  # the @ of an e-mail address already taken as a handle
        start = at.end()
        latin = _LATIN_HANDLE.match(text, start)
        if latin:
            end = latin.end()
        else:
            name = next((n for n in known if handle_key(text[start:start + len(n)]) == n), None)
            run = _WORD_RUN.match(text, start)
            if name:
                end = start + len(name)
            elif run:
                end = run.end()
            else:
                continue
        mentions.append(Mention(text[start:end], at.start(), end))
    return mentions
