"""`medvqa eval` beyond the text scorers: OmniMedVQA's prefix-based score against transformers
(text-only path: the per-option mean losses of LlamaForCausalLM on the same tiny LLaMA and the same
tokens; the image path is checked in C++, tests/eval/prefix_score_test.cpp), evaluation on a plain
JSONL file (with and without options, bad lines named), and report.md / report.html holding the
numbers of metrics.json with the chart and example pictures they link."""
import html
import json
import re

import pytest
import torch
from PIL import Image

from conftest import assert_user_error, eval_config
from vqa_reference import make_demo
from test_tokenizer import LLAMA3_SPECIALS, tiktoken_encoding

PREFIX_LOSS_TOL = 1e-4  # fp32 forward of the same weights, different kernels and batching
BOS = 128000


@pytest.fixture(scope="module")
def demo(tmp_path_factory, medvqa_bin):
    return make_demo(medvqa_bin, tmp_path_factory.mktemp("eval"), 5)


def config(demo, out, **data):
    return eval_config(demo, out, data=data, split="val", batch_size=3)


def lines(path):
    return [json.loads(l) for l in path.read_text().splitlines()]


def reference_losses(model, enc, question, options):
    """OmniMedVQA's Prefix_based_Score/medical_llava.py on a decoder-only LLaMA: bos + prompt + option,
    loss on the tokens past len(tokenize(prompt)), mean cross-entropy."""
    prompt = f"Question: {question} The answer is"
    start = 1 + len(enc.encode(prompt, disallowed_special=()))
    out = []
    for option in options:
        ids = torch.tensor([[BOS] + enc.encode(prompt + f" {option}.", disallowed_special=())])
        with torch.no_grad():
            logits = model(ids).logits[0]
        out.append(torch.nn.functional.cross_entropy(logits[start - 1:-1], ids[0, start:]).item())
    return out


def test_prefix_losses_match_transformers_text_only(demo, run, tmp_path):
    out = tmp_path / "text_only"
    run("eval", "-c", config(demo, out), "eval.prefix_image=false")
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(demo / "towers/llm", dtype=torch.float32).eval()
    enc = tiktoken_encoding(LLAMA3_SPECIALS)
    predictions = lines(out / "predictions.jsonl")
    worst = (0.0, None)
    for p in predictions:
        want = reference_losses(model, enc, p["question"], p["options"])
        assert len(p["prefix_losses"]) == len(want), p["question_id"]
        for k, (g, w) in enumerate(zip(p["prefix_losses"], want)):
            worst = max(worst, (abs(g - w), f"{p['question_id']} option {k}"), key=lambda x: x[0])
        assert p["prefix_choice"] == min(range(len(want)), key=lambda k: (p["prefix_losses"][k], k))
    print(f"prefix losses: max abs diff {worst[0]:.3g} at {worst[1]} over {len(predictions)} items")
    assert worst[0] <= PREFIX_LOSS_TOL, f"max abs diff {worst[0]} at {worst[1]}"
    metrics = json.loads((out / "metrics.json").read_text())
    right = [p["options"][p["prefix_choice"]] == p["gt_answer"] for p in predictions]
    assert metrics["prefix_score"] == pytest.approx(sum(right) / len(right), abs=1e-12)
    for name, g in metrics["by_modality"].items():
        group = [r for r, p in zip(right, predictions) if p["modality_type"] == name]
        assert g["prefix_score"] == pytest.approx(sum(group) / len(group), abs=1e-12), name


def test_prefix_score_sees_the_image_by_default(demo, run, tmp_path):
    run("eval", "-c", config(demo, tmp_path / "image"))
    run("eval", "-c", config(demo, tmp_path / "text"), "eval.prefix_image=false")
    with_image, text_only = lines(tmp_path / "image/predictions.jsonl"), lines(tmp_path / "text/predictions.jsonl")
    diffs = [abs(a - b) for p, q in zip(with_image, text_only) for a, b in zip(p["prefix_losses"], q["prefix_losses"])]
    assert diffs and max(diffs) > 1e-3, "the image features did not reach the prefix score"
    proc = run("eval", "-c", config(demo, tmp_path / "none"), "eval.prefix_score=false")
    assert "prefix_score" not in json.loads(proc.stdout)
    assert "prefix_losses" not in lines(tmp_path / "none/predictions.jsonl")[0]


def percent(x):
    return f"{100 * x:.2f}"


