"""`medvqa ask` and `medvqa export` on a tiny model trained from the demo fixtures (a few steps of
each stage). ask answers from a fresh process exactly as eval does, --input batches equal single
answers, the bundle's merged LLaMA gives transformers the logits of PEFT on base + adapter and of
medvqa, the bundle still works once moved (ask and eval), the adapter export loads in PEFT, and
bad input is a clean error."""
import json
import math
import os
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import assert_user_error, write_config

MAX_NEW_TOKENS = 6
# fp32 logits of the merged weights against base + unmerged adapter: only the summation order differs.
LOGITS_TOLERANCE = 1e-4
DICOM = "/usr/lib/python3/dist-packages/pydicom/data/test_files/MR_small.dcm"


def eval_config(demo, name, model_from, out):
    cfg = {"model": {"from": str(model_from), "threads": 2},
           "data": {"root": str(demo / "data"), "max_seq_len": 128, "workers": 1},
           "eval": {"out_dir": str(out), "batch_size": 1, "max_new_tokens": MAX_NEW_TOKENS, "blind": False}}
    path = demo / f"{name}.json"
    path.write_text(json.dumps(cfg))
    return path


def predictions(out):
    return [json.loads(l) for l in (out / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(demo, run):
    """Stage 1 then stage 2 (LoRA) for a few steps; eval's answers on the test split, one at a time."""
    s1, s2 = demo / "ask_s1", demo / "ask_s2"
    run("train", "-c", write_config(demo, "ask_s1", "align", s1, max_steps=2))
    run("train", "-c", write_config(demo, "ask_s2", "lora", s2, projector=s1 / "final/projector.safetensors",
                                    max_steps=4))
    run("eval", "-c", eval_config(demo, "ask_eval", s2, demo / "ask_eval"))
    return {"s1": s1, "s2": s2, "predictions": predictions(demo / "ask_eval")}


@pytest.fixture(scope="module")
def bundle(trained, demo, run):
    out = demo / "bundle"
    run("export", "--model", trained["s2"], "--out", out, "--bundle")
    return out


def ask(run, model, image, question, *extra, check=True):
    return run("ask", "--model", model, "--image", image, "--question", question,
               "--max-new-tokens", MAX_NEW_TOKENS, "--threads", 2, *extra, check=check)


def ask_json(run, model, p):
    return json.loads(ask(run, model, p["image"], p["question"], "--json").stdout)


def test_ask_streams_the_answer_eval_gives(trained, run):
    for p in trained["predictions"][:3]:
        # The run directory and its final/ are the same model.
        for model in (trained["s2"], trained["s2"] / "final"):
            assert ask(run, model, p["image"], p["question"]).stdout == p["prediction"] + "\n", p


def test_ask_json_has_the_answer_ids_and_timings(trained, run):
    p = trained["predictions"][0]
    out = ask_json(run, trained["s2"], p)
    assert list(out) == ["answer", "ids", "timing"]
    assert out["answer"] == p["prediction"]
    assert 1 <= len(out["ids"]) <= MAX_NEW_TOKENS and all(isinstance(i, int) and 0 <= i < 128256 for i in out["ids"])
    # Stopped early only at a stop id (the demo LLM's generation_config: 128001, 128009).
    assert len(out["ids"]) == MAX_NEW_TOKENS or out["ids"][-1] in (128001, 128008, 128009)
    timing = out["timing"]
    assert list(timing) == ["load_s", "preprocess_s", "first_token_s", "tokens_per_s"]
    for key in ("load_s", "preprocess_s", "first_token_s"):
        assert math.isfinite(timing[key]) and timing[key] > 0, (key, timing)
    if len(out["ids"]) > 1:
        assert math.isfinite(timing["tokens_per_s"]) and timing["tokens_per_s"] > 0, timing
    else:
        assert timing["tokens_per_s"] is None


def test_ask_input_batches_equal_single_answers(trained, run, tmp_path):
    preds = trained["predictions"]
    assert len(preds) >= 4, "the demo test split is too small for a batch test"
    # Image paths relative to the file's folder, which is not the working directory.
    lines = [{"question_id": p["question_id"], "image": os.path.relpath(p["image"], tmp_path), "question": p["question"]}
             for p in preds]
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(l) for l in lines) + "\n\n")
    proc = run("ask", "--model", trained["s2"], "--input", path, "--batch-size", 3, "--max-new-tokens", MAX_NEW_TOKENS,
               "--threads", 2)
    out = [json.loads(l) for l in proc.stdout.splitlines()]
    assert [o["question_id"] for o in out] == [p["question_id"] for p in preds]
    for o, line, p in zip(out, lines, preds):
        assert {k: o[k] for k in line} == line
        assert o["answer"] == p["prediction"], (o, p)


