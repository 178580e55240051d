"""The errors of the download layer (:mod:`takedowns.sources.fetch`,
:mod:`takedowns.sources.containers`, :mod:`takedowns.sources.ledger`).

Every message is one line that names the URL or the file and what went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping

# requests is imported by the one class that needs it: a job that only checks raw files
# (takedowns.sources.ledger) does not load the HTTP stack


class DownloadError(RuntimeError):
    """A download failed; ``str()`` is one line naming the URL and what went wrong."""


class HTTPStatusError(DownloadError):
    """The server's final answer was an HTTP error status (after any retries).

    ``headers`` are those of that final answer (e.g. ``Location`` of a redirect that was not
    followed, or ``X-Archive-Wayback-Runtime-Error`` of a blocked Wayback query).
    """

    def __init__(self, message: str, status: int, headers: Mapping[str, str] | None = None) -> None:
        from requests.structures import CaseInsensitiveDict

        super().__init__(message)
        self.status = status
        self.headers: Mapping[str, str] = CaseInsensitiveDict(headers or {})


class DeadlineExceeded(DownloadError):
    """No complete body within ``download.deadline_seconds`` (across every retry)."""


class ContentError(DownloadError):
    """The body is not what the file name (or ``expect``) promises: short, truncated, HTML."""


class MissingHeaderError(ContentError):
    """The response lacks a header the caller requires (a Wayback page without
    ``Memento-Datetime`` is not a capture)."""


class CorruptContent(ContentError):
    """A container (gzip, bzip2, xz, 7z) does not decode, or fails its CRC: a bad transfer
    or a bad file; the transfer is retried."""


class TruncatedContent(CorruptContent):
    """A stream container (gzip, bzip2, xz) decodes cleanly up to an early end: every byte
    before the cut is valid. When the source serves the same bytes again it is the file
    itself that is short (recorded ``truncated_at_source``)."""


class ChecksumError(DownloadError):
    """A raw file disagrees with, or is missing from, ``SHA256SUMS``."""


class ChecksumMismatch(ChecksumError):
    """A raw file's sha256 differs from the one recorded in ``SHA256SUMS``."""


class UnrecordedFile(ChecksumError):
    """A raw file has no entry in ``SHA256SUMS``."""


class TruncatedAtSource(DownloadError):
    """A raw file is recorded ``truncated_at_source`` and the configuration does not allow
    using it (neither ``qc.allow_partial_files`` nor ``routing.allow_missing_files``)."""


class LocalFileError(DownloadError):
    """Writing a download to disk failed (disk full, permissions): names the file."""
