"""The HTTP API fuzzed from its own OpenAPI schema with schemathesis (CLI, in a subprocess) against
the real `rag serve`: no 5xx, responses match the schema, every status code is one the schema
documents, and the server is still up afterwards."""

from __future__ import annotations

import subprocess
import sys

import httpx

from server_support import API_KEY

CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"
QUESTION_PATHS = "^/(api/chat|v1/chat/completions)$"


def _fuzz(url: str, *extra: str, examples: int = 10) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--checks", CHECKS, "-n", str(examples),
                           "-w", "1", "--request-timeout", "60", "--seed", "6", *extra],
                          capture_output=True, text=True, timeout=600)


def test_fuzzed_api_never_answers_5xx_or_off_schema(scratch_server):
    proc = _fuzz(scratch_server.url)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert httpx.get(f"{scratch_server.url}/healthz").json()["status"] == "ok"


def test_fuzzed_api_with_a_key_never_answers_5xx(secured_server):
    proc = _fuzz(secured_server.url, "-H", f"Authorization: Bearer {API_KEY}", examples=5)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert httpx.get(f"{secured_server.url}/healthz").json()["status"] == "ok"


def test_question_endpoints_fuzzed_with_wrong_types_never_answer_5xx(scratch_server):
    """/api/chat (Server-Sent Events) and /v1/chat/completions with bodies that break the schema:
    wrong types, missing fields, extra fields (schemathesis' negative mode)."""
    proc = _fuzz(scratch_server.url, "--include-path-regex", QUESTION_PATHS, "--mode", "negative", examples=40)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert httpx.get(f"{scratch_server.url}/healthz").json()["status"] == "ok"
