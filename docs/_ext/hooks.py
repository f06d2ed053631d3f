"""MkDocs hooks: ``{{ include FILE }}`` (used by docs/changelog.md, a page at the top of docs/)
puts a file of the repository root in a page, its links written from the root (``docs/paper/...``)
made relative to docs/; and the math of the pages as MathML."""

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
# TeX that latex2mathml leaves unconverted (a command it does not know shows as ``\name``) stops
# the build, naming the page and the formula.
MATH = re.compile(r'<(?P<tag>span|div) class="arithmatex">\s*\\[(\[](?P<tex>.*?)\\[)\]]\s*</(?P=tag)>', flags=re.S)
UNCONVERTED = re.compile(r">\\[A-Za-z]+<")
SYNONYMS = {r"\lvert": "|", r"\rvert": "|", r"\lVert": r"\|", r"\rVert": r"\|"}


def on_page_content(html_text: str, page, config, files) -> str:
    import html

    from latex2mathml.converter import convert

    def mathml(match: re.Match) -> str:
        tex = html.unescape(match.group("tex"))
        for name, plain in SYNONYMS.items():
            tex = re.sub(re.escape(name) + r"(?![A-Za-z])", lambda _: plain, tex)
        out = convert(tex, display="block" if match.group("tag") == "div" else "inline")
        if UNCONVERTED.search(out):
            raise ValueError(f"{page.file.src_path}: TeX that does not convert to MathML: {tex!r}")
        return out

    return MATH.sub(mathml, html_text)
