"""Rendering a report: HTML from the Jinja2 templates, PDF from that HTML with WeasyPrint."""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

from .context import context
from .model import ReportData

# WeasyPrint lays out about one exhibit page in a quarter of a second; past this many exhibits the PDF keeps
# the cover, the index and the roster, and the per-exhibit sections are read in the HTML sealed beside it.
PDF_DETAIL_LIMIT = 500


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("custody.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )


def html(
    data: ReportData, paper: str = "a4", picture_src: Mapping[str, str] | None = None, detail_limit: int | None = None
) -> str:
    """The report as one HTML document; pictures are reached by ``picture_src`` (item id -> URL).

    Without ``picture_src`` the pictures are embedded as data: URLs, so the file stands alone.
    """
    if picture_src is None:
        picture_src = {
            item: "data:image/jpeg;base64," + base64.b64encode(p.data).decode() for item, p in data.pictures.items()
        }
    env = _environment()
    css = env.loader.get_source(env, "report.css")[0] if env.loader is not None else ""
    return env.get_template("report.html.j2").render(css=css, **context(data, paper, picture_src, detail_limit))


def _weasyprint() -> Any:
    """WeasyPrint, imported without its global Pillow setting: it turns on LOAD_TRUNCATED_IMAGES for the whole
    process at import, which would make ingest in the same process take a truncated photo for a whole one."""
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
        from weasyprint.urls import URLFetcher, URLFetcherResponse
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return weasyprint, URLFetcher, URLFetcherResponse


def pdf(data: ReportData, paper: str = "a4") -> bytes:
    """The same report as PDF (A4 or Letter). Nothing outside ``data`` is fetched: no network, no files."""
    weasyprint, URLFetcher, URLFetcherResponse = _weasyprint()

    pictures = {f"picture:{item}": p.data for item, p in data.pictures.items()}

    class _OnlyOurPictures(URLFetcher):  # type: ignore[misc,valid-type]
        # A hostile file name or metadata text cannot make the renderer reach out: only our pictures resolve.
        def fetch(self, url: str, headers: object = None) -> object:
            if url not in pictures:
                raise ValueError(f"{url}: reports fetch nothing outside the bundle")
            return URLFetcherResponse(url, body=pictures[url], headers={"Content-Type": "image/jpeg"})

    text = html(data, paper, {item: f"picture:{item}" for item in data.pictures}, PDF_DETAIL_LIMIT)
    # WeasyPrint logs every CSS property it does not know at WARNING; the report's CSS is ours and fixed.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=text, base_url="picture:", url_fetcher=_OnlyOurPictures())
    result: bytes = document.write_pdf()
    return result
