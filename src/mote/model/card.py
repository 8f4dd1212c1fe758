"""Model cards for what mote saves, through sentence-transformers' own model-card machinery.

sentence-transformers writes ``README.md`` on every save: it reuses the card a model was loaded with (so an
up-cycled or averaged model would carry the base's card byte for byte) unless the model was trained, and its
generic card neither says how a MoTE model routes nor that mote must be installed. :func:`use_card` gives a
model a card data object of :class:`MoteCardData` (sentence-transformers' class, with a routed usage snippet
for MoTE models) and the facts of what mote did; the save then renders sentence-transformers' template and
:func:`add_mote_section` (called by :func:`write_card` or after ``model.save``) adds one "mote" section:

* MoTE models: the tasks with their instructions and experts, the up-cycled blocks, total vs active
  parameters, how to route (``encode(task=...)``, ``encode_query``), that mote must be installed;
* dense models made by mote (Expert Averaging, merges, joint/separate training): the method, its sources and
  weights or learned coefficients, and that plain sentence-transformers loads them;
* training data and budget, and the scores of evaluation during training (``train.eval``) when it ran.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData

SECTION_START = "<!-- mote:start -->"
SECTION_END = "<!-- mote:end -->"
FACTS_FILE = "mote_card.json"  # the facts the card was made from, machine-readable, beside it

INSTALL = "pip install mote-embeddings"


class MoteCardData(SentenceTransformerModelCardData):  # type: ignore[misc]
    """sentence-transformers' card data; for a MoTE model, the usage snippet routes by task."""

    mote_facts: dict[str, Any]

    def run_usage_snippet(self) -> None:
        if not _is_mote_facts(getattr(self, "mote_facts", {})):
            super().run_usage_snippet()  # a dense model: sentence-transformers' own example runs as is
            return
        # a MoTE model without a default task cannot encode without one: the snippet below passes the task
        self.usage_examples = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]

    def generate_usage_snippet(self) -> str:
        facts = getattr(self, "mote_facts", {})
        if not _is_mote_facts(facts):
            return str(super().generate_usage_snippet())
        return usage_snippet(self.model_id or "path/to/this-model", facts)


def _is_mote_facts(facts: Mapping[str, Any]) -> bool:
    return bool(facts.get("tasks")) and facts.get("kind") == "mote"


def usage_snippet(model_id: str, facts: Mapping[str, Any]) -> str:
    tasks = [t["name"] for t in facts.get("tasks", [])]
    other = next((t for t in tasks if t not in ("query", "document")), tasks[0] if tasks else "similarity")
    lines = [
        "```bash",
        f"{INSTALL}   # the MoTE architecture; sentence-transformers then loads this folder as is",
        "```",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        f'model = SentenceTransformer("{model_id}")',
        "# every input is routed to its task's expert (and gets the task's instruction, if any)",
        f'embeddings = model.encode(["A man is playing a guitar.", "A woman plays the violin."], task="{other}")',
        "print(embeddings.shape)",
    ]
    if "query" in tasks and "document" in tasks:
        lines += [
            'q = model.encode_query(["how do vaccines work?"])                    # the query expert',
            'd = model.encode_document(["Vaccines train the immune system ..."])  # the document expert',
            "print(model.similarity(q, d))",
        ]
    if len(tasks) > 1:
        lines.append(f'mixed = model.encode(["q?", "a text"], task=["{tasks[0]}", "{tasks[1]}"])  # one task per input')
    lines.append("```")
    return "\n".join(lines)


def use_card(model: Any, facts: Mapping[str, Any], model_name: str | None = None) -> None:
    """Give ``model`` mote's card: its next ``save`` renders a fresh card, not the one it was loaded with."""
    # a copy of its own (a model made by copy.copy shares its source's card), of mote's class; every field the
    # card holds (the trainer's included) is kept
    card = copy.copy(model.model_card_data)
    card.__class__ = MoteCardData
    model.model_card_data = card
    card.model = model
    card.mote_facts = dict(facts)
    card.generate_widget_examples = card.generate_widget_examples and not _is_mote_facts(facts)
    base = facts.get("base_model")
    if base and not card.base_model and _looks_like_hub_id(str(base)):
        card.base_model = str(base)
    card.model_name = model_name or facts.get("title") or card.model_name
    tags = list(card.tags or [])
    for tag in ("mote", *facts.get("tags", [])):
        if tag not in tags:
            tags.append(tag)
    card.tags = tags
    card.local_files_only = True  # offline-safe: never ask the Hub about the base model or datasets
    model._model_card_text = None


def _looks_like_hub_id(ref: str) -> bool:
    return ref.count("/") == 1 and not Path(ref).exists() and not ref.startswith((".", "/"))


