"""The documentation site builds strictly: every nav entry, link, anchor and API reference
resolves, with no warning, and the API reference shows public names only."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REFERENCE_PAGES = [
    "reference",
    "reference/enqueueing",
    "reference/worker",
    "reference/retries",
    "reference/stores",
    "reference/stores/postgresql",
    "reference/stores/mysql",
    "reference/stores/sqlite",
    "reference/stores/redis",
    "reference/stores/memory",
    "reference/stores/null",
    "reference/components",
    "reference/errors",
    "reference/testing",
    "reference/integrations",
    "reference/ports",
]
# A private name in the rendered text: an internal note or attribute leaking into the reference.
PRIVATE_NAME = re.compile(r"(?<![\w.])_[a-z]\w*")


def _article_text(page: Path) -> str:
    """The text of a page's main article, without markup."""
    content = page.read_text()
    article = content[content.index("<article") : content.index("</article>")]
    return html.unescape(re.sub(r"<[^>]+>", " ", article))


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict` exits 0 and reports no warning, signatures are formatted (a
    formatter is installed), and each API reference page is a page of its own, with no
    private name on it."""
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert "Formatting signatures requires" not in output, output
    assert (site / "changelog" / "index.html").exists()
    for name in REFERENCE_PAGES:
        page = site / name / "index.html"
        assert page.exists(), name
        # One page per area: the single reference page this replaced was 540 KB.
        assert page.stat().st_size < 200_000, (name, page.stat().st_size)
        private = sorted(set(PRIVATE_NAME.findall(_article_text(page))))
        assert not private, (name, private)
