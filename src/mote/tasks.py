"""The task table: task name -> expert index, instruction prefix, and the MTEB task types it serves.

This is the only place route keys exist. A :class:`TaskSet` is an ordered tuple of :class:`TaskSpec`;
the expert index of a task is its position in the set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mote._errors import unknown_name

# MTEB task types (mteb 2 ``TaskMetadata.type``) grouped by the role they play.
RETRIEVAL_TYPES = ("Retrieval", "Reranking", "InstructionRetrieval", "InstructionReranking")
ROLES = ("query", "document")


class TaskSpec(BaseModel):
    """One task: its name (the route key), instruction prefix and the MTEB inputs it serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Route key, lower-case identifier, e.g. 'query'.")
    instruction: str = Field(default="", description="Prefix prepended to every input of this task.")
    mteb: tuple[str, ...] = Field(
        default=(),
        description="MTEB inputs this task serves: a task type ('STS') or 'Type:role' ('Retrieval:query').",
    )
    serves: tuple[str, ...] = Field(
        default=(),
        description="Out-of-scope MTEB task types this task serves besides its own (also listed in `mteb`); "
        "dense models get a prompt named by each, so they route them like the MoTE model.",
    )

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not v or not v.replace("_", "").replace("-", "").isalnum() or v.lower() != v:
            raise ValueError(
                f"Task name {v!r} is not allowed: use a non-empty lower-case identifier "
                "(letters, digits, '-' or '_'), e.g. 'query'."
            )
        return v


DEFAULT_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="query",
        instruction="search_query: ",
        mteb=tuple(f"{t}:query" for t in RETRIEVAL_TYPES),
    ),
    TaskSpec(
        name="document",
        instruction="search_document: ",
        mteb=tuple(f"{t}:document" for t in RETRIEVAL_TYPES),
    ),
    TaskSpec(
        name="similarity",
        instruction="similarity: ",
        mteb=("STS", "PairClassification", "Summarization", "BitextMining"),
    ),
    TaskSpec(
        name="classification",
        instruction="classification: ",
        mteb=("Classification", "MultilabelClassification"),
    ),
    TaskSpec(name="clustering", instruction="clustering: ", mteb=("Clustering",)),
)


# Named instruction sets: task -> prefix (tasks a set does not name get no prefix).
INSTRUCTION_SETS: dict[str, dict[str, str]] = {
    "none": {},
    # mote's own prefixes (nomic-embed style task names); the MoTE paper trains with task instructions
    "mote": {t.name: t.instruction for t in DEFAULT_TASKS},
    # E5 (Wang et al. 2022, "Text Embeddings by Weakly-Supervised Contrastive Pre-training"): "query: " and
    # "passage: " for retrieval; symmetric tasks (similarity, classification, clustering) use "query: "
    "e5": {"query": "query: ", "document": "passage: ", "similarity": "query: ", "classification": "query: ",
           "clustering": "query: "},
}
AUTO = "auto"
# names a base model's sentence-transformers prompts may use for our tasks
PROMPT_ALIASES = {"passage": "document", "corpus": "document", "search_query": "query", "search_document": "document",
                  "sts": "similarity"}
InstructionChoice = str | Mapping[str, str]


def instruction_set_names() -> list[str]:
    return [AUTO, *INSTRUCTION_SETS]


def resolve_instructions(
    choice: InstructionChoice | bool, names: Sequence[str], base_prompts: Mapping[str, str] | None = None
) -> tuple[dict[str, str], str]:
    """The prefix of each task in ``names`` for an instruction choice, and a one-line account of it.

    ``choice``: ``"auto"`` (the base's own prompts, from its sentence-transformers config, mapped to our task
    names; none when it declares none), ``"none"``, a named set (:data:`INSTRUCTION_SETS`), or a mapping
    task -> prefix (custom). ``True``/``False`` mean ``"mote"``/``"none"`` (the boolean setting of earlier
    versions, where ``True`` was the default).
    ``base_prompts``: the base model's ``prompts`` (``SentenceTransformer.prompts``), read by ``auto`` only.
    """
    if isinstance(choice, bool):
        choice = "mote" if choice else "none"
    if isinstance(choice, Mapping):
        extra = sorted(set(choice) - set(names))
        if extra:
            raise unknown_name("task in the custom instruction set", extra[0], list(names))
        return {n: str(choice.get(n, "")) for n in names}, "custom"
    if choice == AUTO:
        declared: dict[str, str] = {}
        for key, prefix in (base_prompts or {}).items():
            task = key if key in names else PROMPT_ALIASES.get(key.lower(), "")
            if task in names and prefix and task not in declared:
                declared[task] = prefix
        if not declared:
            return {n: "" for n in names}, "auto: none (the base declares no prompts)"
        return {n: declared.get(n, "") for n in names}, f"auto: the base's prompts {sorted(declared)}"
    if choice not in INSTRUCTION_SETS:
        raise unknown_name("instruction set", choice, instruction_set_names(),
                           "Or give a mapping task -> prefix (a custom set).")
    table = INSTRUCTION_SETS[choice]
    return {n: table.get(n, "") for n in names}, choice


