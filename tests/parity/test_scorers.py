"""`medvqa score` against a pure-Python transcription of docs/scoring.md that uses the real
difflib.SequenceMatcher, str.lower() and unicodedata: random and adversarial predictions, every
assigned code point through the normaliser, the checked-in fixtures, and bad input."""
import difflib
import json
import random
import unicodedata
from pathlib import Path

import pytest

from conftest import ROOT, assert_user_error

FIXTURES = ROOT / "tests" / "data" / "predictions"
FIELDS = ("question_id", "dataset", "modality_type", "question_type", "question", "gt_answer", "options",
          "prediction")
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
MODALITIES = ["CT(Computed Tomography)", "X-Ray", "MR (Mag-netic Resonance Imaging)", "ultrasound", "Dermoscopy",
              "Fundus Photography", "Microscopy Images", "OCT (Optical Coherence Tomography"]
QUESTION_TYPES = ["Disease Diagnosis", "Anatomy Identification", "Modality Recognition",
                  "Other Biological Attributes", "Lesion Grading"]


# ---- the reference ---------------------------------------------------------------------------

def normalize_tokens(text):
    s = text.lower()
    kept = []
    for i, c in enumerate(s):
        decimal_point = (c == "." and 0 < i < len(s) - 1 and unicodedata.category(s[i - 1]) == "Nd"
                         and unicodedata.category(s[i + 1]) == "Nd")
        kept.append(c if decimal_point or unicodedata.category(c)[0] in "LN" else " ")
    return [NUMBER_WORDS.get(t, t) for t in "".join(kept).split() if t not in ("a", "an", "the")]


def token_f1(pred, gt):
    if not pred or not gt:
        return float(pred == gt)
    common = sum(min(pred.count(t), gt.count(t)) for t in set(pred))
    if common == 0:
        return 0.0
    precision = 1.0 * common / len(pred)
    recall = 1.0 * common / len(gt)
    return (2 * precision * recall) / (precision + recall)


def lenient(pred, gt):
    return pred == gt or (bool(gt) and any(pred[i:i + len(gt)] == gt for i in range(len(pred) - len(gt) + 1)))


def score_item(item):
    pred, gt = normalize_tokens(item["prediction"]), normalize_tokens(item["gt_answer"])
    best, best_ratio = -1, 0.0
    for i, option in enumerate(item["options"]):
        r = difflib.SequenceMatcher(None, option, item["prediction"]).ratio()
        if r > best_ratio:
            best, best_ratio = i, r
    return {"question_id": str(item["question_id"]), "normalized_prediction": " ".join(pred),
            "normalized_gt": " ".join(gt), "open_correct": pred == gt, "lenient_correct": lenient(pred, gt),
            "token_f1": token_f1(pred, gt), "qa_choice": best, "qa_ratio": best_ratio,
            "qa_correct": best >= 0 and item["options"][best] == item["gt_answer"]}


def mt19937(seed):
    """A random.Random whose getrandbits(32) is C++'s std::mt19937(seed) (init_genrand)."""
    mt = [seed & 0xFFFFFFFF]
    for i in range(1, 624):
        mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & 0xFFFFFFFF)
    r = random.Random()
    r.setstate((3, tuple(mt) + (624,), None))
    return r


