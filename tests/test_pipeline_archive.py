"""The pipeline archive: finished jobs (scores and per-item records, no models) kept apart from the run folder,
so a matrix longer than one machine's life is finished on the next machine without redoing the jobs."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from mote.pipeline import archive
from mote.pipeline.config import PipelineConfig
from mote.pipeline.run import run_pipeline


def _cfg(tiny_st_dir: Path, shared_data: Path, tmp_path: Path, variants: list[str]) -> PipelineConfig:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data_root: {shared_data}\ndatasets: {{banking77: {{max_examples: 64}}, "
                      "trec: {max_examples: 64}}\n")
    return PipelineConfig.model_validate({
        "base": str(tiny_st_dir), "recipe": str(recipe), "output_dir": str(tmp_path / "out"),
        "archive": str(tmp_path / "archive"), "variants": variants, "baseline": "base",
        "analyses": [],  # the archive is under test here; the analyses have their own (test_pipeline.py)
        "budget": {"max_steps": 2, "batch_size": 8, "max_seq_length": 32, "precision": "fp32"},
        "eval": {"suite": "extended", "tasks": ["TRECQuestionType", "MRPC"], "data_root": str(shared_data),
                 "precision": "fp32"},
    })


def _entry(path: Path) -> dict:
    """An archived entry as stored (gzipped JSON)."""
    return json.loads(gzip.decompress(path.read_bytes()))


@pytest.mark.shared_data
def test_a_new_machine_restores_archived_jobs_and_rebuilds_only_the_models_a_derived_job_needs(
    tiny_st_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    cfg = _cfg(tiny_st_dir, shared_data, tmp_path, ["base", "mote"])
    run_pipeline(cfg, say=lambda m: None)
    first = json.loads((tmp_path / "out" / "report.json").read_text())
    entries = sorted(p.relative_to(tmp_path / "archive").as_posix() for p in (tmp_path / "archive").rglob("*.json.gz")
                     if "_shared" not in p.parts)
    assert [e.split("/")[0] for e in entries] == ["base", "mote"]
    # gold labels are stored once for both jobs, not once per job
    entry = _entry(tmp_path / "archive" / entries[1])
    assert entry["items"]["MRPC"]["gold"].keys() == {"$shared"}
    assert entry["result"]["model_dir"].startswith("@job/")  # no machine's path in the archive

    shutil.rmtree(tmp_path / "out")  # the next machine: the archive (committed) is all that is left
    messages: list[str] = []
    run_pipeline(cfg, say=messages.append)
    assert sum("restored from the archive" in m for m in messages) == 2, messages
    assert not any("building" in m or "evaluating" in m for m in messages), messages
    again = json.loads((tmp_path / "out" / "report.json").read_text())
    for key in ("rows", "intervals", "split_means"):
        assert again[key] == first[key], key

    # a derived job not in the archive: its source's model is built again, its scores stay the archived ones
    shutil.rmtree(tmp_path / "out")
    messages.clear()
    more = _cfg(tiny_st_dir, shared_data, tmp_path, ["base", "mote", "mote-ea"])
    run_pipeline(more, say=messages.append)
    assert any("mote (seed 42): building its model again" in m for m in messages), messages
    assert sum("evaluating" in m for m in messages) == 1  # mote-ea only
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["rows"]["mote"] == first["rows"]["mote"]
    runs = {r["variant"]: r for r in data["runs"]}
    assert Path(runs["mote"]["model_dir"]).is_dir() and runs["mote-ea"]["tasks"].keys() == {"TRECQuestionType", "MRPC"}
    assert (tmp_path / "archive" / "mote-ea").is_dir()
    # the rebuilt model is the archived one's twin (same weights, byte for byte), so mote-ea is derived from the
    # model whose scores the archive holds
    archived = _entry(tmp_path / "archive" / entries[1])["result"]
    assert runs["mote"]["model_digest"] == archived["model_digest"] and "rebuilt_model_differs" not in runs["mote"]
    assert "mote-ea" in data["intervals"]["variants"]


@pytest.mark.shared_data
def test_report_only_exports_finished_jobs_into_the_archive(tiny_st_dir: Path, shared_data: Path,
                                                            tmp_path: Path) -> None:
    cfg = _cfg(tiny_st_dir, shared_data, tmp_path, ["base"])
    plain = cfg.model_copy(update={"archive": None})
    run_pipeline(plain, say=lambda m: None)
    assert not (tmp_path / "archive").exists()
    messages: list[str] = []
    run_pipeline(cfg, say=messages.append, report_only=True)
    assert list((tmp_path / "archive" / "base").glob("seed42-*.json.gz")), messages
    assert any("archived" in m for m in messages)


def test_a_damaged_entry_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = archive.entry_path(tmp_path, "mote", 42, "abc")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"seed42-abc\.json\.gz.*git checkout"):
        archive.load(tmp_path, "mote", 42, "abc")
    assert archive.load(tmp_path, "mote", 43, "abc") is None


def test_paths_into_the_job_folder_travel_relative_and_records_round_trip(tmp_path: Path) -> None:
    job = tmp_path / "runs" / "variants" / "separate" / "seed1-h"
    (job / "eval" / "items").mkdir(parents=True)
    record = {"kind": "spearman", "pred": [0.1, 0.5, 0.3], "gold": [1.0, 4.0, 2.0], "format": 1}
    (job / "eval" / "items" / "STSBenchmark.json").write_text(json.dumps(record))
    result = {"variant": "separate", "seed": 1, "kind": "separate", "model_dir": str(job / "train" / "separate"),
              "models": {"query": str(job / "train" / "separate" / "query" / "final")}, "elsewhere": "/opt/x"}
    archive.save(tmp_path / "a", result, job, "h")
    moved = tmp_path / "other" / "seed1-h"
    entry = archive.load(tmp_path / "a", "separate", 1, "h")
    assert entry is not None
    restored = archive.restore(entry, moved)
    assert restored["model_dir"] == str(moved / "train" / "separate")
    assert restored["models"] == {"query": str(moved / "train" / "separate" / "query" / "final")}
    assert restored["elsewhere"] == "/opt/x" and restored["restored_from_archive"] is True
    assert json.loads((moved / "eval" / "items" / "STSBenchmark.json").read_text()) == record


@pytest.mark.shared_data
def test_a_job_records_its_machine_and_a_job_derived_from_a_differing_rebuild_says_so(
    tiny_st_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    from mote.evaluate.summary import machine_info

    cfg = _cfg(tiny_st_dir, shared_data, tmp_path, ["base", "mote"])
    run_pipeline(cfg, say=lambda m: None)
    here = machine_info()
    (entry_file,) = (tmp_path / "archive" / "mote").glob("seed42-*.json.gz")
    entry = _entry(entry_file)
    assert entry["result"]["machine"] == {"cpu": here["cpu"], "cpu_kind": here["cpu_kind"]}
    # the archive's model was made elsewhere: its digest is not the one a rebuild here gives
    entry["result"]["model_digest"] = "0" * 16
    entry_file.write_bytes(gzip.compress(json.dumps(entry).encode()))
    shutil.rmtree(tmp_path / "out")
    run_pipeline(_cfg(tiny_st_dir, shared_data, tmp_path, ["base", "mote", "mote-ea"]), say=lambda m: None)
    runs = {r["variant"]: r for r in json.loads((tmp_path / "out" / "report.json").read_text())["runs"]}
    assert runs["mote-ea"]["source_rebuilt"] is True and "source_rebuilt" not in runs["mote"]
    report = (tmp_path / "out" / "REPORT.md").read_text()
    assert "mote-ea (seed 42)" in report and "rebuilt" in report
    (line,) = [x for x in report.splitlines() if x.startswith("- Derived from a source model rebuilt")]
    assert line.endswith(": mote-ea (seed 42).")


def test_the_report_names_the_machines_the_jobs_ran_on_and_the_derived_jobs_of_rebuilt_sources() -> None:
    from mote.pipeline.report import provenance_lines

    amd = {"cpu": "AMD EPYC 9R14", "cpu_kind": "avx512_bf16"}
    intel = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_kind": "amx_bf16"}
    results = [{"variant": "mote", "seed": 42, "machine": amd}, {"variant": "mote", "seed": 43, "machine": amd},
               {"variant": "mote-ea", "seed": 43, "machine": intel, "source_rebuilt": True},
               {"variant": "joint-instr", "seed": 42}]
    text = "\n".join(provenance_lines(results))
    assert "AMD EPYC 9R14 (avx512_bf16): 2 jobs" in text
    assert "Intel(R) Xeon(R) Processor (amx_bf16): 1 job" in text
    assert "not recorded: 1 job" in text
    assert "mote-ea (seed 43)" in text and "mote (seed" not in text.split("rebuilt", 1)[1]
    assert provenance_lines([{"variant": "mote", "seed": 42, "machine": amd}]) == [
        "- Jobs ran on AMD EPYC 9R14 (avx512_bf16): 1 job."]
