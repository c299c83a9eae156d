"""Do extractive summaries keep what matters (issue 18, item 8)? Recall of the key facts of a few
documents written for the purpose (tests/data/summaries: final board minutes, a field report, a
slide deck), by the summarizer of the working tree and, with --baseline REV, of a git revision.

    python bench/summary_key_facts.py [--baseline c19ea05] [--salience 0.12]

A key fact is a group of strings (tests/data/summaries/key-facts.json); it is kept when the
summary's text holds one of them. The bundled embedder; `RAG_LLM=none` (extractive). Prints JSON:
per document, the facts kept and the summary, and the recall over all facts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
DATA = ROOT / "tests" / "data" / "summaries"


def documents(folder: Path) -> dict:
    """The documents of tests/data/summaries, read as `rag ingest` reads them (the deck made a .pptx)."""
    from support import make_pptx

    from rag.loaders import load

    slides = json.loads((DATA / "launch-deck.json").read_text(encoding="utf-8"))
    make_pptx(folder / "launch-deck.pptx", [tuple(s) for s in slides], title="Tidewatch 2.0")
    paths = [DATA / "board-minutes-final.txt", DATA / "field-report.txt", folder / "launch-deck.pptx"]
    return {p.name: load(p) for p in paths}


def summarize_module(revision: str | None):
    """rag.summarize, or the one committed at a git revision (loaded beside the working tree's rag)."""
    if revision is None:
        import rag.summarize

        return rag.summarize
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:rag/summarize.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "summarize_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("rag._summarize_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def recall(module, docs: dict, embedder) -> dict:
    facts = json.loads((DATA / "key-facts.json").read_text(encoding="utf-8"))
    out, kept, total = {}, 0, 0
    for name, doc in docs.items():
        text = module.summarize(doc, embedder).text
        found = [group for group in facts[name] if any(s in text for s in group)]
        kept += len(found)
        total += len(facts[name])
        out[name] = {"kept": f"{len(found)}/{len(facts[name])}", "missing": [g for g in facts[name] if g not in found],
                     "summary": text}
    return {"recall": round(kept / total, 3), "kept": kept, "facts": total, "documents": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV", help="also score the summarizer of this git revision")
    parser.add_argument("--salience", type=float, help="override rag.summarize._SALIENCE")
    args = parser.parse_args()
    from rag.embeddings import SentenceEmbeddings

    embedder = SentenceEmbeddings("bundled", 32)
    with tempfile.TemporaryDirectory() as folder:
        docs = documents(Path(folder))
        module = summarize_module(None)
        if args.salience is not None:
            module._SALIENCE = args.salience
        result = {"working tree": recall(module, docs, embedder)}
        if args.baseline:
            result[args.baseline] = recall(summarize_module(args.baseline), docs, embedder)
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
