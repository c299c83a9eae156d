"""QA sets -> metrics: what `rag eval` runs. Reads the four formats the README describes under
"Evaluation": a JSONL set of questions (the one shipped in rag/examples/, or the development sets'
seed_dev.jsonl), a SQuAD 2.0 sample, a HotpotQA sample, and a corpus with questions (news2023).

Metrics
- accuracy: answerable questions whose answer contains a gold answer (normalised text).
- citation correctness: answered answerable questions with a citation whose quote equals the
  stored source text at [start, end) and which holds the gold evidence (seed: the `support`
  words; SQuAD/HotpotQA: a gold answer, in the question's own paragraph).
- abstention accuracy: unanswerable questions that abstain; false abstention: answerable ones that do.
- hit@1 / hit@5: the gold paragraph (for the seed, a passage with the support words; for news2023,
  a passage holding a gold answer) is among the top 1 / 5 retrieved passages.
- with an LLM: the share of answers holding a sentence the model wrote (not quoted), and how
  often those written sentences alone contain a gold answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import string
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class QAItem:
    turns: tuple[str, ...]  # earlier questions, then the one scored
    answers: tuple[tuple[str, ...], ...] = ()  # groups: each group needs one match; empty when unanswerable
    abstain: bool = False
    support: str = ""  # words the cited passage should contain (seed set)
    gold_text: str = ""  # the paragraph that answers (SQuAD / HotpotQA)
    wrong: str = ""  # a hallucinated answer that must not appear (HotpotQA)

    @property
    def question(self) -> str:
        return self.turns[-1]


@dataclass
class QASet:
    name: str
    items: list[QAItem]
    corpus: list[str] = field(default_factory=list)  # paragraph texts; empty: use the seed folder
    seed_dir: Path | None = None

    def corpus_paths(self, index_dir: Path) -> list[Path]:
        """Files to ingest for this set: the seed folder, or the paragraphs written out once."""
        if not self.corpus:
            from .config import package_data

            return [self.seed_dir or package_data("seeds")]
        folder = index_dir / f"eval-corpus-{self.name}"
        folder.mkdir(parents=True, exist_ok=True)
        for text in self.corpus:
            path = folder / f"{_digest(text)}.txt"
            if not path.exists():
                path.write_text(text, encoding="utf-8")
        return [folder]


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def load_qa_set(path: Path, seed_dir: Path | None = None) -> QASet:
    path = Path(path)
    if path.is_dir():
        if (path / "queries.json").exists():
            return _load_squad(path)
        if (path / "qa_one-turn_data.json").exists():
            return _load_hotpot(path / "qa_one-turn_data.json")
        if (path / "corpus.jsonl").exists() and (path / "questions.jsonl").exists():
            return _load_corpus_set(path)
        raise ValueError("folder holds none of queries.json (SQuAD), qa_one-turn_data.json (HotpotQA), "
                         "corpus.jsonl + questions.jsonl (news2023)")
    if path.name == "queries.json":
        return _load_squad(path.parent)
    if path.name == "qa_one-turn_data.json":
        return _load_hotpot(path)
    return _load_seed(path, seed_dir)


def _load_seed(path: Path, seed_dir: Path | None) -> QASet:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        turns = tuple(row.get("turns") or [row["q"]])
        items.append(QAItem(turns=turns, answers=tuple(tuple(g) for g in row.get("all", [])),
                            abstain=bool(row.get("abstain")), support=row.get("support", "")))
    return QASet(name=path.stem, items=items, seed_dir=seed_dir)


def _load_corpus_set(folder: Path) -> QASet:
    """A corpus of web pages (`corpus.jsonl`: id, title, url, text) and seed-format questions.
    Each page becomes one document whose first line is its title, as a saved web page reads."""
    corpus = []
    for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            title = " ".join((row.get("title") or "").split())
            corpus.append(f"{title}\n\n{row['text']}" if title else row["text"])
    qa = _load_seed(folder / "questions.jsonl", None)
    return QASet(name=folder.name, items=qa.items, corpus=list(dict.fromkeys(corpus)))


def _load_squad(folder: Path) -> QASet:
    queries = json.loads((folder / "queries.json").read_text(encoding="utf-8"))["queries"]
    truth = json.loads((folder / "ground_truth.json").read_text(encoding="utf-8"))
    items, corpus = [], {}
    for q in queries:
        t = truth[q["id"]]
        corpus.setdefault(q["context"], None)
        items.append(QAItem(turns=(q["question"],), answers=() if t["is_impossible"] else (tuple(t["answers"]),),
                            abstain=bool(t["is_impossible"]), gold_text=q["context"]))
    return QASet(name="squad2", items=items, corpus=list(corpus))


def _load_hotpot(path: Path) -> QASet:
    items, corpus = [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        corpus.setdefault(row["knowledge"], None)
        items.append(QAItem(turns=(row["question"],), answers=((row["right_answer"],),),
                            gold_text=row["knowledge"], wrong=row.get("hallucinated_answer", "")))
    return QASet(name="hotpotqa", items=items, corpus=list(corpus))


def normalize(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation + "“”‘’"))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains(haystack: str, needle: str) -> bool:
    n = normalize(needle)
    return bool(n) and n in normalize(haystack)


@dataclass
class EvalResult:
    name: str
    n: int
    answerable: int
    unanswerable: int
    correct: int = 0
    cited_ok: int = 0
    answered: int = 0  # answerable questions that did not abstain
    abstained_ok: int = 0
    false_abstain: int = 0
    hit1: int = 0
    hit5: int = 0
    lead_ok: int = 0  # answerable questions whose answer's first sentence (the lead) holds the gold answer
    first_quote_ok: int = 0  # ... whose first cited sentence does
    hallucinated: int = 0
    supported_sentences: int = 0
    sentences: int = 0
    written: int = 0  # answerable questions whose answer has a sentence an LLM wrote
    written_correct: int = 0  # ... whose LLM-written sentences alone contain the gold answer
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        def ratio(a, b):
            return round(a / b, 3) if b else None

        lat = sorted(self.latencies_ms)
        return {
            "set": self.name, "questions": self.n, "answerable": self.answerable, "unanswerable": self.unanswerable,
            "accuracy": ratio(self.correct, self.answerable),
            "citation_correctness": ratio(self.cited_ok, self.answered),
            "abstention_accuracy": ratio(self.abstained_ok, self.unanswerable),
            "false_abstention": ratio(self.false_abstain, self.answerable),
            "hit@1": ratio(self.hit1, self.answerable), "hit@5": ratio(self.hit5, self.answerable),
            "lead_correct": ratio(self.lead_ok, self.answerable),
            "first_quote_correct": ratio(self.first_quote_ok, self.answerable),
            "hallucinated_answer_shown": ratio(self.hallucinated, self.answerable) if self.name == "hotpotqa" else None,
            "supported_sentence_share": ratio(self.supported_sentences, self.sentences),
            "llm_sentence_answers": ratio(self.written, self.answered) if self.written else None,
            "llm_sentences_alone_correct": ratio(self.written_correct, self.written),
            "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
            "latency_ms_p95": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1) if lat else None,
        }

    def summary(self) -> str:
        return "\n".join(f"{k:>26}: {v}" for k, v in self.to_dict().items() if v is not None)


def run_eval(assistant, qa: QASet, limit: int | None = None) -> EvalResult:
    items = qa.items[:limit] if limit else qa.items
    res = EvalResult(name=qa.name, n=len(items), answerable=sum(not i.abstain for i in items),
                     unanswerable=sum(i.abstain for i in items))
    texts: dict[str, str] = {}

    def source_text(source: str) -> str:
        if source not in texts:
            doc = assistant.document(source)
            texts[source] = doc.text if doc else ""
        return texts[source]

    for item in items:
        history: list[tuple[str, str]] = []
        for q in item.turns[:-1]:
            history.append((q, assistant.ask(q, history).text))
        t0 = time.perf_counter()
        answer = assistant.ask(item.question, history)
        res.latencies_ms.append((time.perf_counter() - t0) * 1000)
        res.sentences += len(answer.sentences)
        res.supported_sentences += sum(s.supported for s in answer.sentences)
        if item.abstain:
            res.abstained_ok += answer.abstained
            if not answer.abstained:
                res.failures.append({"q": item.question, "expected": "abstain", "got": answer.text[:200]})
            continue
        ok = all(any(contains(answer.text, a) for a in group) for group in item.answers) and not answer.abstained
        res.correct += ok
        written = " ".join(s.text for s in answer.sentences if not s.quoted)
        if written:
            res.written += 1
            res.written_correct += all(any(contains(written, a) for a in group) for group in item.answers)
        if item.wrong and not answer.abstained and contains(answer.text, item.wrong):
            res.hallucinated += 1
        if not answer.abstained and answer.sentences:
            res.lead_ok += all(any(contains(answer.sentences[0].text, a) for a in g) for g in item.answers)
            res.first_quote_ok += bool(answer.citations) and all(
                any(contains(answer.citations[0].quote, a) for a in g) for g in item.answers)
        if answer.abstained:
            res.false_abstain += 1
        else:
            res.answered += 1
            res.cited_ok += any(_citation_ok(c, item, source_text(c.source)) for c in answer.citations)
        if not ok:
            res.failures.append({"q": item.question, "expected": item.answers, "got": answer.text[:200]})
        query = " ".join(item.turns)
        passages = assistant.retrieve(query if len(item.turns) > 1 else item.question, k=5)
        hits = [_passage_is_gold(p, item, source_text(p.source)) for p in passages]
        res.hit1 += bool(hits[:1] and hits[0])
        res.hit5 += any(hits)
    return res


def _citation_ok(c, item: QAItem, text: str) -> bool:
    if text[c.start:c.end] != c.quote:
        return False
    if item.support:
        return contains(c.quote, item.support)
    return text == item.gold_text and any(contains(c.quote, a) for g in item.answers for a in g)


def _passage_is_gold(p, item: QAItem, text: str) -> bool:
    if item.support:
        return contains(p.text, item.support)
    if item.gold_text:
        return text == item.gold_text
    return any(contains(p.text, a) for g in item.answers for a in g)  # news2023: a page that holds the answer
