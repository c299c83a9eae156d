"""Shared fixtures."""

from __future__ import annotations

import pytest

from reliability_support import RagCli


@pytest.fixture(scope="session")
def rag_cli():
    """Run `rag` commands in forked processes of one warmed-up interpreter (see reliability_support)."""
    cli = RagCli()
    yield cli
    cli.close()
