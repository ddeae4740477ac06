"""`medvqa compare` and `eval.baseline`: the statistics against scipy / statsmodels / numpy on
synthetic paired outcomes with known differences (McNemar's exact p-value, Holm's adjusted p-values,
the paired bootstrap interval drawn from the same splitmix64 resamples and against scipy's own
bootstrap), the gate (one modality made worse fails naming it alone, self-comparison and noise
pass), the exit codes 0 / 1 / 3 with their messages, the JUnit file (junitparser reads it, xmlschema
validates it against tests/data/junit/junit.xsd) and the real evaluation of the demo model against a
baseline directory: comparison.json and the report's 'against baseline' section."""
import json
import os
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, assert_user_error, eval_config
from vqa_reference import make_demo

P_TOL = 1e-9             # McNemar / Holm p-values: the same closed form in double
SAME_RESAMPLES_TOL = 1e-12  # our interval vs numpy.percentile over the same resamples
SCIPY_BOOTSTRAP_TOL = 0.005  # vs scipy.stats.bootstrap's own resamples (Monte Carlo error of both)
RESAMPLES, SEED = 2000, 0  # compare's defaults (eval/paired_stats.h)
GATE_FAILED = 3
MODALITIES = ["CT", "MRI", "X-Ray", "Ultrasound"]


def write_predictions(path, ids, modality, qtype, base_or_cand_right, dataset="Synth"):
    lines = []
    for i, m, q, right in zip(ids, modality, qtype, base_or_cand_right):
        lines.append({"question_id": i, "dataset": dataset, "modality_type": m, "question_type": q,
                      "question": f"question {i}?", "gt_answer": "yes", "options": ["yes", "no"],
                      "prediction": "yes" if right else "no"})
    path.write_text("".join(json.dumps(l) + "\n" for l in lines))
    return path


def synthetic(tmp_path, n_per_modality=120, base_acc=0.75, drops=None, noise=0.0, seed=1):
    """Baseline right with probability base_acc; the candidate flips right -> wrong with
    probability drops[modality] and, for `noise`, flips each way with that probability."""
    rng = np.random.default_rng(seed)
    drops = drops or {}
    ids, modality, qtype, base, cand = [], [], [], [], []
    for m in MODALITIES:
        for k in range(n_per_modality):
            b = rng.random() < base_acc
            c = b
            if b and rng.random() < drops.get(m, 0.0):
                c = False
            if rng.random() < noise:
                c = not c
            ids.append(f"{m}-{k}")
            modality.append(m)
            qtype.append("Anatomy" if k % 2 else "Diagnosis")
            base.append(b)
            cand.append(c)
    b_path = write_predictions(tmp_path / "base.jsonl", ids, modality, qtype, base)
    c_path = write_predictions(tmp_path / "cand.jsonl", ids, modality, qtype, cand)
    return b_path, c_path, np.array(base), np.array(cand), np.array(modality), np.array(qtype)


def compare(run, *args, check=True):
    return run("compare", *map(str, args), check=check)


def splitmix64_indices(n, resamples, seed):
    """The resamples of eval/paired_stats.cpp: splitmix64(seed), index = next() % n, n per resample."""
    k = np.arange(1, n * resamples + 1, dtype=np.uint64)
    z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(n)).astype(np.int64).reshape(resamples, n)


