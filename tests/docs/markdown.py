"""The code blocks of the documentation: README.md and docs/**/*.md, as tests/docs runs them.

A block is a fenced block (```lang ... ```). Two conventions mark how it is tested:

- A visible one, for readers too: a block whose first line is a comment starting with
  `# fragment:` is a deliberate fragment (signatures, a piece of a larger program) and is not
  run. Every other Python block is run.
- Hidden ones, HTML comments on the line right above the fence, that only the tests read:
  `<!-- test: output -->` (this block is what the command above prints: compared),
  `<!-- test: skip REASON -->` (a shell block left out, with the reason; not for Python), and
  `<!-- test: setup` ... `-->` (Python run before the block, in its namespace, unseen); and
  on the line right below the closing fence, `<!-- test: check` ... `-->` (Python run after
  the block, in its namespace: asserts what the block should have done).
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]
FRAGMENT = "# fragment:"
SHELLS = frozenset({"sh", "bash", "shell", "console"})
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)(?P<info>.*)$")
_DIRECTIVE = re.compile(
    r"<!-- test: (?P<word>output|skip|setup|check)\b(?P<rest>.*?)-->", re.DOTALL
)


@attrs.frozen(kw_only=True)
class Block:
    path: str  # relative to the repository
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    directive: str | None = None  # output, skip or setup
    argument: str = ""  # the skip's reason, or the setup's code
    check: str = ""  # code from the check below the block
    comments: tuple[int, ...] = ()  # the lines where the directive and the check start

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def fragment(self) -> bool:
        return self.text.startswith(FRAGMENT)

    @property
    def file(self) -> str | None:
        """The file this block is, for a block that starts with `# name.py`."""
        first = self.text.split("\n", 1)[0]
        found = re.fullmatch(r"# ([\w/]+\.py)", first)
        return found.group(1) if found else None


def pages() -> list[str]:
    """Every page: README.md and docs/**/*.md, relative to the repository."""
    docs = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "docs").rglob("*.md"))
    return ["README.md", *docs]


def blocks(page: str) -> list[Block]:
    """The fenced blocks of a page, in order, with the directive above each."""
    lines = (ROOT / page).read_text().split("\n")
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent = len(fence.group("indent"))
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        directive, argument, above = _directive(lines, start)
        check_word, check, below = _below(lines, index + 1)
        found.append(
            Block(
                path=page,
                line=start + 1,
                lang=fence.group("lang"),
                text="\n".join(body) + "\n",
                directive=directive,
                argument=argument,
                check=check if check_word == "check" else "",
                comments=(
                    *([above + 1] if directive is not None else []),
                    *([below + 1] if check_word == "check" else []),
                ),
            )
        )
        index += 1
    return found


def _directive(lines: list[str], fence: int) -> tuple[str | None, str, int]:
    """The `<!-- test: ... -->` comment ending on the line above the fence, if any, and the
    (0-based) line it starts on."""
    end = fence - 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None, "", -1
    start = end
    while start > 0 and "<!--" not in lines[start]:
        start -= 1
    return (*_parse("\n".join(lines[start : end + 1])), start)


def _below(lines: list[str], start: int) -> tuple[str | None, str, int]:
    """The `<!-- test: ... -->` comment starting on the line below the closing fence."""
    if start >= len(lines) or not lines[start].startswith("<!-- test:"):
        return None, "", -1
    end = start
    while end < len(lines) - 1 and "-->" not in lines[end]:
        end += 1
    return (*_parse("\n".join(lines[start : end + 1])), start)


def _parse(comment: str) -> tuple[str | None, str]:
    found = _DIRECTIVE.fullmatch(comment.strip())
    if found is None:
        return None, ""
    rest = found.group("rest")
    if found.group("word") in ("setup", "check"):
        return found.group("word"), rest.strip("\n")
    return found.group("word"), rest.strip()
