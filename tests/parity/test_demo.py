"""The evaluation suite on the demo, as scripts/demo.sh runs it: the demo model is trained in
the test run from configs/demo/*.yaml (paths overridden into a temporary folder) and evaluated
on its held-out split; it must clearly learn: open-ended accuracy >= the config's floor (0.8) and
at least 0.3 above the blind baseline (the same model with the image features zeroed). The same
model with one modality's images blanked then fails the CI gate (eval.baseline = the first
evaluation) naming that modality and no other."""
import json
import shutil

from PIL import Image

from conftest import ROOT

BLIND_GAP = 0.3
GATE_FAILED = 3


def test_demo_model_learns_and_beats_the_blind_baseline(run, tmp_path):
    cfg = ROOT / "configs" / "demo"
    towers, data = tmp_path / "towers", tmp_path / "data"
    run("demo-data", "--out", data, "--images-per-modality", 110)
    run("demo-towers", "--out", towers, "--tokenizer", ROOT / "third_party/llama3/tokenizer.model")
    common = [f"model.vision={towers / 'vision'}", f"model.llm={towers / 'llm'}", f"data.root={data}",
              f"data.manifest={data / 'split_manifest.json'}"]
    run("train", "-c", cfg / "stage1_align.yaml", *common, f"train.out_dir={tmp_path / 'stage1'}")
    run("train", "-c", cfg / "stage2_lora.yaml", *common, f"train.out_dir={tmp_path / 'stage2'}",
        f"model.projector_weights={tmp_path / 'stage1/final/projector.safetensors'}")
    run("eval", "-c", cfg / "eval.yaml", *common, f"eval.out_dir={tmp_path / 'eval'}",
        f"model.projector_weights={tmp_path / 'stage2/final/projector.safetensors'}",
        f"model.adapter={tmp_path / 'stage2/final/adapter'}")
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    print(f"demo: open accuracy {metrics['open_accuracy']:.3f} (CI95 {metrics['open_accuracy_ci95']}), "
          f"blind {metrics['blind_open_accuracy']:.3f}")
    assert metrics["open_accuracy"] >= 0.8
    assert metrics["open_accuracy"] - metrics["blind_open_accuracy"] >= BLIND_GAP, metrics

    # A regression on one modality only: its images blanked (black, same size), the rest untouched.
    blank = tmp_path / "data_blank"
    shutil.copytree(data, blank)
    folder = sorted((blank / "Images").iterdir())[0]
    for png in folder.glob("*.png"):
        with Image.open(png) as im:
            black = Image.new(im.mode, im.size)
        black.save(png)
    predictions = [json.loads(l) for l in (tmp_path / "eval/predictions.jsonl").read_text().splitlines()]
    modality = {p["modality_type"] for p in predictions if f"/{folder.name}/" in p["image"]}
    assert len(modality) == 1, modality
    modality = modality.pop()
    out = tmp_path / "eval_blank"
    proc = run("eval", "-c", cfg / "eval.yaml", *common[:2], f"data.root={blank}",
               f"data.manifest={blank / 'split_manifest.json'}", f"eval.out_dir={out}", "eval.blind=false",
               f"eval.baseline={tmp_path / 'eval'}",
               f"model.projector_weights={tmp_path / 'stage2/final/projector.safetensors'}",
               f"model.adapter={tmp_path / 'stage2/final/adapter'}", check=False)
    assert proc.returncode == GATE_FAILED, proc.stderr
    comparison = json.loads((out / "comparison.json").read_text())
    failed = [g for g in comparison["groups"] if g["failed"]]
    print("demo gate, images of " + folder.name + " blanked: " +
          "; ".join(f"{g['dimension']}={g['name']} {100 * g['difference']:+.2f} points" for g in failed))
    assert [g["name"] for g in failed if g["dimension"] == "modality"] == [modality]
    assert f"modality={modality}: -" in proc.stderr