def test_statistics_match_scipy_statsmodels_and_numpy(run, tmp_path):
    from scipy import stats
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.multitest import multipletests

    b_path, c_path, base, cand, modality, qtype = synthetic(
        tmp_path, drops={"CT": 0.3, "MRI": 0.05}, noise=0.03)
    out = json.loads(compare(run, "--baseline", b_path, "--candidate", c_path, "--json", "--min-n", 1,
                             "--group-by", "modality,question_type", check=False).stdout)
    masks = {("overall", "all"): np.ones(len(base), bool)}
    masks.update({("modality", m): modality == m for m in MODALITIES})
    masks.update({("question_type", q): qtype == q for q in ("Anatomy", "Diagnosis")})
    assert [(g["dimension"], g["name"]) for g in out["groups"]] == [
        ("overall", "all"), *sorted((k for k in masks if k[0] == "modality")),
        ("question_type", "Anatomy"), ("question_type", "Diagnosis")]
    worst_p = worst_ci = worst_scipy = (0.0, None)
    for g in out["groups"]:
        mask = masks[(g["dimension"], g["name"])]
        b, c = base[mask], cand[mask]
        table = [[int(np.sum(b & c)), int(np.sum(b & ~c))], [int(np.sum(~b & c)), int(np.sum(~b & ~c))]]
        assert g["n"] == mask.sum() and g["right_to_wrong"] == table[0][1] and g["wrong_to_right"] == table[1][0]
        assert g["difference"] == pytest.approx(c.mean() - b.mean(), abs=1e-15)
        want_p = mcnemar(table, exact=True).pvalue
        worst_p = max(worst_p, (abs(g["p"] - want_p), g["name"]), key=lambda x: x[0])
        d = c.astype(np.int64) - b.astype(np.int64)
        means = d[splitmix64_indices(len(d), RESAMPLES, SEED)].sum(axis=1) / len(d)
        want_ci = np.percentile(means, [2.5, 97.5])
        worst_ci = max(worst_ci, (float(np.max(np.abs(np.array(g["ci95"]) - want_ci))), g["name"]), key=lambda x: x[0])
        theirs = stats.bootstrap((d,), np.mean, n_resamples=RESAMPLES, method="percentile",
                                 rng=np.random.default_rng(0)).confidence_interval
        worst_scipy = max(worst_scipy, (float(np.max(np.abs(np.array(g["ci95"]) - [theirs.low, theirs.high]))),
                                        g["name"]), key=lambda x: x[0])
    holm = multipletests([g["p"] for g in out["groups"]], method="holm")[1]
    worst_holm = float(np.max(np.abs(np.array([g["p_holm"] for g in out["groups"]]) - holm)))
    print(f"McNemar p: max abs diff {worst_p[0]:.3g} at {worst_p[1]}; Holm: {worst_holm:.3g}; "
          f"CI vs numpy (same resamples): {worst_ci[0]:.3g} at {worst_ci[1]}; "
          f"CI vs scipy.stats.bootstrap: {worst_scipy[0]:.3g} at {worst_scipy[1]}")
    assert worst_p[0] <= P_TOL, f"max abs diff {worst_p[0]} at {worst_p[1]}"
    assert worst_holm <= P_TOL, f"Holm max abs diff {worst_holm}"
    assert worst_ci[0] <= SAME_RESAMPLES_TOL, f"max abs diff {worst_ci[0]} at {worst_ci[1]}"
    assert worst_scipy[0] <= SCIPY_BOOTSTRAP_TOL, f"max abs diff {worst_scipy[0]} at {worst_scipy[1]}"


def test_one_modality_worse_fails_naming_it_alone(run, tmp_path):
    b_path, c_path, *_ = synthetic(tmp_path, drops={"CT": 0.4})
    junit = tmp_path / "compare.xml"
    proc = compare(run, "--baseline", b_path, "--candidate", c_path, "--group-by", "modality", "--junit", junit,
                   check=False)
    assert proc.returncode == GATE_FAILED, proc.stderr
    assert "gate failed: compare: " in proc.stderr and "modality=CT: -" in proc.stderr, proc.stderr
    for m in MODALITIES[1:]:
        assert f"modality={m}" not in proc.stderr, proc.stderr
    failed = [l.split()[0] for l in proc.stdout.splitlines() if l.endswith("FAILED")]
    assert "modality=CT" in failed and set(failed) <= {"overall", "modality=CT"}, proc.stdout
    check_junit(junit, failed)


def test_self_comparison_and_small_noise_pass(run, tmp_path):
    b_path, c_path, base, cand, *_ = synthetic(tmp_path, noise=0.02, seed=3)
    assert (base != cand).sum() > 0
    for candidate in (b_path, c_path):
        proc = compare(run, "--baseline", b_path, "--candidate", candidate, "--json")
        out = json.loads(proc.stdout)
        assert out["passed"] and not any(g["failed"] for g in out["groups"])
    # The noise difference lies within its interval.
    overall = out["groups"][0]
    assert overall["ci95"][0] <= overall["difference"] <= overall["ci95"][1]


def check_junit(path, failed_labels):
    import junitparser
    import xmlschema
    xmlschema.XMLSchema(str(ROOT / "tests/data/junit/junit.xsd")).validate(str(path))
    xml = junitparser.JUnitXml.fromfile(str(path))
    cases = [case for suite in xml for case in suite]
    assert cases[0].name == "all" and cases[0].classname == "medvqa.compare.overall"
    assert {c.name for c in cases[1:]} == set(MODALITIES)
    failed = {("overall" if c.classname.endswith("overall") else f"modality={c.name}") for c in cases
              if any(isinstance(r, junitparser.Failure) for r in c.result)}
    assert failed == set(failed_labels)
    for c in cases:
        for r in c.result:
            if isinstance(r, junitparser.Failure):
                assert re.search(r"difference -\d+\.\d\d points \(95% CI -\d+\.\d\d to [-+]\d+\.\d\d\)", r.message), r.message
                assert "Holm p" in r.message


