"""Text written to steer an assistant: the pattern ingest flags a document by (`SourceInfo.suspicious`)
and the summarizer never quotes. It judges sentences only; it does not read files or answers.

A phrase counts only when it is an instruction addressed to an assistant or a model: an override
of its instructions ("ignore all previous instructions"), a demand for its prompt or configuration
("reveal the system prompt"), words telling it what it is or how to answer every question
("you are now an AI", "from now on answer...", "whatever the question, answer..."), or a line
addressed to it ("Assistant: you must..."). Ordinary prose that only reports speech ("they say
that...", "the password is changed with passwd") is not: issue 18 found "say that" flagging
base-passwd's and zlib's manuals. Measured with bench/suspicious_false_positives.py over the
files of /usr/share/doc (0 flagged; see BENCHMARKS.md), and tests/test_suspicious.py keeps
every poison of the hostile-input tests flagged.
"""

from __future__ import annotations

import re

_PREVIOUS = r"(?:all |any |every )?(?:of )?(?:the |your |my |these |those )?(?:previous|prior|above|earlier|preceding|original|initial|old)"
_RULES = r"(?:instructions?|prompts?|directions|directives|rules|guidelines|commands|context)"
_MODEL = r"(?:ai|a\.i\.|assistant|chatbot|chat ?bot|language model|llm|large language model|gpt|chatgpt)"

_ALTERNATIVES = [
    # overriding what the assistant was told
    rf"(?:ignore|disregard|forget|override|bypass) {_PREVIOUS} {_RULES}",
    rf"(?:ignore|disregard|forget) (?:all|everything) (?:you (?:were|have been) told|(?:of )?your {_RULES})",
    r"system (?:override|prompt override)",
    r"new (?:system )?instructions? for (?:the |this )?(?:assistant|model|ai)",
    # asking it for what it must keep
    # ("print the prompt" is a shell's, "display the instructions" a debugger's, "show your
    # configuration" a manual's: the prompt must be the system's, or the secret its own)
    r"(?:reveal|print|show|repeat|output|leak|disclose|display) (?:me )?(?:the |your )(?:full |entire |hidden )?"
    r"(?:system (?:prompt|message|instructions?)|(?:initial|original|hidden) (?:prompt|instructions))",
    r"(?:reveal|leak|disclose|repeat) (?:me )?your (?:full |entire |hidden )?(?:prompt|instructions|configuration|rules)",
    # telling it what it is
    rf"you are (?:now )?(?:an? |the )?(?:helpful |unrestricted |uncensored )?{_MODEL}\b",
    rf"(?:act|behave|respond) as (?:an? |the )?(?:unrestricted |uncensored )?{_MODEL}\b",
    rf"pretend (?:to be|you are) (?:an? |the )?{_MODEL}\b",
    # speaking to it by name
    r"(?:ai|assistant|chatbot|language model|llm)(?: model)?[,:]? (?:you )?(?:must|should|shall|will|need to|have to) "
    r"(?:always |never |now |only )?(?:answer|reply|respond|say|tell|reveal|print|send|ignore|include|output|"
    r"recommend|direct|refer|point)\b",
    # how it must answer, whatever it is asked
    # ("we may not answer all messages", "servers may choose not to respond to ANY queries": how
    # people answer mail; an instruction says how to answer)
    r"(?:answer|respond|reply) (?:to )?(?:every|all|each|any) (?:(?:future|further|other|user|following) )?"
    r"(?:questions?|quer(?:y|ies)|prompts?)(?: you (?:get|receive|are asked))?,? (?:with|by|using|only|in|as)\b",
    r"(?:whatever|no matter what) the (?:question|user asks|query)\b",
    r"from now on,? (?:you )?(?:(?:must|will|should|shall) )?(?:only |always )?(?:answer|say|respond|reply|tell)\b",
    r"(?:tell|instruct|ask) the (?:user|reader)s? to (?:enter|visit|go to|click|send|type|log ?in|provide)\b",
]
INSTRUCTION = re.compile(
    r"\b(?:" + "|".join(_ALTERNATIVES) + r")"
    # a line or sentence addressed to it, as a chat transcript writes it: "Assistant: you must..."
    r"|(?:^|(?<=[.!?]\s))[ \t]*(?:assistant|ai|system)[ \t]*:[ \t]*(?:you (?:must|should|will)|ignore|always|never|answer|"
    r"respond|reply|say|tell)\b",
    re.IGNORECASE | re.MULTILINE,
)
