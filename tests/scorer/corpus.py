"""The scorer tests' own tiny corpus, and real indexes built from it with the default build.

N = 14 documents. What the name rule finds in each (sentence-initial single words are skipped,
numbers never glue, a quoted title is one name, inner names of a longer name count too):

q0   "In 1975, Bill Gates founded Microsoft in Albuquerque."     1975 Bill Gates Microsoft Albuquerque
q1   "Later, Microsoft moved to Seattle."                        Microsoft Seattle
q2   "The capital of France is Paris."                           France Paris
q3   "Tourists visit Paris and Lyon in France."                  Paris Lyon France
q4   'In 1973, the band Pink Floyd released "The Dark Side of the Moon".'
                                                                  1973 Pink Floyd, the title (key drops "The")
q5   "Republican Erik Paulsen represents a district in Minnesota."
                                                                  Republican Erik Paulsen (+ inner: Republican Erik,
                                                                  Erik Paulsen) Minnesota
q6   "In 213, the army of Hannibal crossed the river."            213 Hannibal
q7   "The trail near Lyon is 6.213 km long."                     Lyon (no 213: a decimal holds no number)
q8   "A helicopter flew over Chicago."                           Chicago (helicopter: a lowercase use)
q9   "The helicopter landed."                                    (a lowercase use of helicopter)
q10  "Fans saw a Helicopter near Chicago."                       Helicopter Chicago
q11  "The novels of Thomas Dixon Jr. were popular."              Thomas Dixon Jr (+ inner: Thomas Dixon, Dixon Jr)
q12  "Officials in Lyon said " + 12 words + " about Seattle."   Lyon@2 Seattle@18: 16 tokens apart
q13  "Nothing to see here."                                      (no name)

Documents per name: Lyon 3 (q3 q7 q12); Microsoft, Paris, France, Seattle, Chicago 2; every other 1.
Helicopter: 1 document as a name, 2 lowercase uses: a common word.
Pairs, window 10: Paris-France 2 (q2, q3), Paris-Lyon 1, Lyon-France 1, Bill Gates-Microsoft 1,
Microsoft-Seattle 1, Pink Floyd-title 1, Republican Erik Paulsen-Minnesota 1, Lyon-Seattle 0 (16 apart;
1 with the whole-document window), France-Bill Gates 0. Inner names count for documents and mentions
but pair only where written on their own: Erik Paulsen-Minnesota 0.
"""

from __future__ import annotations

import json
from pathlib import Path

TWELVE = "one two three four five six seven eight nine ten eleven twelve"
DOCS = [
    "In 1975, Bill Gates founded Microsoft in Albuquerque.",
    "Later, Microsoft moved to Seattle.",
    "The capital of France is Paris.",
    "Tourists visit Paris and Lyon in France.",
    'In 1973, the band Pink Floyd released "The Dark Side of the Moon".',
    "Republican Erik Paulsen represents a district in Minnesota.",
    "In 213, the army of Hannibal crossed the river.",
    "The trail near Lyon is 6.213 km long.",
    "A helicopter flew over Chicago.",
    "The helicopter landed.",
    "Fans saw a Helicopter near Chicago.",
    "The novels of Thomas Dixon Jr. were popular.",
    f"Officials in Lyon said {TWELVE} words about Seattle.",
    "Nothing to see here.",
]
N_DOCS = len(DOCS)

#: a gazetteer for the alias tests (TSV: name, aliases, label)
GAZETTEER = "name\taliases\tlabel\nMicrosoft\tMSFT|Microsoft Corporation\tORG\nBill Gates\tWilliam H. Gates\tPERSON\n"
#: documents that write the aliases (added to DOCS for the gazetteer index)
ALIAS_DOCS = ["Shares of MSFT rose in Seattle.", "The Microsoft Corporation hired William H. Gates in Albuquerque."]


def write_docs(path: Path, docs: list[str] = DOCS) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{i}", "text": t}) + "\n" for i, t in enumerate(docs)),
                    encoding="utf-8")
    return path


def build(docs_file: Path, output: Path, window: int = 10, **kwargs) -> Path:
    """A real index of `docs_file` (the default one-pass build unless kwargs say otherwise)."""
    from cooc.indexer.build import BuildConfig, build_index

    build_index(BuildConfig([str(docs_file)], output, window=window, progress=False, **kwargs))
    return output
