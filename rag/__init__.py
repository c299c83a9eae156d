"""rag: ask your documents; every answer sentence cites the passage it came from."""

from .assistant import Assistant
from .errors import BackendUnavailable, ConfigError, DocumentNotFound, IngestError, RagError, StoreError
from .types import (Answer, AnswerSentence, Citation, Document, FileError, IngestReport, Passage, Reply,
                    SourceInfo)

__all__ = ["Assistant", "Answer", "AnswerSentence", "Citation", "Document", "FileError", "IngestReport", "Passage",
           "Reply", "SourceInfo", "RagError", "ConfigError", "IngestError", "StoreError", "BackendUnavailable",
           "DocumentNotFound"]
