"""Reading a report back: the numbers it shows (`data-key` elements) and the elements it has."""

from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any


class _Keys(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[str, str]] = []
        self._open: list[tuple[str, str | None]] = []
        self._text: dict[int, list[str]] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        self._open.append((tag, a.get("data-key")))
        if a.get("data-key"):
            self._text[len(self._open)] = []

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            depth = len(self._open)
            t, key = self._open.pop()
            if key:
                self.keys.append((key, "".join(self._text.pop(depth, []))))
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        for parts in self._text.values():
            parts.append(data)


def parse(html: str) -> _Keys:
    p = _Keys()
    p.feed(html)
    return p


def shown_keys(html: str) -> list[tuple[str, str]]:
    """(data-key, the text shown) for every marked number of a page."""
    return parse(html).keys


def without_footer(html: str) -> str:
    """The page but for its footer, which names the files it was made from (pages of the same rows
    in two files are the same but for it)."""
    return re.sub(r"<footer>.*?</footer>", "<footer></footer>", html, flags=re.S)


def as_number(text: str) -> Decimal:
    """The number in a shown text: `4,707.19 EUR` -> 4707.19, `82,081` -> 82081, `235,681 ko` -> 235681."""
    m = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert m, f"no number in {text!r}"
    return Decimal(m.group(0).replace(",", ""))


def value_at(doc: Any, path: str) -> Any:
    """The value at a key path: `groups[meters].cost_ht` picks the list entry whose name (or id) is meters."""
    cur = doc
    for part in re.findall(r"[^.\[\]]+(?:\[[^\]]*\])?", path):
        if "[" in part:
            name, sel = part[:-1].split("[", 1)
            cur = next(x for x in cur[name] if str(x.get("name", x.get("id"))) == sel)
        else:
            cur = cur[part]
    return cur
