"""Loads the prompt templates in prompts/*.md (package data) by name. A template has a `# system` and a `# user`
section; `{name}` placeholders are filled by `Prompt.render`. Nothing here talks to a model."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .config import package_data
from .errors import ConfigError

PROMPTS_DIR = package_data("prompts")  # rag/prompts, a link to the repository's prompts/; a wheel holds the files
_SECTION = re.compile(r"^# (system|user)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Prompt:
    name: str
    system: str
    user: str

    def render(self, **values: str) -> tuple[str, str]:
        """(system, user) with the placeholders filled. Values are inserted as they are: braces inside
        document text are never parsed as placeholders."""
        return _fill(self.system, values), _fill(self.user, values)


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


@lru_cache(maxsize=None)
def load(name: str, folder: Path | None = None) -> Prompt:
    path = (folder or PROMPTS_DIR) / f"{name}.md"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"prompt {name!r} not found at {path}: {e.strerror}") from e
    parts = _SECTION.split(text)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if "user" not in sections:
        raise ConfigError(f"prompt {path} needs a '# user' section (and optionally '# system')")
    return Prompt(name=name, system=sections.get("system", ""), user=sections["user"])
