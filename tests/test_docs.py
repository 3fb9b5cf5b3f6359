"""The README and the documents it links to: every relative link reaches its file and heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
_LINK = re.compile(r"\[[^\]]*\]\(\s*([^)\s]+)\s*\)")


def _slug(heading: str) -> str:
    """The anchor a Markdown renderer such as GitHub's gives a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.S)
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # an address on the web
        file_part, _, anchor = target.partition("#")
        path = (document.parent / file_part).resolve() if file_part else document
        assert path.exists(), f"{document.name}: link to missing {target}"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{document.name}: no heading #{anchor} in {path.name}"


def test_readme_is_a_front_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # the two commands come first, word for word (.ci/run runs the second)
    assert readme.split("\n")[2:6] == [
        "```",
        "pip install . && gaitdir demo",
        "pip install '.[test]' && python -m pytest",
        "```",
    ]
    assert "](docs/sample_walk.png)" in readme and (ROOT / "docs" / "sample_walk.png").is_file()
    assert len(readme.splitlines()) < 200
