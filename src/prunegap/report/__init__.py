"""The report of a sweep folder, rebuilt from its database alone.

    from prunegap.report import build_report
    print(build_report("out/gap").markdown)

Writes ``report.html`` (self-contained), ``figures/{nstar,gap,success}.{png,pdf}``
(and ``figures/targets.{png,pdf}`` for network-target studies)
and ``summary.json`` (keys ``trials``, ``fits``, ``gap``, ...) into the folder;
each figure at two-column width (``NAME.{png,pdf}``, 7.0 in) and one-column width
(``NAME-1col.{png,pdf}``, 3.4 in; :mod:`.figures`);
with a popup study, also ``figures/{popup,popup_certify}.{png,pdf}`` and the
``popup`` key (:mod:`.popup`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..io import atomic_write, write_json
from ..sweep.config import SweepConfig
from ..sweep.store import Store
from .analysis import analyze
from .figures import make_figures
from .html import render_html, render_markdown
from .popup import analyze_popup, popup_figures, popup_markdown

__all__ = ["Report", "build_report", "summarize", "SUMMARY_FORMAT_VERSION"]

#: The version of summary.json's schema (docs/schemas.md): raised when a key is renamed or removed or
#: changes its type or meaning, not when one is added.
SUMMARY_FORMAT_VERSION = "1"


@dataclass(frozen=True)
class Report:
    folder: Path
    html: Path
    summary: Path
    figures: dict[str, Path]  # "nstar.png" -> path, "nstar-1col.png" -> path, ...
    markdown: str
    analysis: dict[str, Any]


def summarize(analysis: dict[str, Any], popup: dict[str, Any] | None, config: SweepConfig,
              meta: dict[str, str]) -> dict[str, Any]:
    """The numbers of ``summary.json``: ``analysis`` (:func:`.analysis.analyze`), ``popup``
    (:func:`.popup.analyze_popup`), the stored ``config`` and the database's ``meta``."""
    return {
        "format_version": SUMMARY_FORMAT_VERSION,
        "trials": analysis["trials"],
        "fits": analysis["fits"],
        "gap": analysis["gap"],
        "frontier": [{k: v for k, v in r.items() if k != "n_lower"} for r in analysis["frontier"]],
        "groups": [{k: v for k, v in g.items() if k not in ("n_lo", "n_hi")} for g in analysis["groups"]],
        "success": analysis["success"],
        "studies": analysis["studies"],
        "targets": analysis["targets"],
        "reference": analysis["reference"],
        "analysis": analysis["analysis"],
        "fingerprint": meta.get("fingerprint"),
        "popup": popup,
        "config": config.to_dict(),
        "prunegap_version": __version__,
    }


def build_report(folder: str | os.PathLike[str]) -> Report:
    """Analyse ``folder``'s results database and write the report files.  A folder a sweep is
    still writing is reported as of now (its committed trials), and the markdown says so."""
    folder = Path(folder)
    with Store.open(folder, snapshot=True) as store:
        rows = store.rows()
        config = store.config()
        meta = store.meta()
        prows = store.popup_rows()
        live = store.snapshot
    analysis = analyze(rows, config)
    figures = make_figures(analysis, folder / "figures")
    pop = analyze_popup(prows, config)
    figures.update(popup_figures(pop, folder / "figures"))
    summary = summarize(analysis, pop, config, meta)
    summary_path = write_json(folder / "summary.json", summary)
    failed = [r for r in rows if r["status"] == "failed"]
    page = render_html(analysis, figures, meta=meta, config_toml=config.to_toml(), failed=failed, folder=str(folder),
                       popup=pop)
    html_path = folder / "report.html"
    atomic_write(html_path, lambda fh: fh.write(page.encode("utf-8")))
    files = {f"{name}{size}.{ext}": info[f"{ext}{key}"] for name, info in figures.items() for ext in ("png", "pdf")
             for size, key in (("", ""), ("-1col", "_1col")) if f"{ext}{key}" in info}
    markdown = render_markdown(analysis, str(folder))
    if pop:  # before the closing "Report: ..." line
        head, _, last = markdown.rpartition("\n")
        markdown = "\n".join([head, *popup_markdown(pop)[1:], "", last]) if head else markdown
    if live:
        markdown = (f"Note: a sweep is still writing {folder}; this report is a snapshot of the trials it had "
                    "committed when it was read (run `prunegap report` again when it ends).\n" + markdown)
    return Report(folder, html_path, summary_path, files, markdown, analysis)
