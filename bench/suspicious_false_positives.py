"""False "suspicious" flags on ordinary documents (issue 18, item 4): how many real files the
pattern of rag/suspicious.py flags, against the one it replaced (rag.reader.INSTRUCTION).

    python bench/suspicious_false_positives.py [/usr/share/doc ...] [--limit 1000]

Every regular file under the folders is read as `rag ingest` reads it (rag.loaders.load); a .gz
(changelogs, most of /usr/share/doc) is decompressed first and read as text, which `rag ingest`
skips but whose prose is the same kind. None of these files is written to steer an assistant, so
every flag is a false positive. Prints JSON: files read, files flagged by each pattern, and the
flagged phrases.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.reader import INSTRUCTION as OLD  # noqa: E402
from rag.errors import IngestError  # noqa: E402
from rag.loaders import decode_text, load  # noqa: E402
from rag.suspicious import INSTRUCTION as NEW  # noqa: E402


def texts(folders: list[str], limit: int):
    seen = 0
    for folder in folders:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.is_symlink() or not path.is_file() or path.stat().st_size > 5_000_000:
                    continue
                try:
                    if name.endswith(".gz"):
                        text = decode_text(gzip.decompress(path.read_bytes()))[0]
                    else:
                        text = load(path).text
                except (IngestError, OSError, EOFError, gzip.BadGzipFile):
                    continue
                yield str(path), text
                seen += 1
                if seen >= limit:
                    return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", default=["/usr/share/doc"])
    parser.add_argument("--limit", type=int, default=100_000, help="read at most this many files")
    args = parser.parse_args()
    read, chars, old, new = 0, 0, {}, {}
    for path, text in texts(args.folders, args.limit):
        read += 1
        chars += len(text)
        for pattern, flagged in ((OLD, old), (NEW, new)):
            m = pattern.search(text)
            if m:
                flagged[path] = text[max(0, m.start() - 60): m.end() + 60].replace("\n", " ")
    print(json.dumps({"files_read": read, "characters": chars,
                      "flagged_before": len(old), "flagged_after": len(new),
                      "before": old, "after": new}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