class TaskSet(BaseModel):
    """An ordered set of tasks; expert ``i`` serves ``tasks[i]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tasks: tuple[TaskSpec, ...] = Field(default=DEFAULT_TASKS, min_length=1)
    default_task: str | None = Field(
        default=None,
        description="Route used when encode() gets no task. None: a missing task is an error.",
    )

    @model_validator(mode="after")
    def _check(self) -> TaskSet:
        names = [t.name for t in self.tasks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"Task names must be unique; got duplicates {dup} in {names}.")
        if self.default_task is not None and self.default_task not in names:
            raise unknown_name("default_task", self.default_task, names)
        seen: dict[str, str] = {}
        for t in self.tasks:
            for key in t.mteb:
                if key in seen:
                    raise ValueError(
                        f"MTEB input {key!r} is mapped to both {seen[key]!r} and {t.name!r}; "
                        "map each MTEB task type/role to one task."
                    )
                seen[key] = t.name
        return self

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_names(
        cls,
        names: Sequence[str] | None = None,
        instructions: Mapping[str, str] | None = None,
        default_task: str | None = None,
        serves: Mapping[str, Sequence[str]] | None = None,
        instruction_set: InstructionChoice | bool | None = None,
        base_prompts: Mapping[str, str] | None = None,
    ) -> TaskSet:
        """Build a set from task names; known names keep their MTEB mapping.

        Prefixes: ``instruction_set`` (see :func:`resolve_instructions`; ``base_prompts`` is read by
        ``"auto"``), else the known tasks' default (mote) prefixes; ``instructions`` (task -> prefix) then
        overrides single tasks. ``serves`` maps a task to extra (out-of-scope) MTEB task types it serves,
        e.g. ``{"classification": ["STS"]}`` for a set without a similarity task."""
        defaults = {t.name: t for t in DEFAULT_TASKS}
        names = list(names) if names else list(defaults)
        instructions = dict(instructions or {})
        extra = set(instructions) - set(names)
        if extra:
            raise unknown_name("task in instructions", sorted(extra)[0], names)
        serves = {k: tuple(v) for k, v in (serves or {}).items()}
        if set(serves) - set(names):
            raise unknown_name("task in serves", sorted(set(serves) - set(names))[0], names)
        chosen = resolve_instructions(instruction_set, names, base_prompts)[0] if instruction_set is not None else {}
        specs = []
        for n in names:
            base = defaults.get(n, TaskSpec(name=n))
            if n in chosen:
                base = base.model_copy(update={"instruction": chosen[n]})
            if n in instructions:
                base = base.model_copy(update={"instruction": instructions[n]})
            if n in serves:
                added = tuple(k for k in serves[n] if k not in base.mteb)
                base = base.model_copy(update={"mteb": base.mteb + added, "serves": added})
            specs.append(base)
        return cls(tasks=tuple(specs), default_task=default_task)

    # -- queries -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]

    def __len__(self) -> int:
        return len(self.tasks)

    def index(self, task: str | None) -> int:
        """Expert index of ``task``; ``None`` uses ``default_task`` or raises."""
        name = self.resolve(task)
        return self.names.index(name)

    def resolve(self, task: str | None) -> str:
        if task is None:
            if self.default_task is None:
                raise ValueError(
                    "No task given. This MoTE model routes every input by task: pass task=... "
                    f"(one of {', '.join(self.names)}), e.g. model.encode(texts, task='{self.names[0]}'), "
                    "or set a default_task when up-cycling."
                )
            return self.default_task
        if task not in self.names:
            raise unknown_name("task", task, self.names, "Pass one of these as task=....")
        return task

    def indices(self, tasks: str | Iterable[str | None] | None, n: int) -> list[int]:
        """Expert index per example: one task for all ``n`` inputs, or one task per input."""
        if tasks is None or isinstance(tasks, str):
            return [self.index(tasks)] * n
        idx = [self.index(t) for t in tasks]
        if len(idx) != n:
            raise ValueError(f"Got {len(idx)} tasks for {n} inputs; give one task, or one per input.")
        return idx

    def instruction(self, task: str | None) -> str:
        return self.tasks[self.index(task)].instruction

    @property
    def instructed(self) -> bool:
        """Whether any task has a prefix."""
        return any(t.instruction for t in self.tasks)

    def prompts(self) -> dict[str, str]:
        """sentence-transformers prompts: one per task, named like the task, and one per out-of-scope MTEB
        type a task serves (named by the type, e.g. ``"STS"``), which mteb's prompt lookup finds first."""
        out = {t.name: t.instruction for t in self.tasks}
        out.update({key: t.instruction for t in self.tasks for key in t.serves})
        return out

    def for_mteb(self, task_type: str, role: str | None) -> str:
        """Task serving an MTEB task type and (for retrieval-like types) the query/document role.

        Never falls back silently: an unmapped type raises, naming the mapping to add.
        """
        keys = [f"{task_type}:{role}"] if role else []
        keys.append(task_type)
        for t in self.tasks:
            if any(k in t.mteb for k in keys):
                return t.name
        if self.default_task is not None:
            return self.default_task
        mapped = sorted(k for t in self.tasks for k in t.mteb)
        raise ValueError(
            f"No task of {self.names} serves MTEB input {keys[0]!r}. Mapped inputs: {mapped}. "
            f"Add {keys[0]!r} to one task's 'mteb' list, or set default_task."
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