def bootstrap_ci95(correct, resamples=1000, seed=0):
    rng, n = mt19937(seed), len(correct)
    fractions = sorted(sum(correct[rng.getrandbits(32) % n] for _ in range(n)) / n for _ in range(resamples))
    return [fractions[resamples * 25 // 1000], fractions[(resamples * 975 + 999) // 1000 - 1]]


def mean(values):
    total = 0.0
    for v in values:  # left to right, as the C++ does (Python 3.12's sum() would compensate)
        total += v
    return total / len(values)


def group(scores, items):
    # The multiple-choice score averages the items with options only; None (null) if there are none.
    choice = [float(s["qa_correct"]) for s, it in zip(scores, items) if it["options"]]
    return {"n": len(scores), "open_accuracy": mean([float(s["open_correct"]) for s in scores]),
            "lenient_accuracy": mean([float(s["lenient_correct"]) for s in scores]),
            "token_f1": mean([s["token_f1"] for s in scores]),
            "qa_score": mean(choice) if choice else None}


def reference_metrics(items):
    scores = [score_item(it) for it in items]
    m = group(scores, items)
    m["open_accuracy_ci95"] = bootstrap_ci95([int(s["open_correct"]) for s in scores])

    def breakdown(key):
        names = sorted({it[key] for it in items})  # code point order
        members = {name: [(s, it) for s, it in zip(scores, items) if it[key] == name] for name in names}
        return {name: group([s for s, _ in m], [it for _, it in m]) for name, m in members.items()}

    by_modality = breakdown("modality_type")
    m["macro_open_accuracy"] = mean([g["open_accuracy"] for g in by_modality.values()])
    m["by_modality"] = by_modality
    m["by_question_type"] = breakdown("question_type")
    m["by_dataset"] = breakdown("dataset")
    return m, scores


# ---- running medvqa ----------------------------------------------------------------------------

def write_jsonl(path, items, ensure_ascii=True):
    path.write_text("".join(json.dumps(it, ensure_ascii=ensure_ascii) + "\n" for it in items), encoding="utf-8")
    return path


def score(run, path, tmp_path):
    per_item = tmp_path / "per_item.jsonl"
    proc = run("score", "--predictions", path, "--json", "--per-item", per_item)
    lines = per_item.read_text(encoding="utf-8").splitlines()
    return json.loads(proc.stdout), [json.loads(line) for line in lines]


def assert_same(run, items, tmp_path, ensure_ascii=True):
    path = write_jsonl(tmp_path / "predictions.jsonl", items, ensure_ascii)
    got_metrics, got_items = score(run, path, tmp_path)
    want_metrics, want_items = reference_metrics(items)
    assert len(got_items) == len(want_items)
    for item, got, want in zip(items, got_items, want_items):
        assert got == want, f"item {item!r}"
    assert list(got_metrics) == list(want_metrics)
    assert got_metrics == want_metrics


# ---- generated cases -------------------------------------------------------------------------

WORDS = ["the", "a", "An", "THE", "two", "Twenty", "zero", "lesion", "Pneumonia", "CT", "scan", "MRI", "1.5", "mm",
         "x-ray", "Fundus", "imaging", "ΟΔΟΣ", "İstanbul", "ödem", "肺炎", "e\u0301", "Ⅳ", "²", "٣.٤", "N/A", "",
         "grade-2", "(benign)", "don't", "1.2.3", "...", "ß", "ǅ", "Σ'Σ"]
ALPHABET = "abcxyz ABC.,-'0123456789éΣσς中\u0301\u0130\t"


def random_text(rng, max_words=6):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, max_words)))


def random_item(rng, i):
    options = [random_text(rng, 3) or rng.choice(WORDS[7:]) for _ in range(rng.randint(2, 4))]
    gt = rng.choice(options)
    kind = rng.randrange(7)
    if kind == 0:
        prediction = gt
    elif kind == 1:
        prediction = f"The answer is {gt.upper()}."
    elif kind == 2:
        prediction = ""
    elif kind == 3:  # long: autojunk applies to b = prediction (>= 200 code points)
        prediction = "".join(rng.choice(ALPHABET[:rng.randint(3, len(ALPHABET))]) for _ in range(rng.randint(200, 600)))
    elif kind == 4:
        prediction = gt + " " + "".join(rng.choice("ab ") for _ in range(rng.randint(190, 260)))
    elif kind == 5:
        prediction = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40)))
    else:
        prediction = random_text(rng)
    return {"question_id": f"q{i}" if i % 5 else i, "dataset": rng.choice(["ACRIMA", "Chest CT Scan", "ISIC2018"]),
            "modality_type": rng.choice(MODALITIES), "question_type": rng.choice(QUESTION_TYPES),
            "question": "What is shown?", "gt_answer": gt, "options": options, "prediction": prediction}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_predictions_agree_with_python(run, tmp_path, seed):
    rng = random.Random(seed)
    assert_same(run, [random_item(rng, i) for i in range(300)], tmp_path, ensure_ascii=bool(seed % 2))


