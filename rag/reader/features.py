"""Question + passage -> the token windows rag's reader model reads, with each token's characters.

One function for training (`training/train.py`) and answering (`rag.reader.model`), so the model
reads at answer time exactly what it was trained on. Needs only `tokenizers` and numpy.

A window is `[CLS] question [SEP] title [SEP] passage tokens [SEP]`: the question cut to
QUESTION_TOKENS, the title to TITLE_TOKENS, and a passage longer than what is left split into
windows that overlap by OVERLAP tokens. Only passage tokens can be part of an answer span; the
[CLS] token stands for "no answer in this window".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LEN = 256
QUESTION_TOKENS = 48
TITLE_TOKENS = 16
OVERLAP = 64


@dataclass(frozen=True)
class Window:
    """One model input. `offsets[i]` is the (start, end) of token i in the passage text, (-1, -1)
    for tokens that are not passage text (question, title, special tokens)."""
    ids: list[int]
    types: list[int]
    offsets: list[tuple[int, int]]


def load_tokenizer(path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def windows(tok, question: str, title: str, passages: list[str]) -> list[list[Window]]:
    """The windows of each passage for one question."""
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    q = tok.encode(question, add_special_tokens=False).ids[:QUESTION_TOKENS]
    t = tok.encode(title, add_special_tokens=False).ids[:TITLE_TOKENS] if title else []
    head = [cls] + q + [sep] + t + [sep]
    head_types = [0] * (len(q) + 2) + [1] * (len(t) + 1)
    room = MAX_LEN - len(head) - 1
    out = []
    for enc in tok.encode_batch(passages, add_special_tokens=False):
        ids, offs = enc.ids, enc.offsets
        starts = list(range(0, max(len(ids) - OVERLAP, 1), room - OVERLAP)) if len(ids) > room else [0]
        wins = []
        for s in starts:
            part = ids[s:s + room]
            wins.append(Window(ids=head + part + [sep], types=head_types + [1] * (len(part) + 1),
                               offsets=[(-1, -1)] * len(head) + [tuple(o) for o in offs[s:s + room]] + [(-1, -1)]))
        out.append(wins)
    return out


def batch(wins: list[Window]) -> dict[str, np.ndarray]:
    """Padded int64 arrays: input_ids, attention_mask, token_type_ids."""
    n = max(len(w.ids) for w in wins)
    ids = np.zeros((len(wins), n), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, w in enumerate(wins):
        ids[i, :len(w.ids)] = w.ids
        mask[i, :len(w.ids)] = 1
        types[i, :len(w.types)] = w.types
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def span_labels(w: Window, start: int, end: int) -> tuple[int, int]:
    """Token positions of the answer text[start:end] in the window, or (0, 0) ([CLS]: no answer)
    when the window does not hold all of it."""
    if start < 0:
        return 0, 0
    inside = [i for i, (a, b) in enumerate(w.offsets) if a >= 0]
    if not inside or w.offsets[inside[0]][0] > start or w.offsets[inside[-1]][1] < end:
        return 0, 0
    s = next(i for i in inside if w.offsets[i][1] > start)
    e = max(i for i in inside if w.offsets[i][0] < end)
    return (s, e) if e >= s else (0, 0)
