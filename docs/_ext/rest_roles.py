"""A griffe extension for the docs site: the package's docstrings use reST roles
(``:func:`evolve```, ``:class:`~ensemble.learning.LearningMap```) so that they read well in
``help()``; on the site each role becomes a link to the name's API entry (or plain code where the
name is not part of the package), and a paragraph ending in ``::`` ends in ``:``.
"""

from __future__ import annotations

import html
import re

import griffe

logger = griffe.logger

ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|exc|obj|const):`(?P<target>[^`]+)`")
LITERAL_BLOCK = re.compile(r"::(\n\s*\n)")


class RestRoles(griffe.Extension):
    """Rewrite reST roles in every docstring of the package into autorefs links."""

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        objects = list(_walk(pkg))
        paths = {obj.path for obj in objects}
        paths |= {alias.path for alias in _aliases(pkg)}
        for obj in objects:
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj.docstring.value, obj, paths)


def _walk(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _aliases(obj):
    for member in obj.members.values():
        if member.is_alias:
            yield member
        else:
            yield from _aliases(member)


def _rewrite(text: str, obj, paths: set[str]) -> str:
    module = obj if obj.is_module else obj.module
    scopes = [obj.path, obj.parent.path if obj.parent is not None else "", module.path, "ensemble"]

    def link(match: re.Match) -> str:
        target = match.group("target").strip()
        short = target.startswith("~")
        target = target.lstrip("~").lstrip(".").removesuffix("()")
        shown = target.rsplit(".", 1)[-1] if short else target
        code = f"<code>{html.escape(shown)}</code>"
        for scope in scopes:
            candidate = f"{scope}.{target}" if scope else target
            if candidate in paths:
                return f'<autoref identifier="{candidate}" optional>{code}</autoref>'
        if target in paths:
            return f'<autoref identifier="{target}" optional>{code}</autoref>'
        if target.startswith("ensemble.") and not target.startswith("ensemble._"):
            logger.warning(f"{obj.path}: the role target {target!r} is not in the package")
        return code

    return LITERAL_BLOCK.sub(r":\1", ROLE.sub(link, text))
