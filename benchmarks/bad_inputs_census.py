"""Census of the bad-input matrix (tests/test_bad_inputs.py): what each case does on the installed mote.

Where the matrix asserts, this script classifies, so one version of mote can be compared with another
(run it with ``PYTHONPATH=<an older checkout>/src`` for the "before" column):

* ``traceback``: a raw traceback (an exception escaped the CLI, "Traceback" was printed, or an API call raised
  a bare KeyError/IndexError/AttributeError/RuntimeError or a non-error exception type);
* ``silent``: the command succeeded (exit 0 / no exception) where an error was due, or an expected success
  (exit 0 case) did not show the right result;
* ``overwrite``: it failed as it should, but an input, an earlier output or the working folder changed;
* ``unclear``: the right exit code and nothing changed, but the message lacks the bad value/file or the fix;
* ``clean``: exit code, named value and fix as the matrix requires, nothing changed.

Independently of the outcome, ``changed`` counts the cases after which any watched file differed (a silent
success that wrote a NaN model, a refused run that rewrote its config ...).

    python benchmarks/bad_inputs_census.py --out benchmarks/results/bad_inputs_census-after.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MOTE_CACHE_DIR", tempfile.mkdtemp(prefix="mote-census-cache-"))
TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))


def classify(case: object, assets: object, work: Path) -> tuple[str, bool, str]:
    import test_bad_inputs as m

    work.mkdir(parents=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        ctx = m.Ctx(assets, work, case.copy)  # type: ignore[attr-defined]
        for name in case.copy:  # type: ignore[attr-defined]
            ctx[name]
        if case.setup is not None:  # type: ignore[attr-defined]
            case.setup(ctx)  # type: ignore[attr-defined]
        argv = [ctx.fmt(a) for a in case.argv] if case.argv is not None else None  # type: ignore[attr-defined]
        outputs = tuple(Path(ctx.fmt(o)) for o in case.outputs)  # type: ignore[attr-defined]
        before = ctx.snapshot(outputs)
        if argv is not None:
            env = dict(case.env)  # type: ignore[attr-defined]
            result = m.runner.invoke(m.app, argv, env=env)
            text = result.output
            raised = result.exception is not None and not isinstance(result.exception, SystemExit)
            traceback = raised or "Traceback" in text
            ok_code = result.exit_code == case.code  # type: ignore[attr-defined]
            succeeded = result.exit_code == 0
        else:
            text, traceback, succeeded, ok_code = "", False, False, False
            try:
                case.call(ctx)  # type: ignore[attr-defined]
                succeeded = True
            except Exception as e:
                text = str(e)
                traceback = isinstance(e, m.BARE) or not isinstance(e, case.exc)  # type: ignore[attr-defined]
                ok_code = not traceback
        before = {**ctx.before, **before}  # assets a call first used mid-run were hashed at that first use
        changed = ctx.snapshot(outputs) != before
        if traceback:
            return "traceback", changed, text[-300:]
        try:
            m._check_message(text, case, ctx)
            named = True
        except AssertionError:
            named = False
        if case.code == 0:  # type: ignore[attr-defined]  # a success with the right result is due
            return ("clean" if succeeded and named and not changed else "silent"), changed, text[-300:]
        if succeeded:
            return "silent", changed, text[-300:]
        if changed:
            return "overwrite", changed, text[-300:]
        return ("clean" if ok_code and named else "unclear"), changed, text[-300:]
    finally:
        os.chdir(cwd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from transformers.utils import logging as hf_logging

    import mote
    import test_bad_inputs as m
    from bad_inputs_helpers import Assets

    hf_logging.get_logger("transformers")
    root = Path(tempfile.mkdtemp(prefix="mote-census-"))
    assets = Assets(root / "assets")
    rows = []
    for i, case in enumerate(m.CASES):
        try:
            kind, changed, tail = classify(case, assets, root / "work" / f"{i:03d}")
        except BaseException as e:  # an asset that cannot be built on this version, a skip
            kind, changed, tail = "not run", False, f"{type(e).__name__}: {e}"[:300]
        rows.append({"case": case.id, "outcome": kind, "changed": changed, "output_tail": tail})
        print(f"{kind:10s} {'changed ' if changed else ''}{case.id}", flush=True)
    counts = Counter(r["outcome"] for r in rows)
    report = {"mote": str(Path(mote.__file__).parent), "cases": len(rows), "counts": dict(sorted(counts.items())),
              "changed": sum(r["changed"] for r in rows), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report["counts"]), "of", len(rows), "; files changed after", report["changed"])


if __name__ == "__main__":
    main()
