"""The targets the methods are measured against, checked on a pipeline's results (met or not, honestly).

1. MoTE >= the best dense rival + 1.0 on the in-domain mean and on the unseen mean;
2. Self Positioning >= joint training + 1.0 (the best dense rival: the strongest joint variant);
3. a dense model folded from MoTE keeps >= 70 % of MoTE's gain over the best dense rival;
4. no trained variant below the base on the unseen mean.

Every check reads the split means (means over task types, mean over seeds) and, where the run saved
per-item records, the paired bootstrap interval of the difference (:mod:`mote.pipeline.intervals`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mote.pipeline.intervals import best_dense
from mote.pipeline.variants import trained

# every trained MoTE variant of the matrix (a variant added there is held to the target with no edit here)
MOTE_VARIANTS = trained("mote")
SP_VARIANTS = ("separate-sp", "separate-sp-layer", "mote-sp", "mote-sp-layer")
MARGIN = 1.0
KEEP = 0.7
DOMAINS = ("in-domain", "unseen")


def check_targets(means: Mapping[str, Mapping[str, float]], sources: Mapping[str, str | None],
                  rivals: Mapping[str, str] | None = None, cis: Mapping[str, Any] | None = None
                  ) -> list[dict[str, Any]]:
    """One row per (target, variant): the measured value, the threshold and whether it is met.

    ``means``: variant -> domain -> mean over task types; ``sources``: variant -> the variant it was derived
    from (folded models); ``rivals``: domain -> the best dense rival (default:
    :func:`mote.pipeline.intervals.best_dense` of ``means``); ``cis``:
    :func:`mote.pipeline.intervals.compare`'s result, for the intervals."""
    rows: list[dict[str, Any]] = []
    if rivals is None:
        rivals = {d: r for d in DOMAINS if (r := best_dense(means, d)) is not None}
    rival = {d: rivals[d] for d in DOMAINS if d in rivals}

    def interval(variant: str, domain: str) -> dict[str, Any] | None:
        v = (cis or {}).get("variants", {}).get(variant, {}).get("best dense", {}).get("means", {}).get(domain)
        return dict(v) if v and v.get("against") == rival.get(domain) else None

    for label, variants in (("MoTE >= best dense", MOTE_VARIANTS), ("Self Positioning >= joint", SP_VARIANTS)):
        for v in variants:
            for d in DOMAINS:
                if v in means and d in means[v] and d in rival:
                    gap = means[v][d] - means[rival[d]][d]
                    rows.append({"target": f"{label} + {MARGIN:.1f} ({d})", "variant": v, "against": rival[d],
                                 "value": gap, "threshold": MARGIN, "met": gap >= MARGIN,
                                 "interval": interval(v, d)})
    for v, src in sources.items():
        if src not in MOTE_VARIANTS or v not in means or src not in means:
            continue
        for d in DOMAINS:
            if d not in means[v] or d not in means[src] or d not in rival:
                continue
            gain = means[src][d] - means[rival[d]][d]
            kept = (means[v][d] - means[rival[d]][d]) / gain if gain > 0 else None
            rows.append({"target": f"folded keeps >= {KEEP:.0%} of MoTE's gain ({d})", "variant": v,
                         "against": f"{src} vs {rival[d]}", "value": kept, "threshold": KEEP,
                         "met": kept is not None and kept >= KEEP,
                         "note": (f"of {src}'s gain {gain:+.2f} over {rival[d]}" if gain > 0
                                  else f"{src} has no gain over {rival[d]} here ({gain:+.2f})")})
    base = means.get("base", {}).get("unseen")
    if base is not None:
        for v, m in means.items():
            if v != "base" and "unseen" in m:
                gap = m["unseen"] - base
                rows.append({"target": "not below the base (unseen)", "variant": v, "against": "base", "value": gap,
                             "threshold": 0.0, "met": gap >= 0.0, "interval": _base_interval(cis, v)})
    return rows


def _base_interval(cis: Mapping[str, Any] | None, variant: str) -> dict[str, Any] | None:
    v = (cis or {}).get("variants", {}).get(variant, {}).get("base", {}).get("means", {}).get("unseen")
    return dict(v) if v else None


def _value(row: Mapping[str, Any]) -> str:
    if row["value"] is None:
        return "–"
    return f"{row['value']:.0%}" if "folded" in row["target"] else f"{row['value']:+.2f}"


def markdown(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    lines = ["## Targets", "", "Measured against the targets of the methods (means over task types, mean over seeds; "
             "interval: paired bootstrap 95 %, ✓ resolved).", "",
             "| target | variant | against | value | met | interval |", "|---|---|---|---:|---|---|"]
    for r in rows:
        value = _value(r)
        iv = r.get("interval")
        cell = (f"[{iv['low']:+.2f}, {iv['high']:+.2f}]{' ✓' if iv['resolved'] else ''}" if iv
                else (r.get("note") or ""))
        lines.append(f"| {r['target']} | {r['variant']} | {r['against']} | {value} | {'yes' if r['met'] else 'no'} | "
                     f"{cell} |")
    return "\n".join(lines) + "\n"
