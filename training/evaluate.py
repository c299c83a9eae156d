"""Step 3: a checkpoint on the held-out questions (`heldout.jsonl`, titles never trained on):
exact match and token F1 of the best span, and how well the margin tells passages that answer from
passages that do not (AUC). The dev sets are measured through rag itself
(bench/reader_variants.py, rag eval), not here.

    python training/evaluate.py --model training/runs/cpu/model --data training/data/heldout.jsonl
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

from common import base_model_dir, features, read_jsonl


def norm(text: str) -> list[str]:
    text = re.sub(r"\b(a|an|the)\b", " ", re.sub(r"[^\w\s]", " ", text.lower()))
    return text.split()


def f1(pred: str, gold: str) -> float:
    p, g = norm(pred), norm(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    return 2 * common / (len(p) + len(g))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="training/runs/cpu/model")
    ap.add_argument("--data", default="training/data/heldout.jsonl")
    ap.add_argument("--limit", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForQuestionAnswering

    torch.set_num_threads(args.threads)
    tok = features.load_tokenizer(str(base_model_dir() / "tokenizer.json"))
    model = AutoModelForQuestionAnswering.from_pretrained(args.model).eval()
    rows = read_jsonl(args.data)[:args.limit]
    em = f1s = 0.0
    pos, neg = [], []
    for r in rows:
        wins = features.windows(tok, r["question"], r["title"], [r["context"]])[0]
        b = {k: torch.from_numpy(v) for k, v in features.batch(wins).items()}
        with torch.no_grad():
            out = model(**b)
        best, text = -1e9, ""
        for w, s, e in zip(wins, out.start_logits, out.end_logits):
            idx = [i for i, (x, _) in enumerate(w.offsets) if x >= 0]
            null = float(s[0] + e[0])
            for i in idx:
                for j in idx:
                    if i <= j < i + 24 and float(s[i] + e[j]) - null > best:
                        best, text = float(s[i] + e[j]) - null, r["context"][w.offsets[i][0]:w.offsets[j][1]]
        if r["start"] >= 0:
            gold = r["context"][r["start"]:r["end"]]
            em += norm(text) == norm(gold)
            f1s += f1(text, gold)
            pos.append(best)
        else:
            neg.append(best)
    auc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / max(1, len(pos) * len(neg))
    print(f"held out: {len(pos)} answerable, {len(neg)} without an answer; exact match {em / max(1, len(pos)):.3f}, "
          f"F1 {f1s / max(1, len(pos)):.3f}, answerability AUC {auc:.3f}")


if __name__ == "__main__":
    main()