def mote_section(facts: Mapping[str, Any]) -> str:
    """The card's mote section (markdown), from the facts of what mote did."""
    kind = facts.get("kind")
    out = [SECTION_START, "## mote", ""]
    if kind == "mote":
        tasks = facts.get("tasks", [])
        out += [
            f"A **MoTE (Mixture of Task Experts)** model made with mote: "
            f"the feed-forward block of {len(facts.get('upcycled_layers', []))} of its "
            f"{facts.get('num_layers', '?')} transformer blocks (blocks {facts.get('upcycled_layers')}) holds one "
            f"expert per task. Each input runs through its own task's expert only (no gate), so it computes as "
            f"much as the dense model: {facts.get('active_params', 0):,} active parameters per input of "
            f"{facts.get('total_params', 0):,} in total.",
            "",
            f"**mote must be installed** (`{INSTALL}`): then `SentenceTransformer(path)` and "
            "`transformers.AutoModel.from_pretrained(path)` load this folder as is (mote registers its "
            "architecture when transformers is imported; `import mote` does it explicitly; no remote code). "
            "Pass the task: `model.encode(texts, task=...)`, or one task per input; `encode_query` and "
            "`encode_document` pick the query and document experts."
            + (f" Without a task, inputs go to the default task `{facts['default_task']}`."
               if facts.get("default_task") else " There is no default task: encoding without one is an error."),
            "",
            "| task | expert | instruction (prefixed to the input) |",
            "|---|---:|---|",
            *[f"| `{t['name']}` | {i} | {_code(t.get('instruction'))} |" for i, t in enumerate(tasks)],
            "",
        ]
        if not facts.get("training"):
            out += [
                "This model is **up-cycled and not trained yet**: every expert is a copy of the base's FFN, so each "
                "task's embeddings equal the base model's"
                + (" with the task's instruction prefixed. A base never trained with such prefixes scores lower "
                   "with them until trained (docs/training.md, \"Instruction sets\")."
                   if any(t.get("instruction") for t in tasks) else "."),
                "",
            ]
    elif kind in ("averaged", "merged", "dense"):
        method = facts.get("method", "")
        out += [
            f"A dense model made with mote by **{method}**. It is a "
            "standard sentence-transformers model: plain `SentenceTransformer(path)` loads it, mote not needed.",
            "",
        ]
        if facts.get("sources"):
            out += ["Sources:", "", *[f"- `{s}`" for s in facts["sources"]], ""]
        for key, label in (("weights", "Weights"), ("coefficients", "Learned coefficients"),
                           ("parameters", "Parameters")):
            if facts.get(key):
                out += [f"{label}:", "", "```json", json.dumps(facts[key], indent=1, sort_keys=True,
                                                               default=str)[:4000], "```", ""]
        prompts = facts.get("prompts") or {}
        if any(prompts.values()):
            out += ["Prompts kept (pass `prompt_name=` to `encode`):", "",
                    *[f"- `{k}`: `{v}`" for k, v in prompts.items() if v], ""]
    training = facts.get("training")
    if training:
        out += ["### Training (mote train)", "", "| setting | value |", "|---|---|",
                *[f"| {k} | {_cell(v)} |" for k, v in training.items()], ""]
    evaluation = facts.get("evaluation")
    if evaluation:
        out += ["### Evaluation (mote evaluate, MTEB main scores x100)", "", "| task | score |", "|---|---:|",
                *[f"| {k} | {v:.2f} |" for k, v in evaluation.items()], ""]
    if facts.get("base_model"):
        out += [f"Base model: `{facts['base_model']}`." + (f" mote {facts['mote_version']}."
                                                           if facts.get("mote_version") else ""), ""]
    out.append(SECTION_END)
    return "\n".join(out)


def _code(instruction: str | None) -> str:
    """An instruction as inline code, trailing space and escapes visible ("none" when there is none)."""
    return f"`{repr(instruction)[1:-1]}`" if instruction else "none"


def _cell(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def add_mote_section(folder: str | os.PathLike[str], facts: Mapping[str, Any]) -> None:
    """Put the mote section into ``folder/README.md`` (replacing an earlier one), before "Model Details";
    the facts go to ``mote_card.json`` beside it."""
    readme = Path(folder) / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head.rstrip("\n") + "\n\n" + rest.split(SECTION_END, 1)[1].lstrip("\n")
    section = mote_section(facts) + "\n\n"
    anchor = text.find("## Model Details")
    text = text[:anchor] + section + text[anchor:] if anchor >= 0 else text.rstrip("\n") + "\n\n" + section
    readme.write_text(text, encoding="utf-8")
    (Path(folder) / FACTS_FILE).write_text(json.dumps(dict(facts), indent=2, default=str) + "\n", encoding="utf-8")


def write_card(model: Any, folder: str | os.PathLike[str], facts: Mapping[str, Any],
               model_name: str | None = None) -> None:
    """Render the whole card of ``model`` into ``folder/README.md`` (sentence-transformers' template plus the
    mote section), for folders written without ``model.save`` (merges write their weights directly)."""
    from sentence_transformers.base.model_card import generate_model_card

    use_card(model, facts, model_name)
    model.model_card_data.save_dir = str(folder)
    Path(folder, "README.md").write_text(generate_model_card(model), encoding="utf-8")
    add_mote_section(folder, facts)
