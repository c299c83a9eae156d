"""rag's exceptions: one short hierarchy. Messages say what happened and what to do."""


class RagError(Exception):
    """Base class for every error rag raises on purpose."""


class ConfigError(RagError):
    """A setting is invalid."""


class IngestError(RagError):
    """A file could not be read. During `ingest` these are collected in the report, not raised."""


class NotText(IngestError):
    """A file that is not text and has no reader of its own (a photo, an archive, a program):
    skipped, not a failure. `rag ingest` lists it under "skipped" and exits 0 for it."""


class StoreError(RagError):
    """The index cannot be opened or written."""


class BackendUnavailable(RagError):
    """An LLM backend cannot be reached or loaded."""


class DocumentNotFound(RagError):
    """A document named for a whole-document answer (summarize, compare) is not in the index."""


class DocumentChanged(RagError):
    """An indexed document's file is gone or no longer holds the bytes that were indexed, so
    what the index says about it (offsets, pages) would not describe it."""