def test_groups_below_min_n_are_skipped_in_junit(run, tmp_path):
    import junitparser
    import xmlschema
    b_path, c_path, *_ = synthetic(tmp_path, n_per_modality=10)
    junit = tmp_path / "small.xml"
    compare(run, "--baseline", b_path, "--candidate", c_path, "--group-by", "modality", "--junit", junit)
    xmlschema.XMLSchema(str(ROOT / "tests/data/junit/junit.xsd")).validate(str(junit))
    cases = [case for suite in junitparser.JUnitXml.fromfile(str(junit)) for case in suite]
    skipped = [c.name for c in cases if any(isinstance(r, junitparser.Skipped) for r in c.result)]
    assert skipped == sorted(MODALITIES)  # 10 items each < 30; overall (40) is tested


def test_user_errors_exit_1_with_the_message(run, tmp_path):
    b_path, c_path, *_ = synthetic(tmp_path, n_per_modality=5)
    missing = tmp_path / "nowhere"
    assert_user_error(compare(run, "--baseline", missing, "--candidate", c_path, check=False),
                      f"{missing}: cannot open: no such file")
    # An eval directory without predictions.jsonl.
    assert_user_error(compare(run, "--baseline", tmp_path, "--candidate", c_path, check=False),
                      f"{tmp_path / 'predictions.jsonl'}: cannot open: no such file")
    lines = c_path.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["gt_answer"] = "no"
    mismatch = tmp_path / "mismatch.jsonl"
    mismatch.write_text("\n".join(lines[:2] + [json.dumps(bad)] + lines[3:]) + "\n")
    assert_user_error(compare(run, "--baseline", b_path, "--candidate", mismatch, check=False),
                      f'compare: question_id "{bad["question_id"]}" has different gt answers: "yes" in {b_path}, '
                      f'"no" in {mismatch} (the two evaluations are not of the same items)')
    twice = tmp_path / "twice.jsonl"
    twice.write_text("\n".join(lines + lines[:1]) + "\n")
    assert_user_error(compare(run, "--baseline", b_path, "--candidate", twice, check=False),
                      f'{twice}: question_id "CT-0" occurs twice (items 1 and {len(lines) + 1}); compare pairs items by id')
    assert_user_error(compare(run, "--baseline", b_path, "--candidate", c_path, "--group-by", "organ", check=False),
                      "--group-by")


def test_one_sided_items_are_counted_and_named(run, tmp_path):
    b_path, c_path, *_ = synthetic(tmp_path, n_per_modality=5)
    lines = c_path.read_text().splitlines()
    extra = json.loads(lines[0])
    extra["question_id"] = "new-item"
    c_path.write_text("\n".join(lines[1:] + [json.dumps(extra)]) + "\n")
    junit = tmp_path / "one_sided.xml"
    proc = compare(run, "--baseline", b_path, "--candidate", c_path, "--json", "--junit", junit)
    out = json.loads(proc.stdout)
    assert "baseline only: CT-0" in junit.read_text() and "candidate only: new-item" in junit.read_text()
    assert out["baseline_only"] == ["CT-0"] and out["candidate_only"] == ["new-item"]
    assert out["paired"] == len(lines) - 1
    assert "1 item(s) only in the baseline, not compared: CT-0" in proc.stderr
    assert "1 item(s) only in the candidate, not compared: new-item" in proc.stderr


# --- eval.baseline on the real demo model -------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory, medvqa_bin):
    return make_demo(medvqa_bin, tmp_path_factory.mktemp("compare"), 8)


def gate_config(demo, out, **eval_keys):
    return eval_config(demo, out, split="all", batch_size=8, prefix_score=False, report_examples=0, **eval_keys)


@pytest.fixture(scope="module")
def baseline_eval(demo, medvqa_bin, tmp_path_factory):
    out = tmp_path_factory.mktemp("baseline") / "eval"
    subprocess.run([str(medvqa_bin), "eval", "-c", str(gate_config(demo, out))], check=True, capture_output=True)
    return out


def read_lines(path):
    return [json.loads(l) for l in path.read_text().splitlines()]


