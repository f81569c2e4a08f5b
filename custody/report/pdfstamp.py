"""An RFC 3161 document time-stamp inside the report PDF (PAdES, ETSI.RFC3161), made with pyHanko.

A standard PDF reader then shows when the report existed, independently of the bundle seal.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from typing import Any

from ..errors import TimestampError

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def timestamp_pdf(pdf: bytes, url: str, *, timeout: float) -> bytes:
    """``pdf`` with a document time-stamp from the TSA at ``url`` appended (incremental update).

    Raises TimestampError when the TSA cannot be reached or refuses; the caller keeps the unstamped PDF then.
    """
    from asn1crypto import tsp
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.timestamps.api import TimeStamper

    class _Tsa(TimeStamper):
        # Our own HTTP call, like custody's other TSA requests: no proxy from the environment is used.
        async def async_request_tsa_response(self, req: Any) -> object:
            http = urllib.request.Request(
                url, data=req.dump(), headers={"Content-Type": "application/timestamp-query"}, method="POST"
            )
            try:
                with _DIRECT.open(http, timeout=timeout) as reply:
                    return tsp.TimeStampResp.load(reply.read())
            except urllib.error.HTTPError as exc:
                raise TimestampError(f"time-stamp authority {url} answered HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError) as exc:
                raise TimestampError(
                    f"time-stamp authority {url} is unreachable ({getattr(exc, 'reason', exc)})"
                ) from None

    out = io.BytesIO()
    try:
        stamper = PdfTimeStamper(_Tsa())  # type: ignore[no-untyped-call]
        stamper.timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256", output=out)
    except TimestampError:
        raise
    except Exception as exc:
        # pyHanko reports a refusal or a malformed answer with its own exception types.
        raise TimestampError(f"time-stamp authority {url} gave no usable document time-stamp: {exc}") from None
    return out.getvalue()
