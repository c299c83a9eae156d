"""rag's reader model (rag/reader/): the shipped ONNX file loads, matches its checksum and reads an
answer where there is one; a missing or damaged file leaves the rule-based reader answering with a
one-line warning; the model leads the seed question's answer and abstains where the seed article
holds no answer. Real model, real index, nothing mocked."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil

import pytest

from rag import Assistant
from rag.errors import ConfigError
from rag.reader.model import ReaderModel

SHUKRI = ("Ismail Shukri, the head of intelligence in the northern city of Misrata told BBC Newsnight: "
          "\"Some of their members are taking refuge here.\"")


@pytest.fixture(scope="module")
def model() -> ReaderModel:
    loaded = ReaderModel.load()
    assert loaded is not None, "the shipped reader model did not load"
    return loaded


def test_shipped_model_matches_its_manifest(model):
    folder = ReaderModel.folder()
    manifest = json.loads((folder / "reader.json").read_text())
    assert hashlib.sha256((folder / manifest["file"]).read_bytes()).hexdigest() == manifest["sha256"]
    assert (folder / "MODEL_CARD.md").is_file()
    assert (folder / manifest["file"]).stat().st_size < 30_000_000


def test_model_reads_the_answer_span_of_a_known_pair(model):
    reading = model.read("Who is Ismail Shukri?", [("Libya", SHUKRI)])[0]
    span = reading.best(0, len(SHUKRI))
    assert span.margin > 0
    assert "head of intelligence" in SHUKRI[span.start:span.end]


def test_model_reads_no_answer_in_an_unrelated_sentence(model):
    text = "The museum opens at nine on weekdays and closes early on public holidays."
    answered = model.read("Who is Ismail Shukri?", [("", text)])[0].best(0, len(text))
    related = model.read("Who is Ismail Shukri?", [("Libya", SHUKRI)])[0].best(0, len(SHUKRI))
    assert answered.margin < related.margin
    assert answered.margin < 0


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_damaged_model_falls_back_to_rules_with_a_warning(tmp_path, seed_index_dir, caplog, damage):
    folder = tmp_path / "reader"
    shutil.copytree(ReaderModel.folder(), folder)
    onnx_file = folder / json.loads((folder / "reader.json").read_text())["file"]
    if damage == "missing":
        onnx_file.unlink()
    else:
        data = bytearray(onnx_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        onnx_file.write_bytes(bytes(data))
        with pytest.raises(ConfigError, match="checksum"):
            ReaderModel(folder)
    with caplog.at_level(logging.WARNING, logger="rag.reader.model"):
        with Assistant(index_dir=seed_index_dir, reader_model=str(folder)) as a:
            answer = a.ask("who is Ismail Shukri?")
    assert not answer.abstained and "Misrata" in answer.text
    warnings = [r.getMessage() for r in caplog.records if r.name == "rag.reader.model"]
    assert len(warnings) == 1 and "rule-based reader" in warnings[0] and "\n" not in warnings[0]


def test_seed_question_leads_with_the_models_span(seed_assistant):
    answer = seed_assistant.ask("who is Ismail Shukri?")
    assert not answer.abstained
    lead = answer.sentences[0]
    assert "the head of intelligence in the northern city of misrata" in lead.text.lower()
    assert not lead.text.lower().startswith("ismail shukri")  # the lead answers, not restates


@pytest.mark.parametrize("question", ["What is the boiling point of mercury?", "Who is the CEO of Tesla?",
                                      "When did the Roman Empire fall?"])
def test_model_abstains_where_the_seed_has_no_answer(seed_assistant, question):
    answer = seed_assistant.ask(question)
    assert answer.abstained and not answer.citations


@pytest.mark.parametrize("raw, shown", [("[BSD](LICENSE)", "BSD"), ("The [libsodium-doc", "libsodium-doc"),
                                        ("`libzstd` binary", "libzstd"), ("libzstd` dynamic libraries", "dynamic libraries"),
                                        ("\"quoted\"", "quoted"), ("f(x) grows", "f(x) grows")])
def test_the_models_span_is_shown_without_the_markdown_it_cut(raw, shown):
    """The model reads raw markdown and its span may start or end inside a link or code span
    (README.md files): what leads the answer is the words, offsets still exact."""
    from rag.reader.ranking import _without_markup

    text = "Intro. " + raw + " tail"
    a, b = _without_markup(text, 7, 7 + len(raw))
    assert text[a:b] == shown