def test_eval_against_itself_passes_with_the_report_section(run, demo, baseline_eval, tmp_path):
    out = tmp_path / "again"
    run("eval", "-c", gate_config(demo, out, baseline=str(baseline_eval), baseline_min_n=1))
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["passed"] and comparison["paired"] == len(read_lines(baseline_eval / "predictions.jsonl"))
    assert all(g["difference"] == 0 for g in comparison["groups"])
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    for text in (md, page):
        assert "Against baseline" in text and "report/baseline_differences.png" in text
    Image.open(out / "report/baseline_differences.png").verify()
    assert "| overall | " in md


def test_ci_eval_fails_when_one_modality_is_worse(medvqa_bin, demo, baseline_eval, tmp_path):
    """scripts/ci-eval.sh: the real evaluation against a baseline that was right on every item of
    one modality (its predictions set to the answers): to the gate, this run lost that modality
    and no other."""
    lines = read_lines(baseline_eval / "predictions.jsonl")
    modality = sorted({l["modality_type"] for l in lines})[0]
    wrong_now = [l for l in lines if l["modality_type"] == modality and l["prediction"] != l["gt_answer"]]
    assert len(wrong_now) >= 6, "the untrained demo model should miss most answers"
    base_dir = tmp_path / "better_baseline"
    base_dir.mkdir()
    for l in lines:
        if l["modality_type"] == modality:
            l["prediction"] = l["gt_answer"]
    (base_dir / "predictions.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    out = tmp_path / "candidate"
    env = {**os.environ, "MEDVQA_BIN": str(medvqa_bin), "MEDVQA_BASELINE": str(base_dir), "MEDVQA_EVAL_OUT": str(out),
           "MEDVQA_EVAL_CONFIG": str(gate_config(demo, tmp_path / "unused", baseline_min_n=5))}
    proc = subprocess.run(["bash", str(ROOT / "scripts/ci-eval.sh")], env=env, capture_output=True, text=True)
    assert proc.returncode == GATE_FAILED, proc.stderr
    assert "ci-eval: FAILED" in proc.stdout, proc.stdout
    assert f"modality={modality}: -" in proc.stderr, proc.stderr
    comparison = json.loads((out / "comparison.json").read_text())
    failed = {f"{g['dimension']}={g['name']}" for g in comparison["groups"] if g["failed"]}
    assert f"modality={modality}" in failed
    assert not any(f.startswith("modality=") and f != f"modality={modality}" for f in failed), failed
    assert len(comparison["flipped"]) == len(wrong_now)
    md = (out / "report.md").read_text()
    assert "FAILED" in md and wrong_now[0]["question"] in md  # the flipped examples are listed
    import junitparser
    import xmlschema
    xmlschema.XMLSchema(str(ROOT / "tests/data/junit/junit.xsd")).validate(str(out / "compare.xml"))
    cases = [c for suite in junitparser.JUnitXml.fromfile(str(out / "compare.xml")) for c in suite]
    failed_cases = {f"{c.classname.rsplit('.', 1)[1]}={c.name}" for c in cases
                    if any(isinstance(r, junitparser.Failure) for r in c.result)}
    assert failed_cases == failed


def test_eval_with_an_unreadable_baseline_fails_before_the_model_runs(run, demo, tmp_path):
    out = tmp_path / "nobase"
    proc = run("eval", "-c", gate_config(demo, out, baseline=str(tmp_path / "missing")), check=False)
    assert_user_error(proc, f"{tmp_path / 'missing'}: cannot open: no such file")
    assert not (out / "predictions.jsonl").exists()


def test_committed_demo_baseline_is_a_consistent_eval_dir(run):
    """configs/demo/baseline (scripts/ci-eval.sh's default): the demo's predictions.jsonl and
    metrics.json, whose open accuracy `medvqa score` recomputes, and it passes against itself."""
    baseline = ROOT / "configs/demo/baseline"
    metrics = json.loads((baseline / "metrics.json").read_text())
    scored = json.loads(run("score", "--predictions", baseline / "predictions.jsonl", "--json").stdout)
    assert scored["n"] == metrics["n"] and scored["open_accuracy"] == metrics["open_accuracy"]
    assert metrics["open_accuracy"] >= 0.8  # the demo's eval.floor: a trained model, not a random one
    out = json.loads(compare(run, "--baseline", baseline, "--candidate", baseline, "--json").stdout)
    assert out["passed"] and out["paired"] == metrics["n"]
