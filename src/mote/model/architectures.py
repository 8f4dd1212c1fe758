"""Where the FFN lives in each supported encoder family: the one per-architecture table."""

from __future__ import annotations

from dataclasses import dataclass

from mote._errors import did_you_mean


@dataclass(frozen=True)
class ArchSpec:
    """Paths, relative to the HF base model, of the transformer blocks and of each block's FFN parts.

    ``ffn`` lists the sub-modules of one block that together form its feed-forward network; each is
    replaced by a bank of per-task experts. Norms and residuals around them stay shared.
    """

    layers: str
    ffn: tuple[str, ...]


_BERT_LIKE = ArchSpec(layers="encoder.layer", ffn=("intermediate", "output.dense"))

ARCHITECTURES: dict[str, ArchSpec] = {
    "bert": _BERT_LIKE,  # BERT, MiniLM, bge, e5, gte-base
    "roberta": _BERT_LIKE,
    "xlm-roberta": _BERT_LIKE,
    "camembert": _BERT_LIKE,
    "electra": _BERT_LIKE,
    "mpnet": _BERT_LIKE,
    "modernbert": ArchSpec(layers="layers", ffn=("mlp",)),
}


def get_arch(model_type: str) -> ArchSpec:
    """The :class:`ArchSpec` of a HF ``model_type``; unsupported types get an error listing the supported."""
    if model_type not in ARCHITECTURES:
        raise ValueError(
            f"Architecture {model_type!r} is not supported for up-cycling. Supported model types: "
            f"{', '.join(sorted(ARCHITECTURES))}.{did_you_mean(model_type, ARCHITECTURES)} "
            "To add one, add a row to mote.model.architectures.ARCHITECTURES naming its block list and FFN "
            "sub-modules."
        )
    return ARCHITECTURES[model_type]
