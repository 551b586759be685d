"""Text as every store can keep it."""

from __future__ import annotations


def storable(text: str, limit: int) -> str:
    """`text` with what a database refuses escaped, at most `limit` characters long.

    PostgreSQL refuses NUL in text and every database refuses lone surrogates (which no UTF-8
    can encode): both are written as visible backslash escapes. Text over `limit` keeps its
    beginning and its end, the end being where a traceback names the error, with a note of how
    much was cut between them.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return text
    # The note's length is bounded with the widest count it could hold, so the result fits.
    keep = max(limit - len(_cut_note(len(text))), 0)
    head = keep // 4
    return text[:head] + _cut_note(len(text) - keep) + text[len(text) - (keep - head) :]


def _cut_note(count: int) -> str:
    return f"\n[... {count} characters cut ...]\n"
