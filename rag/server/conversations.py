"""Conversations kept in SQLite beside the index (`<index_dir>/conversations.sqlite`), so chats
survive a restart. Stores what was asked and the answer as JSON; it knows nothing of the pipeline.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,          -- Answer.to_dict() as JSON
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Conversations:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one writer at a time within this process
        with self._connect() as db:
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        return db

    def create(self, title: str = "") -> dict:
        cid = uuid.uuid4().hex
        now = _now()
        with self._lock, closing(self._connect()) as db, db:
            db.execute("INSERT INTO conversations (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                       (cid, title, now, now))
        return {"id": cid, "title": title, "created_at": now, "updated_at": now}

    def exists(self, cid: str) -> bool:
        with closing(self._connect()) as db:
            return db.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone() is not None

    def list(self, query: str | None = None) -> list[dict]:
        """Most recent first; with `query`, only those whose title or a question contains it."""
        where, args = "", ()
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where = ("WHERE title LIKE ? ESCAPE '\\' OR id IN (SELECT conversation_id FROM messages "
                     "WHERE question LIKE ? ESCAPE '\\')")
            args = (pattern, pattern)
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT id, title, created_at, updated_at FROM conversations {where} "
                              "ORDER BY updated_at DESC, rowid DESC", args).fetchall()
        return [dict(r) for r in rows]

    def get(self, cid: str, messages: bool = True) -> dict | None:
        with closing(self._connect()) as db:
            conv = db.execute("SELECT id, title, created_at, updated_at FROM conversations WHERE id = ?",
                              (cid,)).fetchone()
            if conv is None:
                return None
            if not messages:
                return dict(conv)
            rows = db.execute("SELECT id, question, answer, created_at FROM messages "
                              "WHERE conversation_id = ? ORDER BY id", (cid,)).fetchall()
        messages = [{"id": r["id"], "question": r["question"], "answer": json.loads(r["answer"]),
                     "created_at": r["created_at"]} for r in rows]
        return {**dict(conv), "messages": messages}

    def history(self, cid: str) -> list[tuple[str, str]]:
        """The (question, answer_text) pairs that `Assistant.ask` takes as history."""
        conv = self.get(cid)
        return [(m["question"], m["answer"].get("answer", "")) for m in conv["messages"]] if conv else []

    def add(self, cid: str, question: str, answer: dict) -> int:
        now = _now()
        with self._lock, closing(self._connect()) as db, db:
            cur = db.execute("INSERT INTO messages (conversation_id, question, answer, created_at) "
                             "VALUES (?, ?, ?, ?)", (cid, question, json.dumps(answer, ensure_ascii=False), now))
            # The first question names the conversation.
            db.execute("UPDATE conversations SET updated_at = ?, "
                       "title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                       (now, title_for(question), cid))
            return int(cur.lastrowid)

    def rename(self, cid: str, title: str) -> dict | None:
        with self._lock, closing(self._connect()) as db, db:
            if db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, cid)).rowcount == 0:
                return None
        return self.get(cid, messages=False)

    def truncate(self, cid: str, from_message: int) -> bool:
        """Remove message `from_message` and every later one (regenerate, edit and resend).
        False when the conversation holds no such message."""
        with self._lock, closing(self._connect()) as db, db:
            if db.execute("SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?",
                          (from_message, cid)).fetchone() is None:
                return False
            db.execute("DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (cid, from_message))
            return True

    def delete(self, cid: str) -> bool:
        with self._lock, closing(self._connect()) as db, db:
            return db.execute("DELETE FROM conversations WHERE id = ?", (cid,)).rowcount > 0


def title_for(question: str, limit: int = 60) -> str:
    """A conversation's name from its first question."""
    text = " ".join(question.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
