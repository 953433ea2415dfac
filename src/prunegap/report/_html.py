"""HTML pieces shared by the report's sections (:mod:`.html`, :mod:`.popup`): escaping, tables, inline figures."""

from __future__ import annotations

import base64
import html
from typing import Any

__all__ = ["esc", "html_table", "html_figure"]


def esc(x: Any) -> str:
    """``x`` as text, escaped for HTML."""
    return html.escape(str(x))


def html_table(head: list[str], rows: list[list[str]], left: int = 1) -> str:
    """A table of HTML cells; the first ``left`` columns are left-aligned, the rest right-aligned."""
    th = "".join(f"<th class='l'>{h}</th>" if i < left else f"<th>{h}</th>" for i, h in enumerate(head))
    body = "".join(
        "<tr>" + "".join(f"<td class='l'>{c}</td>" if i < left else f"<td>{c}</td>" for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def html_figure(figs: dict[str, dict[str, Any]], name: str, alt: str, caption: str) -> str:
    """The figure ``name`` of ``figs`` inline (a base64 PNG) with its caption ("" when it was not drawn)."""
    if name not in figs:
        return ""
    data = base64.b64encode(figs[name]["png_bytes"]).decode()
    return (
        f"<figure><img alt='{esc(alt)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{caption} Files: <code>figures/{name}.png</code>, <code>figures/{name}.pdf</code>.</figcaption></figure>"
    )