def test_report_holds_the_numbers_of_metrics_json(demo, run, tmp_path):
    out = tmp_path / "report"
    run("eval", "-c", config(demo, out), "eval.blind=true", "eval.report_examples=4")
    metrics = json.loads((out / "metrics.json").read_text())
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    numbers = [percent(metrics[k]) for k in ("open_accuracy", "macro_open_accuracy", "lenient_accuracy", "token_f1",
                                             "qa_score", "prefix_score", "blind_open_accuracy")]
    numbers += [percent(x) for x in metrics["open_accuracy_ci95"]]
    for n in numbers:
        assert n in md and n in page, n
    # The paper-style table: one row per modality (and the overall row), n then every score.
    columns = ["open_accuracy", "lenient_accuracy", "token_f1", "qa_score", "prefix_score"]
    for name, g in [*metrics["by_modality"].items(), ("Overall", metrics)]:
        cells = [str(g["n"])] + [percent(g[c]) for c in columns]
        label = "**Overall**" if name == "Overall" else name
        assert f"| {label} | " + " | ".join(cells) + " |" in md, name
        label = "<b>Overall</b>" if name == "Overall" else html.escape(name)
        assert f"<tr><td>{label}</td>" + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>" in page, name
    # Self-contained: every picture is a relative file under report/, and it exists.
    pictures = re.findall(r'src="([^"]+)"', page)
    assert "report/accuracy_by_modality.png" in pictures
    examples = [p for p in pictures if p.startswith("report/example_")]
    assert len(examples) == 4
    for p in pictures:
        assert not p.startswith(("http:", "https:", "/")), p
        Image.open(out / p).verify()
        assert f"]({p})" in md, p
    assert page.count("&#10003; right") + page.count("&#10007; wrong") == 4


def write_jsonl(path, items):
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def test_eval_on_a_plain_jsonl_file(demo, run, tmp_path):
    images = sorted((demo / "data/Images").rglob("*.png"))[:4]
    items = [{"image": str(images[0]), "question": "Is there any abnormality in this image?", "answer": "yes",
              "options": ["yes", "no"], "modality_type": "CT"},
             {"image": str(images[1]), "question": "What shape are the lesions?", "answer": "round",
              "option_A": "square", "option_B": "round"},
             {"image": str(images[2]), "question": "Describe the image.", "answer": "a scan", "question_id": "free-1"},
             {"image": str(images[3]), "question": "Which side?", "answer": "left"}]
    path = write_jsonl(tmp_path / "my_questions.jsonl", items)
    out = tmp_path / "jsonl_eval"
    run("eval", "-c", config(demo, out, format="jsonl", root=str(path)), "eval.split=test")
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = lines(out / "predictions.jsonl")
    assert metrics["n"] == 4 and [p["question_id"] for p in predictions] == ["1", "2", "free-1", "4"]
    assert set(metrics["by_modality"]) == {"CT", "unknown"}
    assert set(metrics["by_dataset"]) == {"my_questions"}
    assert set(metrics["by_question_type"]) == {"unknown"}
    # The multiple-choice scores cover the two items with options only.
    assert [len(p["options"]) for p in predictions] == [2, 2, 0, 0]
    assert [("prefix_losses" in p) for p in predictions] == [True, True, False, False]
    right = [p["options"][p["prefix_choice"]] == p["gt_answer"] for p in predictions[:2]]
    assert metrics["prefix_score"] == sum(right) / 2
    assert metrics["by_modality"]["unknown"]["n"] == 3
    assert metrics["by_modality"]["CT"]["qa_score"] is not None
    assert (out / "report.html").exists()
    scored = json.loads(run("score", "--predictions", out / "predictions.jsonl", "--json").stdout)
    assert scored["qa_score"] == metrics["qa_score"]


@pytest.mark.parametrize("line, fragments", [
    ('{"image": "x.png", "question": "q"', [":2: invalid JSON at column 35"]),
    ('{"image": "IMG", "question": "q"}', [':2: key "answer": missing']),
    ('{"image": "IMG", "question": "q", "answer": "a", "options": ["b", "c"]}',
     [':2: key "answer": "a" is not one of the options']),
    ('{"image": "IMG", "question": "q", "answer": "a", "options": "a"}', [':2: key "options": expected a list of strings']),
    ('{"image": "missing.png", "question": "q", "answer": "a"}', [":2: image not found", "missing.png"]),
])
def test_bad_jsonl_lines_are_named(demo, run, tmp_path, line, fragments):
    image = str(sorted((demo / "data/Images").rglob("*.png"))[0])
    good = json.dumps({"image": image, "question": "q", "answer": "a"})
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "\n" + line.replace("IMG", image) + "\n")
    proc = run("eval", "-c", config(demo, tmp_path / "bad_eval", format="jsonl", root=str(path)), check=False)
    assert_user_error(proc, *[f"{path}{f}" if f.startswith(":") else f for f in fragments])


def test_an_image_that_cannot_be_read_is_named(demo, run, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really a PNG")
    path = write_jsonl(tmp_path / "q.jsonl", [{"image": "broken.png", "question": "q", "answer": "a"}])
    proc = run("eval", "-c", config(demo, tmp_path / "broken_eval", format="jsonl", root=str(path)), check=False)
    assert_user_error(proc, str(broken))
    assert not (tmp_path / "broken_eval/metrics.json").exists()
