"""Installed as users install it: the wheel, in a fresh virtual environment, run from a folder
outside the repository. The prompts and the seed documents must come from the package itself
(importlib.resources), and the default index from the user data dir; the server imports, with its
page and the vendored pdf.js."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_in_a_fresh_venv_answers_the_seed_question_from_any_folder(tmp_path):
    source = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", "index", "build", "*.egg-info", "__pycache__", "tests",
                                                  "bench", "docs", ".hypothesis", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), "-q"], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("rag-*.whl"))
    env_dir = tmp_path / "venv"
    # --system-site-packages: the dependencies are this interpreter's, nothing is downloaded
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--force-reinstall", "-q",
                    str(wheel)],
                   check=True, capture_output=True, timeout=300)
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", XDG_DATA_HOME=str(tmp_path / "data"), RAG_LLM="none",
               PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    where = subprocess.run([str(python), "-c", "import rag; print(rag.__file__)"], cwd=elsewhere, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(env_dir)), where  # the installed copy, not the checkout
    done = subprocess.run([str(env_dir / "bin" / "rag"), "ask", "who is Ismail Shukri?"], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Misrata" in done.stdout
    assert (tmp_path / "data" / "rag" / "index" / "chroma").is_dir() and not (elsewhere / "index").exists()
    prompt = subprocess.run([str(python), "-c", "from rag.prompts import load; print(load('answer').user[:20])"],
                            cwd=elsewhere, env=env, capture_output=True, text=True)
    assert prompt.returncode == 0 and prompt.stdout.strip(), prompt.stderr
    example = subprocess.run([str(python), "-c", "from rag.config import package_data; "
                              "print((package_data('examples') / 'seed_questions.jsonl').is_file())"],
                             cwd=elsewhere, env=env, capture_output=True, text=True)
    assert example.stdout.strip() == "True", example.stderr  # `rag eval --example` reads it
    # the server and its page: every route module, the page's files and the vendored pdf.js
    page = subprocess.run([str(python), "-c", "from rag.server.app import STATIC_DIR, create_app; "
                           "print(*sorted(str(p.relative_to(STATIC_DIR)) for p in STATIC_DIR.rglob('*') if p.is_file()))"],
                          cwd=elsewhere, env=env, capture_output=True, text=True)
    assert page.returncode == 0, page.stderr
    shipped = set(page.stdout.split())
    assert {"index.html", "app.js", "pdf_view.js", "vendor/pdfjs/pdf.min.mjs", "vendor/pdfjs/pdf.worker.min.mjs",
            "vendor/pdfjs/text_layer.css", "vendor/pdfjs/LICENSE"} <= shipped, shipped
