"""Map an MTEB input (task metadata + query/document role) to what our model runs: expert and instruction.

* MoTE models route through their own task table (``mote_model(st).config.tasks``): the task serving the
  MTEB type/role gives both the expert and the instruction prefix; an unmapped type raises. The prefix is
  the one ``st.encode(texts, task=...)`` applies (:func:`mote.model.hf.task_instruction`: the saved prompt
  of the task's name, else the task table's), unless an explicit ``task_set`` is given.
* Dense models (base, averaged, merged) have no experts. With an explicit ``task_set`` they route like a
  MoTE model (instruction only). Otherwise the instruction comes from the model's saved prompts: first by
  MTEB's own precedence (task name-role, task name, type-role, type, role), then by the default task table
  when the prompts are named like our tasks ("similarity", "classification", ...). No matching prompt
  means no prefix, which is how a plain model such as all-MiniLM-L6-v2 was evaluated on the leaderboard.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models.abs_encoder import get_prompt_name
from mteb.types import PromptType
from sentence_transformers import SentenceTransformer

from mote.model.hf import task_instruction
from mote.model.sentence import is_mote, mote_model
from mote.tasks import DEFAULT_TASKS, TaskSet


@dataclass(frozen=True)
class TaskRoute:
    """What one encode call runs: the MoTE expert (``None`` for dense models) and the instruction prefix."""

    task: str | None
    instruction: str
    source: str  # how it was chosen: "mote", "task-set", "prompt:<name>" or "none"

    @property
    def key(self) -> str:
        """Short, file-name-safe identity of the route (used in cache keys)."""
        digest = hashlib.sha256(self.instruction.encode()).hexdigest()[:8]
        return f"{self.task or 'dense'}-{digest}"


def role_of(prompt_type: PromptType | None) -> str | None:
    return prompt_type.value if prompt_type is not None else None


class Router:
    """Resolves routes for one model; build it with :meth:`for_model`."""

    def __init__(
        self,
        *,
        mote_tasks: TaskSet | None = None,
        task_set: TaskSet | None = None,
        prompts: dict[str, str] | None = None,
        instructions: dict[str, str] | None = None,
    ) -> None:
        self.mote_tasks = mote_tasks
        self.task_set = task_set
        self.prompts = dict(prompts or {})
        self.instructions = dict(instructions or {})  # MoTE: task -> prefix, overriding the task table

    @classmethod
    def for_model(cls, model: SentenceTransformer, task_set: TaskSet | None = None) -> Router:
        prompts = {k: v for k, v in (model.prompts or {}).items() if isinstance(v, str) and v}  # "" = no prompt
        if not is_mote(model):
            return cls(task_set=task_set, prompts=prompts)
        own = mote_model(model).config.tasks
        if task_set is not None and task_set.names != own.names:
            raise ValueError(
                f"task_set names {task_set.names} differ from this MoTE model's tasks {own.names}; "
                "a MoTE model routes through its own task table, so leave task_set unset."
            )
        if task_set is not None:  # explicit: its instructions
            return cls(mote_tasks=task_set)
        return cls(mote_tasks=own, instructions={n: task_instruction(model, n) for n in own.names})

    def route(self, task_metadata: TaskMetadata, prompt_type: PromptType | None) -> TaskRoute:
        role = role_of(prompt_type)
        if self.mote_tasks is not None:
            name = self.mote_tasks.for_mteb(task_metadata.type, role)
            return TaskRoute(name, self.instructions.get(name, self.mote_tasks.instruction(name)), "mote")
        if self.task_set is not None:
            name = self.task_set.for_mteb(task_metadata.type, role)
            return TaskRoute(None, self.task_set.instruction(name), "task-set")
        return self._from_prompts(task_metadata, prompt_type)

    def _from_prompts(self, task_metadata: TaskMetadata, prompt_type: PromptType | None) -> TaskRoute:
        if not self.prompts:
            return TaskRoute(None, "", "none")
        name = get_prompt_name(self.prompts, task_metadata, prompt_type)
        if name is None:
            name = self._default_table_prompt(task_metadata.type, role_of(prompt_type))
        if name is None:
            return TaskRoute(None, "", "none")
        return TaskRoute(None, self.prompts[name], f"prompt:{name}")

    def _default_table_prompt(self, task_type: str, role: str | None) -> str | None:
        names = [t.name for t in DEFAULT_TASKS if t.name in self.prompts]
        if not names:
            return None
        table = TaskSet.from_names(names, instructions={n: self.prompts[n] for n in names})
        try:
            return table.for_mteb(task_type, role)
        except ValueError:
            return None
