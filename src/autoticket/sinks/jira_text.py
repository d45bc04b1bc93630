"""A ticket's text for Jira: Atlassian Document Format (Cloud) or wiki markup (Data Center).

Paragraphs are separated by blank lines, lines within one keep their breaks.
Only http(s) URLs become links; anything else (a `javascript:` URL, Jira
markup in an alert's text) stays plain text.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["adf", "adf_text", "wiki"]

URL = re.compile(r"https?://[^\s<>\"'\[\]|{}]+")
TRAILING = ".,;:!?)"
WIKI_SPECIAL = re.compile(r"([{}\[\]|*_+^~?!#\-])")


def _split(text: str) -> list[tuple[str, str | None]]:
    """(piece, href) runs of one line; href is set for an http(s) URL."""
    runs: list[tuple[str, str | None]] = []
    at = 0
    for match in URL.finditer(text):
        url = match.group(0).rstrip(TRAILING)
        start, end = match.start(), match.start() + len(url)
        if start > at:
            runs.append((text[at:start], None))
        runs.append((url, url))
        at = end
    if at < len(text):
        runs.append((text[at:], None))
    return runs


def _paragraphs(text: str) -> list[list[str]]:
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    return [block.split("\n") for block in blocks if block.strip()]


def adf(text: str) -> dict[str, Any]:
    """An ADF document: one paragraph per block, hard breaks between lines, link marks."""
    content: list[dict[str, Any]] = []
    for lines in _paragraphs(text):
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(lines):
            if i:
                nodes.append({"type": "hardBreak"})
            for piece, href in _split(line):
                node: dict[str, Any] = {"type": "text", "text": piece}
                if href is not None:
                    node["marks"] = [{"type": "link", "attrs": {"href": href}}]
                nodes.append(node)
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


def adf_text(document: Any) -> str:
    """All text of an ADF document (or any JSON), concatenated: what a reader sees."""
    if isinstance(document, dict):
        own = document.get("text") if document.get("type") == "text" else None
        inner = "".join(adf_text(v) for k, v in document.items() if k == "content")
        return (own if isinstance(own, str) else "") + inner
    if isinstance(document, list):
        return "".join(adf_text(v) for v in document)
    return document if isinstance(document, str) else ""


def _escape(piece: str) -> str:
    # A backslash is Jira's escape (and `\\` a line break): written as an entity.
    return "&#92;".join(WIKI_SPECIAL.sub(r"\\\1", part) for part in piece.split("\\"))


def wiki(text: str) -> str:
    """Wiki markup: markup characters escaped, http(s) URLs as `[url]` links."""
    paragraphs = []
    for lines in _paragraphs(text):
        rendered = [
            "".join(f"[{piece}]" if href else _escape(piece) for piece, href in _split(line))
            for line in lines
        ]
        paragraphs.append("\n".join(rendered))
    return "\n\n".join(paragraphs)