def test_ask_reads_jpeg_and_dicom(trained, run, tmp_path):
    from PIL import Image
    p = trained["predictions"][0]
    jpeg = tmp_path / "image.jpg"
    Image.open(p["image"]).convert("RGB").save(jpeg, quality=95)
    # The DICOM file ships with Debian's python3-pydicom, which scripts/setup.sh installs: fail, not skip, without it.
    assert os.path.exists(DICOM), f"{DICOM} is missing: run scripts/setup.sh (python3-pydicom)"
    images = [jpeg, DICOM]
    for image in images:
        out = json.loads(ask(run, trained["s2"], image, p["question"], "--json").stdout)
        assert out["ids"] and out["timing"]["preprocess_s"] > 0, image


def llm_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float()


def max_diff(a, b):
    d = (a - b).abs()
    return d.max().item(), np.unravel_index(d.argmax().item(), d.shape)


def test_bundle_llm_loads_in_transformers_with_the_logits_of_peft_and_medvqa(trained, bundle, demo, run, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = [128000] + torch.randint(0, 128000, (23,), generator=torch.Generator().manual_seed(0)).tolist()
    merged = llm_logits(AutoModelForCausalLM.from_pretrained(bundle / "llm", dtype=torch.float32), ids)
    base_model = AutoModelForCausalLM.from_pretrained(demo / "towers/llm", dtype=torch.float32)
    base = llm_logits(base_model, ids)
    peft = llm_logits(PeftModel.from_pretrained(base_model, trained["s2"] / "final/adapter"), ids)
    diff, where = max_diff(merged, peft)
    assert diff <= LOGITS_TOLERANCE, f"merged vs PEFT: max abs diff {diff} at (position, vocab) {where}"
    assert max_diff(base, peft)[0] > 100 * LOGITS_TOLERANCE, "the adapter changes nothing: the test could not fail"

    dump = tmp_path / "logits.safetensors"
    run("generate", "--model", bundle / "llm", "--ids", ",".join(map(str, ids)), "--max-new-tokens", 0,
        "--dump-logits", dump)
    diff, where = max_diff(load_file(dump)["logits"], merged)
    assert diff <= LOGITS_TOLERANCE, f"medvqa vs transformers on the bundle: max abs diff {diff} at {where}"

    assert (bundle / "llm/generation_config.json").exists() and (bundle / "llm/original/tokenizer.model").exists()
    assert load_file(bundle / "projector.safetensors").keys() == load_file(
        trained["s2"] / "final/projector.safetensors").keys()
    assert not any(n.startswith(".") for n in os.listdir(demo)), "a temporary export folder was left behind"


def test_bundle_works_after_a_move(trained, bundle, demo, run, tmp_path):
    moved = tmp_path / "elsewhere" / "model"
    shutil.move(bundle, moved)
    try:
        for p in trained["predictions"][:2]:
            assert ask_json(run, moved, p)["ids"] == ask_json(run, trained["s2"], p)["ids"]
        run("eval", "-c", eval_config(demo, "bundle_eval", moved, tmp_path / "eval"))
        got = predictions(tmp_path / "eval")
        assert [p["prediction"] for p in got] == [p["prediction"] for p in trained["predictions"]]
    finally:
        shutil.move(moved, bundle)


def test_adapter_export_loads_in_peft(trained, demo, run, tmp_path):
    from peft import PeftModel
    from transformers import LlamaForCausalLM
    out = tmp_path / "adapter"
    run("export", "--model", trained["s2"], "--out", out, "--adapter")
    assert sorted(os.listdir(out)) == ["adapter_config.json", "adapter_model.safetensors", "projector.safetensors"]
    base = LlamaForCausalLM.from_pretrained(demo / "towers/llm", dtype=torch.float32)
    loaded = {k.replace(".default", ""): v for k, v in PeftModel.from_pretrained(base, out).state_dict().items()
              if "lora_" in k}
    trained_adapter = load_file(trained["s2"] / "final/adapter/adapter_model.safetensors")
    assert sorted(loaded) == sorted(trained_adapter)
    for k, v in trained_adapter.items():
        assert torch.equal(loaded[k], v), k
    projector = load_file(out / "projector.safetensors")
    for k, v in load_file(trained["s2"] / "final/projector.safetensors").items():
        assert torch.equal(projector[k], v), k


def test_bad_input_is_a_clean_error(trained, demo, run, tmp_path):
    s2, p = trained["s2"], trained["predictions"][0]
    assert_user_error(ask(run, s2, tmp_path / "missing.png", "q", check=False), str(tmp_path / "missing.png"))
    garbage = tmp_path / "garbage.png"
    garbage.write_text("not an image")
    assert_user_error(ask(run, s2, garbage, "q", check=False), "cannot decode image", str(garbage))

    unfinished = tmp_path / "unfinished"
    (unfinished / "checkpoints/step_000000002").mkdir(parents=True)
    assert_user_error(ask(run, unfinished, p["image"], "q", check=False), "no final weights", "train.resume=auto")
    (tmp_path / "empty").mkdir()
    assert_user_error(ask(run, tmp_path / "empty", p["image"], "q", check=False), "no final weights")
    assert_user_error(ask(run, tmp_path / "nowhere", p["image"], "q", check=False), "does not exist")

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"image": p["image"], "question": "q"}) + "\n{not json\n" +
                   json.dumps({"image": p["image"]}) + "\n" + json.dumps({"image": "nope.png", "question": "q"}) + "\n")
    proc = run("ask", "--model", s2, "--input", bad, check=False)
    assert_user_error(proc, f"--input {bad}: bad lines (3 problems)", f"{bad}:2: invalid JSON at column 3",
                      f"{bad}:3: key \"question\": missing", f"{bad}:4: image not found: {tmp_path / 'nope.png'}")
    assert proc.stdout == ""
    assert_user_error(run("ask", "--model", s2, "--input", bad, "--image", p["image"], check=False), "--input replaces")
    assert_user_error(run("ask", "--model", s2, "--image", p["image"], check=False), "--question")

    cfg = eval_config(demo, "clash_eval", s2, tmp_path / "eval")
    assert_user_error(run("eval", "-c", cfg, f"model.vision={demo / 'towers/vision'}", check=False),
                      "model.vision: set beside model.from")
    assert_user_error(run("eval", "-c", cfg, f"model.from={unfinished}", check=False), "model.from:", "no final weights")


def test_export_refuses_bad_requests(trained, run, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("keep me")
    assert_user_error(run("export", "--model", trained["s2"], "--out", taken, "--bundle", check=False),
                      "already exists and is not an empty folder")
    assert (taken / "file").read_text() == "keep me"
    assert_user_error(run("export", "--model", trained["s1"], "--out", tmp_path / "a", "--adapter", check=False),
                      "has no LoRA adapter")
    for flags in ([], ["--bundle", "--adapter"]):
        assert_user_error(run("export", "--model", trained["s2"], "--out", tmp_path / "b", *flags, check=False),
                          "give one of --bundle")
    assert sorted(os.listdir(tmp_path)) == ["taken"], "a failed export left files behind"
    # An empty folder is fine to export into.
    (tmp_path / "empty").mkdir()
    run("export", "--model", trained["s2"], "--out", tmp_path / "empty", "--adapter")
    assert (tmp_path / "empty/adapter_model.safetensors").exists()
