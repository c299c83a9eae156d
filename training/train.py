"""Step 2: fine-tune all-MiniLM-L6-v2 (the weights rag embeds with) as rag's extractive reader.

The model reads a question with a passage window (`rag/reader/features.py`) and gives, for every
token, how likely the answer starts and ends there; [CLS] stands for "no answer here". One shared
encoder and one linear layer (start, end), the shape of a SQuAD 2.0 reader: the answerability of a
sentence is its best span's score over the [CLS] score, and its span is that span.

Reproducible: the examples come in the fixed order `prepare.py` wrote; the seed fixes the new
layer's initialisation and dropout. The learning rate falls linearly to zero at `--examples`, so a
run stopped by `--minutes` and resumed (`--resume`) ends where an unbroken run would. A checkpoint
is written every `--save-every` steps and when time is up.

    python training/train.py --data training/data/train.jsonl --out training/runs/cpu   # 2-core CPU, ~70 min
    python training/train.py --device cuda --examples 0 --epochs 3 --out training/runs/gpu  # all data
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from common import base_model_dir, features, read_jsonl


def encode(tok, rows: list[dict], rng: random.Random) -> list[tuple]:
    """(window, start token, end token) for the rows: every window holding the answer, and one
    window without it where the passage needs several (a "no answer" window like any other)."""
    out = []
    for r, wins in zip(rows, [features.windows(tok, r["question"], r["title"], [r["context"]])[0] for r in rows]):
        labelled = [(w, *features.span_labels(w, r["start"], r["end"])) for w in wins]
        pos = [x for x in labelled if x[1] > 0]
        neg = [x for x in labelled if x[1] == 0]
        out += pos + ([rng.choice(neg)] if neg else [])
    return out


def buckets(stream: list[dict], size: int, rng: random.Random) -> list[list[dict]]:
    """The stream in batches of similar length (less padding), 50 batches at a time, in a seeded
    order: the data's order is kept at that scale."""
    out = []
    for i in range(0, len(stream), size * 50):
        part = sorted(stream[i:i + size * 50], key=lambda r: len(r["context"]) + len(r["question"]))
        group = [part[j:j + size] for j in range(0, len(part), size)]
        rng.shuffle(group)
        out += group
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="training/data/train.jsonl")
    ap.add_argument("--out", default="training/runs/cpu")
    ap.add_argument("--examples", type=int, default=32000,
                    help="examples the run reads (the learning rate reaches 0 there); 0: all, for --epochs")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=0, help="stop (with a checkpoint) after this long; 0: no limit")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=8e-5)
    ap.add_argument("--warmup", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frozen-layers", type=int, default=2, help="lowest encoder layers left as they are")
    ap.add_argument("--save-every", type=int, default=150, help="steps between checkpoints")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForQuestionAnswering

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = read_jsonl(args.data)
    total = (args.examples or len(rows)) * (args.epochs if not args.examples else 1)
    stream = [rows[i % len(rows)] for i in range(total)]
    steps = (total + args.batch - 1) // args.batch
    batches = buckets(stream, args.batch, random.Random(args.seed))

    base = base_model_dir()
    tok = features.load_tokenizer(str(base / "tokenizer.json"))
    model = AutoModelForQuestionAnswering.from_pretrained(str(base))
    # The vocabulary matrix stays as rag's embedding model has it: 11.7M of the 22.7M weights, it
    # learns little from 32k examples, and frozen it costs the optimizer nothing.
    # The two lowest layers stay too: backward through four layers, not six, reads 1.5x more
    # examples in the same time on a CPU.
    for part in [model.bert.embeddings] + list(model.bert.encoder.layer[:args.frozen_layers]):
        part.requires_grad_(False)
    model.to(args.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warm = max(1, int(steps * args.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    step, seen_loss = 0, []
    ck = out / "checkpoint.pt"
    if args.resume and ck.is_file():
        state = torch.load(ck, map_location=args.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step = state["step"]
        random.setstate(state["py_rng"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at step {step}/{steps}")

    def save(tag: str) -> None:
        tmp = out / "checkpoint.pt.tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                    "py_rng": random.getstate(), "torch_rng": torch.get_rng_state(), "args": vars(args)}, tmp)
        tmp.replace(ck)
        model.save_pretrained(out / "model")
        (out / "progress.json").write_text(json.dumps({"step": step, "steps": steps, "tag": tag,
                                                       "examples": min(step * args.batch, total)}))

    model.train()
    t0 = time.time()
    rng = random.Random(args.seed)
    while step < steps:
        rows_b = batches[step]
        rng.seed(args.seed * 1_000_003 + step)  # the same windows whatever the resumes
        enc = encode(tok, rows_b, rng)
        b = {k: torch.from_numpy(v).to(args.device) for k, v in features.batch([e[0] for e in enc]).items()}
        starts = torch.tensor([e[1] for e in enc], device=args.device)
        ends = torch.tensor([e[2] for e in enc], device=args.device)
        outp = model(**b, start_positions=starts, end_positions=ends)
        outp.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        seen_loss.append(outp.loss.item())
        if step % 20 == 0 or step in (2, 5, 10):
            el = time.time() - t0
            print(f"step {step}/{steps} loss {sum(seen_loss[-20:]) / 20:.3f} lr {sched.get_last_lr()[0]:.2e} "
                  f"{el / 60:.1f} min", flush=True)
        if step % args.save_every == 0:
            save("periodic")
        if args.minutes and time.time() - t0 > args.minutes * 60:
            save("time budget")
            print(f"time budget reached at step {step}/{steps}; continue with --resume")
            return
    save("done")
    print(f"done: {steps} steps, {total} examples, {(time.time() - t0) / 60:.1f} min -> {out / 'model'}")


if __name__ == "__main__":
    main()
