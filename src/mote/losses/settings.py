"""The loss settings of one task, shared by training (``tasks.<task>`` in a training config) and by the merge
probe (each probe task is scored with its training objective): one declaration, checked once."""

from __future__ import annotations

from pydantic import Field, model_validator

from mote._errors import unknown_name
from mote._yaml import StrictModel

DEFAULT_TEMPERATURE = 0.05
SETTING_KEYS = ("loss", "scored_loss", "temperature")


class LossSettings(StrictModel):
    """Which loss a task's rows get, and at which temperature."""

    loss: str = Field("infonce", description="infonce for pairs/triplets; cosent or angle for scored pairs.")
    scored_loss: str = Field("cosent", description="Loss used for this task's datasets that carry a score.")
    temperature: float = Field(DEFAULT_TEMPERATURE, gt=0,
                               description="Contrastive temperature (logit scale = 1/temperature; CoSENT/AnglE scale).")

    @model_validator(mode="after")
    def _known_losses(self) -> LossSettings:
        from mote.losses import LOSSES

        for name in (self.loss, self.scored_loss):
            if name not in LOSSES:
                raise unknown_name("loss", name, LOSSES)
        return self
