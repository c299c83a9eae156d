"""Choice ("X or Y?") and yes/no questions of the HotpotQA sample: does the answer lead with the
right option / yes-no, a wrong one, another span, or nothing?

    python bench/choice_questions.py INDEX ../shared/eval/hotpotqa out.json

INDEX holds the HotpotQA corpus already (e.g. the one bench/calibrate_abstention.py builds).
"""
import json, re, sys
from rag import Assistant
from rag.evaluation import normalize
from rag.text import flatten

index, folder, out_path = sys.argv[1:4]
rows = [json.loads(l) for l in open(f"{folder}/qa_one-turn_data.json") if l.strip()]
yn = [r for r in rows if r["right_answer"].lower().strip(". ") in ("yes", "no")]
toks = lambda s: set(normalize(s).split())
ch = [r for r in rows if " or " in r["question"] and r not in yn
      and toks(r["right_answer"]) and len(toks(r["right_answer"]) & toks(r["question"])) >= 0.5 * len(toks(r["right_answer"]))
      and len(r["question"]) < 200]
a = Assistant(index_dir=index, llm="none")

def lead_of(ans):
    if not ans.sentences or ans.abstained:
        return ""
    s0 = flatten(ans.sentences[0].text)
    quotes = {flatten(c.quote) for c in ans.citations}
    return "" if s0 in quotes else s0

out, counts = [], {}
for kind, items in (("choice", ch), ("yesno", yn)):
    c = {"right": 0, "wrong": 0, "other": 0, "none": 0}
    for r in items:
        ans = a.ask(r["question"])
        lead = lead_of(ans)
        gold = r["right_answer"]
        if not lead:
            v = "none"
        elif kind == "yesno":
            yl = lead.lower().rstrip(".").split()[0] if lead else ""
            v = "right" if yl == gold.lower().strip(". ") else ("wrong" if yl in ("yes", "no") else "other")
        else:
            lt = toks(lead)
            if lt and len(lt & toks(gold)) >= 0.5 * len(lt):
                v = "right"
            elif lt and len(lt & toks(r["question"])) >= 0.5 * len(lt):
                v = "wrong"
            else:
                v = "other"
        c[v] += 1
        out.append({"kind": kind, "q": r["question"], "gold": gold, "verdict": v, "lead": lead, "answer": ans.text,
                    "notice": ans.notice, "ncit": len(ans.citations)})
        print(kind, v, "|", r["question"], "=>", gold, "| LEAD:", lead, flush=True)
    counts[kind] = {"n": len(items), **c}
print(json.dumps(counts))
json.dump({"counts": counts, "rows": out}, open(out_path, "w"), indent=1)
