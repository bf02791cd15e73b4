"""The HTML page around the charts: one self-contained file, no script, styles inline, printable.

The Content-Security-Policy forbids the page any fetch (no script, no image, font, frame or connection
from anywhere): opened on an air-gapped PC it renders the same, and a browser that honours the policy
would report any stray reference instead of loading it.  Numbers a reader may check against the
run's files carry `data-key` (the JSON path they come from) so tests can read them back.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from html import escape

from m2msim.outputs import head_matches

# strftime's `%b` in the C locale, whatever the process's: the page's dates are the same bytes
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_text(t: datetime, fmt: str) -> str:
    """`t` as `t.strftime(fmt)` writes it in the C locale: its month's name (`%b`) in English
    whatever the locale of the process (a program that set its own, `locale.setlocale(LC_ALL,
    "")`, drew `05 Mär 2026` under a German locale), so a folder's page is the same bytes
    wherever it is made."""
    return t.strftime(fmt.replace("%b", _MONTHS[t.month - 1]))


CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
:root { --ink:#1f2937; --muted:#6b7280; --line:#e5e7eb; --accent:#0072B2; --bg:#f8fafc; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink);
       margin: 0; background: var(--bg); }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
header.top { border-bottom: 3px solid var(--accent); padding-bottom: 10px; margin-bottom: 18px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 30px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.sub, .muted { color: var(--muted); }
nav.toc { font-size: 13px; margin: 8px 0 0; }
nav.toc a { color: var(--accent); margin-right: 12px; text-decoration: none; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; margin: 12px 0; }
.kpi { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; background: #fff; }
.kpi .label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.kpi .value { font-size: 22px; font-weight: 650; margin-top: 2px; white-space: nowrap; }
.kpi .note { font-size: 12px; color: var(--muted); }
.kpi.accent { border-color: var(--accent); box-shadow: inset 4px 0 0 var(--accent); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13px; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv td:first-child { width: 28%; color: var(--muted); }
tr.best td { background: #ecfdf5; font-weight: 600; }
tr.total td { font-weight: 650; border-top: 2px solid var(--ink); }
figure.plot { margin: 10px 0 18px; break-inside: avoid; }
figure.plot svg { width: 100%; height: auto; display: block; }
figure.plot figcaption { font-size: 12px; color: var(--muted); margin-top: 2px; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: #374151; }
svg .ptitle { font-size: 15px; font-weight: 650; fill: #111827; }
svg .tick { font-size: 11px; }
svg .axis { font-size: 12px; fill: #111827; }
svg .val { font-size: 11px; }
svg .note { font-size: 13px; fill: #6b7280; }
svg .legend text { font-size: 12px; }
svg .grid { stroke: #e5e7eb; stroke-width: 1; }
svg .axisline { stroke: #9ca3af; stroke-width: 1; }
svg .band { fill: #fee2e2; fill-opacity: .7; }
svg .bandlabel { font-size: 10px; fill: #b91c1c; }
.callout { border-left: 4px solid #E69F00; background: #fffbeb; padding: 8px 12px; margin: 10px 0; }
.ok { color: #047857; } .bad { color: #b91c1c; }
details summary { cursor: pointer; color: var(--accent); }
code { font-size: 12px; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
footer { margin-top: 36px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 8px; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
@media (max-width: 800px) { .cols { grid-template-columns: 1fr; } }
@media print {
  body { background: #fff; } main { max-width: none; padding: 0; }
  nav.toc { display: none; } h2 { break-after: avoid; } table, .kpis { break-inside: avoid; }
  details { display: block; } details > summary { display: none; }
}
"""


# Says in every page that m2msim wrote it: a page m2msim wrote may be replaced by the next one, any
# other file at the output's path is kept (m2msim.outputs).  Pages of older versions have no such
# line; their title says it ("m2msim report: ...", "m2msim bench: ...").
GENERATOR = "m2msim"
is_page = head_matches(
    rb'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
    rb'(?:<meta name="generator" content="m2msim"|.{0,1000}?<title>m2msim (?:report|bench): )'
)


