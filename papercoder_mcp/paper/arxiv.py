"""arXiv input: recognising arXiv references and downloading a paper's source (or its PDF).

Source first: the e-print (`{base}/e-print/{id}`) is the LaTeX the authors uploaded, so math stays
LaTeX and tables stay tabulars. Papers submitted as a PDF only have no source: arXiv then serves the
PDF itself from the e-print URL, and a 404 there sends us to `{base}/pdf/{id}`. The base URL comes
from `PAPERCODER_ARXIV_URL` so that tests (and mirrors) can stand in for arxiv.org.

Downloads are synchronous (httpx with a timeout and a size cap); callers on an event loop run them
in a worker thread. Every failure is a `PaperFetchError` that says what happened and what to try.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

import httpx2 as httpx

from papercoder_mcp.errors import PaperFetchError

DEFAULT_BASE_URL = "https://arxiv.org"
BASE_URL_ENV = "PAPERCODER_ARXIV_URL"
MAX_BYTES_ENV = "PAPERCODER_ARXIV_MAX_MB"
TIMEOUT_ENV = "PAPERCODER_ARXIV_TIMEOUT"
# arXiv caps a submission at 50 MB; twice that leaves room for large PDFs and stops runaway downloads.
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0
USER_AGENT = "papercoder-mcp (https://github.com/papercoder-mcp; paper-to-code)"

# New-style ids (2007 on): YYMM.NNNN or YYMM.NNNNN, optional version. Old-style: archive[.SUB]/YYMMNNN.
_NEW_ID = r"\d{4}\.\d{4,5}(?:v\d+)?"
_OLD_ID = r"[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?"
_ID = f"(?:{_NEW_ID}|{_OLD_ID})"
_BARE_RE = re.compile(rf"^(?P<id>{_ID})$")
_PREFIXED_RE = re.compile(rf"^arxiv:\s*(?P<id>{_ID})$", re.IGNORECASE)
_URL_RE = re.compile(
    # `https:/` too: a URL that went through pathlib (the CLI's argument type) lost one slash.
    rf"^https?:/{{1,2}}(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|e-print|src)/(?P<id>{_ID})(?:\.pdf)?/?"
    r"(?:[?#].*)?$",
    re.IGNORECASE,
)

DownloadKind = Literal["source", "pdf"]


def parse_arxiv_ref(text: str) -> str | None:
    """The arXiv id named by `arxiv:ID`, a bare id or an arXiv abs/pdf URL; None when it names none."""
    value = text.strip()
    for pattern in (_PREFIXED_RE, _BARE_RE, _URL_RE):
        m = pattern.match(value)
        if m:
            return m.group("id")
    return None


def source_name(arxiv_id: str) -> str:
    """How a run records its arXiv origin (also the key for reusing a download)."""
    return f"arxiv:{arxiv_id}"


def file_stem(arxiv_id: str) -> str:
    """A file name for an id; old-style ids hold a slash."""
    return arxiv_id.replace("/", "_")


@dataclass(frozen=True)
class Download:
    """What arXiv sent: the e-print source archive, or a PDF when the paper has no source."""

    arxiv_id: str
    kind: DownloadKind
    data: bytes
    url: str

    @property
    def media_type(self) -> str:
        return {
            ".pdf": "application/pdf",
            ".tar.gz": "application/gzip",
            ".tar": "application/x-tar",
        }.get(self.suffix, "text/x-tex")

    @property
    def suffix(self) -> str:
        """The file suffix that routes the bytes to the right parser."""
        if self.kind == "pdf":
            return ".pdf"
        if self.data[:2] == b"\x1f\x8b":
            return ".tar.gz"  # a tarball, or a single gzipped .tex: the LaTeX reader takes both
        if self.data[257:262] == b"ustar":
            return ".tar"
        return ".tex"


def base_url() -> str:
    return (os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")


def max_bytes() -> int:
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        return max(1, int(float(raw) * 1024 * 1024))
    except ValueError:
        raise PaperFetchError(f"{MAX_BYTES_ENV}={raw!r} is not a number of megabytes") from None


def timeout_s() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        return max(0.1, float(raw))
    except ValueError:
        raise PaperFetchError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None


def fetch_arxiv(
    arxiv_id: str,
    *,
    base: str | None = None,
    timeout: float | None = None,
    limit: int | None = None,
    transport: httpx.BaseTransport | None = None,
    pdf_only: bool = False,
) -> Download:
    """The paper's e-print source, else its PDF (only the PDF with `pdf_only`).

    Blocking: call it from a worker thread on a server."""
    root = (base or base_url()).rstrip("/")
    cap = limit if limit is not None else max_bytes()
    timeout = timeout if timeout is not None else timeout_s()
    with httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        headers={"user-agent": USER_AGENT},
        transport=transport,
    ) as client:
        eprint_url = f"{root}/e-print/{arxiv_id}"
        status, data, ctype = (404, b"", "") if pdf_only else _get(client, eprint_url, arxiv_id, cap, timeout)
        if status == 200:
            if data.startswith(b"%PDF"):
                return Download(arxiv_id, "pdf", data, eprint_url)  # a PDF-only submission
            _check_source(arxiv_id, data, ctype)
            return Download(arxiv_id, "source", data, eprint_url)
        if status not in (403, 404):
            _status_error(arxiv_id, eprint_url, status)
        # No source to give (404, or 403 for some PDF-only and withdrawn papers): try the PDF.
        pdf_url = f"{root}/pdf/{arxiv_id}"
        pdf_status, pdf, pdf_ctype = _get(client, pdf_url, arxiv_id, cap, timeout)
        if pdf_status == 200 and pdf.startswith(b"%PDF"):
            return Download(arxiv_id, "pdf", pdf, pdf_url)
        if pdf_status == 200:
            _check_source(arxiv_id, pdf, pdf_ctype)  # a withdrawal notice says so; other bodies too
            raise PaperFetchError(
                f"arXiv {arxiv_id}: {pdf_url} did not return a PDF ({pdf_ctype or 'no type'})"
            )
        if pdf_status == 404 and pdf_only:
            raise PaperFetchError(f"arXiv serves no PDF for {arxiv_id} (HTTP 404 for {pdf_url})")
        if pdf_status == 404 and status == 404:
            raise PaperFetchError(
                f"arXiv has no paper {arxiv_id!r} (HTTP 404 for its source and its PDF); check the id "
                "(e.g. 2401.01967, 2401.01967v2, hep-th/9901001)"
            )
        _status_error(arxiv_id, pdf_url, pdf_status)
    raise AssertionError("unreachable")  # _status_error always raises


def _get(client: httpx.Client, url: str, arxiv_id: str, cap: int, timeout: float) -> tuple[int, bytes, str]:
    """(status, body, content type); a body over `cap` bytes is refused before it is all read."""
    try:
        with client.stream("GET", url) as response:
            ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if response.status_code != 200:
                return response.status_code, b"", ctype
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                _too_large(arxiv_id, url, int(declared), cap, exact=True)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > cap:
                    _too_large(arxiv_id, url, size, cap, exact=False)
                chunks.append(chunk)
            return 200, b"".join(chunks), ctype
    except httpx.TimeoutException as exc:
        raise PaperFetchError(
            f"arXiv {arxiv_id}: {url} timed out after {timeout:g} s; try again later, or download the "
            "source yourself and pass the file"
        ) from exc
    except httpx.TransportError as exc:
        raise PaperFetchError(
            f"arXiv {arxiv_id}: cannot reach {url} ({exc}); check the network, or set "
            f"{BASE_URL_ENV} to a reachable mirror, or pass a downloaded file"
        ) from exc


def _too_large(arxiv_id: str, url: str, size: int, cap: int, *, exact: bool) -> None:
    raise PaperFetchError(
        f"arXiv {arxiv_id}: {url} is larger than the {cap / 2**20:.3g} MB download cap "
        f"({'' if exact else 'at least '}{size / 2**20:.3g} MB); raise {MAX_BYTES_ENV} to allow it"
    )


def _check_source(arxiv_id: str, data: bytes, ctype: str) -> None:
    """Refuse what is neither an archive nor LaTeX: a withdrawal notice, an HTML error page."""
    if data[:2] == b"\x1f\x8b" or data[257:262] == b"ustar":
        return
    head = data[:65536].decode("utf-8", "replace")
    if re.search(r"\bwithdrawn\b", head, re.IGNORECASE) and len(data) < 65536:
        first = re.sub(r"v\d+$", "", arxiv_id) + "v1"
        raise PaperFetchError(
            f"arXiv {arxiv_id} has been withdrawn by its authors; no source or PDF is served for it. "
            f"Give an earlier version (e.g. {first}) if one exists"
        )
    if "html" in ctype or re.match(r"\s*<(!doctype|html)", head, re.IGNORECASE):
        raise PaperFetchError(f"arXiv {arxiv_id}: got an HTML page instead of the paper's source")
    if "\0" in head or not re.search(r"\\(documentclass|begin\{document\}|section|input)", head):
        raise PaperFetchError(f"arXiv {arxiv_id}: the e-print is neither an archive, a PDF nor LaTeX")


def _status_error(arxiv_id: str, url: str, status: int) -> None:
    if status == 410:
        raise PaperFetchError(f"arXiv {arxiv_id} has been withdrawn (HTTP 410 for {url})")
    if status in (429, 503):
        raise PaperFetchError(f"arXiv is busy (HTTP {status} for {url}); wait a minute and try again")
    if status == 404:
        raise PaperFetchError(f"arXiv has no paper {arxiv_id!r} (HTTP 404 for {url}); check the id")
    raise PaperFetchError(f"arXiv {arxiv_id}: HTTP {status} for {url}")