def test_adversarial_predictions_agree_with_python(run, tmp_path):
    base = {"dataset": "D", "modality_type": "X-Ray", "question_type": "Disease Diagnosis", "question": "?"}
    cases = [
        (["ab", "ba", "xy"], "ab", "a"),                 # tie between options: the first wins
        (["ba", "ab"], "ab", "a"),
        (["same", "same"], "same", "same"),
        (["xy", "zw"], "xy", "abc"),                     # all ratios zero: wrong
        (["", "x"], "", ""),                             # empty vs empty: ratio 1
        (["yes", "no"], "no", ""),
        (["xx", "q"], "xx", "y" + "x" * 198),            # 199 code points: no autojunk
        (["xx", "q"], "xx", "y" + "x" * 199),            # 200: x is popular
        (["pq", "q"], "q", "pqqqqq" + "z" * 294),
        (["q", "z"], "q", "q" * 4 + "z" * 296),          # exactly at the popularity threshold
        (["CT scan", "MRI"], "MRI", ("MRI " * 70).strip()),
        (["日本語", "日本"], "日本語", "日本の言語"),     # code points, not bytes
        (["Σ", "σ"], "σ", "ΣΑΣ"),
        (["😀a", "a😀"], "a😀", "😀😀a"),
        (["1.5 mm", "15 mm"], "1.5 mm", "1.5mm"),
    ]
    items = [dict(base, question_id=f"adv{i}", options=o, gt_answer=g, prediction=p)
             for i, (o, g, p) in enumerate(cases)]
    assert_same(run, items, tmp_path, ensure_ascii=False)


def test_every_code_point_normalises_like_python(run, tmp_path):
    """Each assigned code point (as the reference Python's unicodedata sees it) in the contexts
    that matter: alone, around the final-sigma rule and around a decimal point."""
    code_points = [c for c in map(chr, range(0x110000))
                   if unicodedata.category(c) not in ("Cn", "Cs", "Co")]
    items = []
    for start in range(0, len(code_points), 2000):
        text = "".join(f" {c} {c}Σ A{c}Σ AΣ{c} 1.{c}.1" for c in code_points[start:start + 2000])
        items.append({"question_id": f"cp{start}", "dataset": "D", "modality_type": "M", "question_type": "T",
                      "question": "?", "gt_answer": "x", "options": ["x"], "prediction": text})
    path = write_jsonl(tmp_path / "code_points.jsonl", items, ensure_ascii=False)
    _, got_items = score(run, path, tmp_path)
    assert len(got_items) == len(items)
    for item, got in zip(items, got_items):
        want = " ".join(normalize_tokens(item["prediction"]))
        if got["normalized_prediction"] != want:
            bad = next(i for i, (x, y) in enumerate(zip(got["normalized_prediction"] + "$", want + "$")) if x != y)
            pytest.fail(f"{item['question_id']}: first difference at {bad}: "
                        f"{got['normalized_prediction'][bad - 20:bad + 20]!r} vs {want[bad - 20:bad + 20]!r}")


# ---- checked-in fixtures -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["omnimedvqa_sample", "other_system"])
def test_fixture_metrics(run, tmp_path, name):
    path = FIXTURES / f"{name}.jsonl"
    expected = json.loads((FIXTURES / f"{name}.metrics.json").read_text(encoding="utf-8"))
    got = json.loads(run("score", "--predictions", path, "--json").stdout)
    assert got == expected
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert reference_metrics(items)[0] == expected


def test_table_output_names_the_headline_and_modalities(run):
    out = run("score", "--predictions", FIXTURES / "omnimedvqa_sample.jsonl").stdout
    assert "open accuracy" in out and "95% CI" in out
    for modality in ("CT(Computed Tomography)", "Fundus Photography", "X-Ray"):
        assert modality in out


# ---- bad input ---------------------------------------------------------------------------------

def test_invalid_json_names_file_and_line(run):
    path = FIXTURES / "bad_invalid_json.jsonl"
    assert_user_error(run("score", "--predictions", path, check=False), f"{path}:3: invalid JSON")


def test_missing_field_names_file_line_and_field(run):
    path = FIXTURES / "bad_missing_field.jsonl"
    assert_user_error(run("score", "--predictions", path, check=False), f'{path}:2: key "options": missing')


def test_wrong_type_invalid_utf8_and_missing_file(run, tmp_path):
    item = {f: "x" for f in FIELDS}
    path = write_jsonl(tmp_path / "p.jsonl", [item])
    assert_user_error(run("score", "--predictions", path, check=False),
                      f'{path}:1: key "options": expected a list of strings, found a string')
    assert_user_error(run("score", "--predictions", tmp_path / "absent.jsonl", check=False), "cannot open")
    line = json.dumps(dict(item, options=["x"]), ensure_ascii=False).encode().replace(b'"prediction": "x"',
                                                                                      b'"prediction": "\xff"')
    path.write_bytes(line + b"\n")
    assert_user_error(run("score", "--predictions", path, check=False), f"{path}:1: invalid JSON")