# What an HTML page may not hold as text, even escaped: controls but tab, LF and CR (C0, DEL, C1),
# lone surrogates (a modem's undecodable bytes, read with surrogateescape) and noncharacters.
_NOT_HTML = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(f"{chr(plane + 0xFFFE)}{chr(plane + 0xFFFF)}" for plane in range(0, 0x110000, 0x10000))
    + "]"
)


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def e(text: object) -> str:
    """`text` as HTML text or attribute value: markup escaped, and what a page may not hold (a
    transcript's ESC or NUL, a modem's byte that is not UTF-8) written as its escape, `\\x1b`,
    `\\udcff`. Written raw, a control byte made the page ill-formed, and an undecodable byte (a
    lone surrogate) could not be written as UTF-8: `m2msim report` of such a bench folder ended in
    a traceback."""
    return _NOT_HTML.sub(_shown, escape(str(text), quote=True))


def money(value: Decimal | str | None, currency: str = "EUR") -> str:
    if value is None:
        return "–"
    return f"{Decimal(str(value)):,.2f} {currency}"


def count(value: int | float | Decimal | None) -> str:
    """A count with its thousands separated, an integer's digits exactly (formatted through a float,
    a count past 2^53, a sum of records' bytes, lost its last digits: 2^60 + 1 was shown as
    1,152,921,504,606,846,976); a float is rounded to the unit."""
    if value is None:
        return "–"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return f"{value:,.0f}"


def num(text: str, key: str | None = None) -> str:
    """A table cell with a number, right-aligned; `key`: where the number comes from, for checks."""
    k = f' data-key="{e(key)}"' if key else ""
    return f'<td class="num"{k}>{e(text)}</td>'


def kpi(label: str, value: str, note: str = "", key: str | None = None, accent: bool = False) -> str:
    k = f' data-key="{e(key)}"' if key else ""
    cls = "kpi accent" if accent else "kpi"
    n = f'<div class="note">{e(note)}</div>' if note else ""
    return f'<div class="{cls}"><div class="label">{e(label)}</div><div class="value"{k}>{e(value)}</div>{n}</div>'


def table(headers: Sequence[str], rows: Iterable[str], numeric: Iterable[int] = ()) -> str:
    """`rows` are already made `<tr>` contents (cells); `numeric`: the header cells to align right."""
    right = set(numeric)
    head = "".join(
        f'<th class="num">{e(h)}</th>' if i in right else f"<th>{e(h)}</th>" for i, h in enumerate(headers)
    )
    if not any(headers):  # a key-value table: no header row
        return f'<table class="kv"><tbody>{"".join(rows)}</tbody></table>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def tr(cells: Iterable[str], cls: str | None = None) -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<tr{c}>{''.join(cells)}</tr>"


def td(text: object) -> str:
    return f"<td>{e(text)}</td>"


@dataclass
class Page:
    title: str
    subtitle: str = ""
    sections: list[tuple[str, str, str]] = field(default_factory=list)  # (anchor, heading, html)
    footer: str = ""

    def add(self, anchor: str, heading: str, html: str) -> None:
        self.sections.append((anchor, heading, html))

    def render(self) -> str:
        toc = "".join(f'<a href="#{e(a)}">{e(h)}</a>' for a, h, _ in self.sections)
        body = "".join(
            f'<section id="{e(a)}"><h2>{e(h)}</h2>{html}</section>' for a, h, html in self.sections
        )
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="generator" content="{GENERATOR}">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(self.title)}</title><style>{CSS}</style></head><body><main>"
            f'<header class="top"><h1>{e(self.title)}</h1><p class="sub">{e(self.subtitle)}</p>'
            f'<nav class="toc">{toc}</nav></header>{body}'
            f"<footer>{self.footer}</footer></main></body></html>\n"
        )
