"""MkDocs hooks: the changelog page is CHANGELOG.md from the repository root, its links (written
from the root, ``docs/paper/...``) made relative to the site's pages."""

from __future__ import annotations

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INCLUDE = re.compile(r"^\{\{ include (?P<path>\S+) \}\}$", flags=re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def include(match: re.Match) -> str:
        with open(os.path.join(ROOT, match.group("path")), encoding="utf-8") as f:
            text = f.read()
        return text.replace("](docs/", "](")

    return INCLUDE.sub(include, markdown)


# Math: pymdownx.arithmatex (generic mode) marks $...$ and $$...$$ in the pages; here each becomes
# MathML, which browsers render natively: the site needs no JavaScript and no network for math.
MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">\s*\\[(\[](?P<tex>.*?)\\[)\]]\s*</(?P=tag)>', flags=re.S)


def on_page_content(html_text: str, page, config, files) -> str:
    import html

    from latex2mathml.converter import convert

    def mathml(match: re.Match) -> str:
        display = "block" if match.group("tag") == "div" else "inline"
        return convert(html.unescape(match.group("tex")), display=display)

    return MATH.sub(mathml, html_text)
