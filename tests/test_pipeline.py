"""The experiment pipeline: planning, caching by config hash, the report's arithmetic, an end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mote.pipeline.config import PipelineConfig, load_pipeline_config
from mote.pipeline.report import aggregate, to_markdown
from mote.pipeline.run import plan, run_pipeline, variant_hash
from mote.pipeline.variants import all_variants


def _config(tmp_path: Path, **kw: object) -> PipelineConfig:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("datasets: {banking77: {max_examples: 64}}\n")
    return PipelineConfig.model_validate({"recipe": str(recipe), "output_dir": str(tmp_path / "out"), **kw})


def test_plan_orders_sources_first_and_adds_key_seeds(tmp_path: Path) -> None:
    cfg = _config(tmp_path, variants=["mote-ea", "joint-noinstr"], seeds=[1], key_seeds=[2])
    jobs = [(v.name, s) for v, s in plan(cfg)]
    # mote-ea needs mote (added, trained first); key variants (mote, mote-ea) also run seed 2
    assert jobs == [("joint-noinstr", 1), ("mote", 1), ("mote", 2), ("mote-ea", 1), ("mote-ea", 2)]


def test_hash_follows_the_config(tmp_path: Path) -> None:
    mote = all_variants()["mote"]
    a = variant_hash(_config(tmp_path), mote, 1)
    assert a == variant_hash(_config(tmp_path), mote, 1)
    assert a != variant_hash(_config(tmp_path), mote, 2)
    assert a != variant_hash(_config(tmp_path, budget={"max_steps": 7}), mote, 1)
    ea = all_variants()["mote-ea"]  # a derived variant changes when its source does
    assert variant_hash(_config(tmp_path), ea, 1) != variant_hash(_config(tmp_path, budget={"max_steps": 7}), ea, 1)


def test_the_report_only_counterpart_leaves_the_hash_alone(tmp_path: Path) -> None:
    # which dense variant a MoTE variant is compared with changes the report, not the model: archived jobs
    # (benchmarks/results/*/jobs, named by this hash) must stay valid when it is added or changed
    from dataclasses import replace

    from mote.pipeline.run import build_hash

    mote = all_variants()["mote"]
    assert mote.counterpart == "joint-instr"
    for h in (build_hash, variant_hash):
        assert h(_config(tmp_path), mote, 1) == h(_config(tmp_path), replace(mote, counterpart=None), 1)


def test_unknown_variant_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='Did you mean "mote-ea"'):
        _config(tmp_path, variants=["mote-eа"])
    (tmp_path / "p.yaml").write_text(f"recipe: {tmp_path / 'r.yaml'}\noutput_dir: o\nbudgt: {{}}\n")
    with pytest.raises(ValueError, match="budgt"):
        load_pipeline_config(tmp_path / "p.yaml")


def _result(variant: str, seed: int, sts: float, cls: float) -> dict[str, object]:
    return {"variant": variant, "seed": seed, "type_averages": {"STS": sts, "Classification": cls},
            "mean_over_types": (sts + cls) / 2, "mean_over_tasks": (sts + cls) / 2, "tasks": {"a": sts, "b": cls},
            "train_seconds": 10.0, "examples_seen": 100, "total_params": 2_000_000, "active_params": 1_000_000,
            "eval_max_seq_length": 256}


def test_report_means_spread_and_deltas() -> None:
    rows = aggregate([_result("joint-instr", 1, 80, 60), _result("mote", 1, 82, 61), _result("mote", 2, 84, 63)])
    assert rows["mote"]["mean_over_types"] == (72.5, pytest.approx(1.4142, abs=1e-4))  # mean of 71.5, 73.5
    md = to_markdown(rows, "joint-instr", "t")
    assert "| mote | 2 | 62.00 ± 1.41 | 83.00 ± 1.41 | 72.50 ± 1.41 | 72.50 ± 1.41 | +2.50 |" in md
    assert "| mote | +2.00 | +3.00 |" in md  # per-type deltas (Classification, STS)


@pytest.mark.shared_data
def test_pipeline_end_to_end_and_cached_rerun(tiny_st_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data_root: {shared_data}\ndatasets: {{banking77: {{max_examples: 64}}, trec: {{max_examples: 64}}}}\n")
    cfg = PipelineConfig.model_validate({
        "base": str(tiny_st_dir), "recipe": str(recipe), "output_dir": str(tmp_path / "out"),
        "variants": ["base", "mote", "mote-ea"], "baseline": "base", "analysis": {"peak_memory": False},
        "budget": {"max_steps": 2, "batch_size": 8, "max_seq_length": 32, "precision": "fp32"},
        "eval": {"suite": "extended", "tasks": ["TRECQuestionType"], "data_root": str(shared_data), "precision": "fp32"},
    })
    messages: list[str] = []
    report = run_pipeline(cfg, say=messages.append)
    text = report.read_text()
    assert "| mote-ea |" in text and "| base |" in text and (tmp_path / "out" / "report.png").is_file()
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["rows"]["mote"]["active_params"] == data["rows"]["base"]["active_params"]
    assert data["rows"]["mote"]["total_params"] > data["rows"]["mote-ea"]["total_params"]
    # intervals from the per-item records each evaluation saved; the instruction set each variant used
    cis = data["intervals"]
    assert cis["seeds"] == {"base": 1, "mote": 1, "mote-ea": 1}
    iv = cis["variants"]["mote"]["base"]["means"]["all tasks"]
    assert iv["low"] <= iv["delta"] <= iv["high"] and iv["against"] == "base"
    assert "## Confidence intervals (paired bootstrap)" in text
    # mote's dense counterpart (joint-instr) is not in this run: the report says so
    assert cis["counterparts_not_run"] == {"mote": "joint-instr"}
    assert "Not compared with their dense counterpart (not in this run): mote (joint-instr)." in text
    assert data["instructions"] == {"base": "–", "mote": "mote", "mote-ea": "mote"}
    # the analyses that apply: conflict needs two probe tasks (this recipe has one: said, not run), spaces runs
    analyses = {a["name"]: a for a in data["analyses"]}
    assert analyses["conflict-base"]["png"] is None and "not run" in analyses["conflict-base"]["summary"]
    assert (tmp_path / "out" / analyses["spaces"]["png"]).is_file() and "## Analyses" in text
    messages.clear()
    run_pipeline(cfg, say=messages.append)  # everything is cached now
    assert sum("cached" in m for m in messages) == 3
    # a partial report of a longer matrix builds nothing and names what is missing
    more = cfg.model_copy(update={"variants": ["base", "mote", "mote-ea", "joint-instr"]})
    text = run_pipeline(more, say=messages.append, report_only=True).read_text()
    assert "**PARTIAL REPORT**: 1 job(s) not run yet: joint-instr (seed 42)" in text and "| mote-ea |" in text
    assert not (tmp_path / "out" / "variants" / "joint-instr").exists()
    # more evaluation tasks: the built models are evaluated again, nothing is trained or derived again
    wider = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"tasks": ["TRECQuestionType", "MRPC"]})})
    messages.clear()
    data_before = {r["variant"]: r for r in data["runs"]}
    run_pipeline(wider, say=messages.append)
    assert not any("building" in m for m in messages), messages
    assert sum("evaluating" in m for m in messages) == 3
    runs = {r["variant"]: r for r in json.loads((tmp_path / "out" / "report.json").read_text())["runs"]}
    assert set(runs["mote"]["tasks"]) == {"TRECQuestionType", "MRPC"}
    assert runs["mote"]["model_dir"] == data_before["mote"]["model_dir"]
    assert runs["mote"]["train_seconds"] == data_before["mote"]["train_seconds"]


@pytest.mark.shared_data
def test_pipeline_merge_variants(tiny_st_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    """separate -> classic and learned merges; mote -> Self Positioning over its experts; one budget."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data_root: {shared_data}\n"
                      "datasets: {banking77: {max_examples: 64}, 20newsgroups: {max_examples: 64}}\n")
    cfg = PipelineConfig.model_validate({
        "base": str(tiny_st_dir), "recipe": str(recipe), "output_dir": str(tmp_path / "out"),
        "variants": ["joint-instr", "separate-ties", "separate-sp", "mote-sp"], "baseline": "joint-instr",
        "analysis": {"peak_memory": False, "grid_points": 3, "sp_steps": 2, "texts": 8},
        "budget": {"max_steps": 4, "batch_size": 8, "max_seq_length": 32, "precision": "fp32"},
        "merge": {"probe_size": 16, "parameters": {"self_positioning": {"steps": 3, "batch_size": 4}}},
        "eval": {"suite": "extended", "tasks": ["TRECQuestionType"], "data_root": str(shared_data), "precision": "fp32"},
    })
    run_pipeline(cfg, say=lambda m: None)
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    # separate is a source only (not scored); mote, the source of mote-sp, is scored too
    assert set(data["rows"]) == {"joint-instr", "separate-ties", "separate-sp", "mote", "mote-sp"}
    runs = {r["variant"]: r for r in data["runs"]}
    sep = runs["separate"]
    assert sorted(sep["models"]) == ["classification", "clustering"]
    assert sep["steps_per_model"] == {"classification": 2, "clustering": 2}  # split exactly: 4 steps in all
    assert sep["examples_seen"] == runs["joint-instr"]["examples_seen"] == 4 * 8  # the same budget
    assert len(runs["separate-sp"]["learned"]["weights"]["all"]) == 2
    assert runs["mote-sp"]["total_params"] == runs["joint-instr"]["total_params"]  # dense again
    merged = Path(runs["separate-ties"]["model_dir"])
    prompts = json.loads((merged / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts and prompts == json.loads((Path(sep["models"]["clustering"]) /
                                              "config_sentence_transformers.json").read_text())["prompts"]
    text = (tmp_path / "out" / "REPORT.md").read_text()
    assert "## Learned merge coefficients" in text and "| separate-sp | 42 |" in text and "Machine:" in text
    # the report embeds the analyses that apply to these variants, each a figure and a line
    analyses = {a["name"]: a for a in data["analyses"]}
    assert set(analyses) == {"memory", "conflict-joint-instr", "conflict-mote", "spaces", "task-vectors",
                             "landscape-classification-clustering"}
    assert "stored parameters up to x" in analyses["memory"]["summary"]
    land = json.loads((tmp_path / "out" / "analysis" / "landscape-classification-clustering" /
                       "landscape.json").read_text())
    assert len(land["axis"]) == 3  # analysis.grid_points
    for a in analyses.values():
        assert (tmp_path / "out" / a["png"]).is_file() and f"![{a['name']}]({a['png']})" in text
    assert "mean CKA between routes" in analyses["spaces"]["summary"]
    tv = json.loads((tmp_path / "out" / "analysis" / "task-vectors" / "task_vectors.json").read_text())
    assert tv["models"]["classification"]["examples_seen"] == 2 * 8  # from the separate model's training summary
    messages: list[str] = []
    run_pipeline(cfg, say=messages.append)  # the analyses are cached with their inputs
    assert not any(m.startswith("analysis") for m in messages), messages


def test_folders_of_the_older_layout_are_renamed_and_their_paths_rewritten(tmp_path: Path) -> None:
    """A job folder named by the full hash (evaluation included), with relative or absolute paths in its result,
    becomes the build-hash folder, also when the evaluation changed since (found through the saved history)."""
    from mote.pipeline.run import _eval_history, build_hash, job_folder

    cfg = _config(tmp_path)
    mote = all_variants()["mote"]
    old_eval = cfg.eval.model_dump(mode="json")
    legacy = tmp_path / "out" / "variants" / "mote" / f"seed1-{variant_hash(cfg, mote, 1)}"
    (legacy / "train" / "final").mkdir(parents=True)
    rel = f"out/variants/mote/{legacy.name}/train/final"
    (legacy / "result.json").write_text(json.dumps({"model_dir": str(legacy / "train" / "final"), "rel": rel}))
    (tmp_path / "out" / "pipeline_config.yaml").write_text(json.dumps({"eval": old_eval}))
    newer = cfg.model_copy(update={"eval": cfg.eval.model_copy(update={"tasks": ["MRPC"]})})
    history = _eval_history(tmp_path / "out", newer)
    assert history == [old_eval]
    folder = job_folder(newer, mote, 1, history)
    assert folder.name == f"seed1-{build_hash(newer, mote, 1)}" and not legacy.exists()
    result = json.loads((folder / "result.json").read_text())
    assert result["model_dir"] == str(folder / "train" / "final") and Path(result["model_dir"]).is_dir()
    assert result["rel"] == f"out/variants/mote/{folder.name}/train/final"
    assert result["eval_hash"]  # the old evaluation's: the job is re-evaluated, not rebuilt
    # the history keeps both settings, so a run interrupted now still finds other old folders next time
    assert [h.get("tasks") for h in json.loads((tmp_path / "out" / "eval_history.json").read_text())] == [
        old_eval.get("tasks"), ["MRPC"]]


def test_a_matrix_of_sources_only_reports_without_failing(tmp_path: Path) -> None:
    """variants: [separate] builds the separate models only (nothing is scored): the report says so instead of
    failing on an empty plot (it did: 'min() arg is an empty sequence', after the models were built)."""
    from mote.pipeline.report import write_report

    cfg = _config(tmp_path, variants=["separate"], analyses=[])
    result = {"variant": "separate", "seed": 42, "models": {"query": "q", "similarity": "s"}, "examples_seen": 64}
    text = write_report(cfg, [result], tmp_path / "out").read_text()
    assert "No variant was evaluated" in text
    assert not (tmp_path / "out" / "report.png").exists()
