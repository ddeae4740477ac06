"""Metric loggers read back by TensorBoard itself (tensorboard's EventAccumulator, with its own
protobuf Event parser): `train.loggers: [jsonl, tensorboard]` writes one scalar per metrics.jsonl
value and step, equal to it as float32; a run resumed from an earlier checkpoint, or after a kill -9,
leaves each step once with the resumed run's values; an event file cut inside its last record reads
up to the cut; `eval.loggers: [tensorboard]` writes metrics.json's scores overall and per modality."""
import json
import shutil
import signal
import struct

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator

from conftest import assert_user_error
from test_train_interrupt import interrupt
from vqa_reference import make_demo, write_config

STEPS = 6


@pytest.fixture(scope="module")
def demo(tmp_path_factory, medvqa_bin):
    return make_demo(medvqa_bin, tmp_path_factory.mktemp("loggers"), 5)


def config(demo, name, **train):
    return write_config(demo / f"{name}.json", demo / "towers", demo / "data", "align", demo / name,
                        model={"feature_layer": -1, "lora": {"r": 0}, "threads": 2},
                        train={"max_steps": STEPS, "batch_size": 2, "lr": 1e-3, "save_every": 2, "val_every": 3,
                               "keep_last": 10, "loggers": ["jsonl", "tensorboard"], **train})


def tag(key):
    """The trainer's TensorBoard tag of a metrics.jsonl key."""
    return "val/loss" if key == "val_loss" else f"train/{key}"


def scalars(tb_dir):
    """{tag: [(step, value), ...]} as TensorBoard reads the folder."""
    acc = event_accumulator.EventAccumulator(str(tb_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def jsonl_scalars(run_dir):
    """metrics.jsonl as {tag: [(step, float32 value), ...]}."""
    out = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        m = json.loads(line)
        for key, value in m.items():
            if key != "step":
                out.setdefault(tag(key), []).append((m["step"], float(np.float32(value))))
    return out


def assert_tensorboard_equals_jsonl(run_dir):
    got, want = scalars(run_dir / "tb"), jsonl_scalars(run_dir)
    assert sorted(got) == sorted(want)
    for t in want:
        assert got[t] == want[t], f"{t}: TensorBoard {got[t]} != metrics.jsonl {want[t]}"
    steps = [s for s, _ in want["train/loss"]]
    assert steps == list(range(1, STEPS + 1)), f"each step once, got {steps}"
    assert len(list((run_dir / "tb").iterdir())) == 1, "one event file, no temporary ones"


@pytest.fixture(scope="module")
def straight(demo, run):
    run("train", "-c", config(demo, "straight"))
    return demo / "straight"


def test_every_tensorboard_scalar_equals_metrics_jsonl(straight):
    assert_tensorboard_equals_jsonl(straight)
    got = scalars(straight / "tb")
    assert {"train/loss", "train/lr", "train/grad_norm", "train/samples_per_s", "val/loss"} <= set(got)
    assert [s for s, _ in got["val/loss"]] == [3, 6]


def test_a_run_resumed_from_an_earlier_checkpoint_shows_each_step_once(demo, run, straight):
    """The first run logged steps 1..6; resumed from step 4 it logs 5 and 6 again: TensorBoard must
    see only the resumed values (samples/s differ between the two runs)."""
    run_dir = demo / "rewound"
    shutil.copytree(straight, run_dir)
    first = jsonl_scalars(run_dir)
    run("train", "-c", config(demo, "rewound"), f"train.resume={run_dir / 'checkpoints/step_000000004'}")
    assert_tensorboard_equals_jsonl(run_dir)
    resumed = jsonl_scalars(run_dir)
    assert resumed["train/samples_per_s"][4:] != first["train/samples_per_s"][4:], "steps 5, 6 were not logged again"


def test_a_run_killed_then_resumed_shows_each_step_once(demo, run, medvqa_bin):
    cfg, run_dir = config(demo, "killed", save_every=1), demo / "killed"
    code, _ = interrupt(medvqa_bin, cfg, run_dir, signal.SIGKILL, after_step=2)
    assert code == -signal.SIGKILL
    # What the kill left is readable, and each value equals the line metrics.jsonl has for it.
    got, want = scalars(run_dir / "tb"), jsonl_scalars(run_dir)
    assert got["train/loss"], "nothing readable after the kill"
    for t, values in got.items():
        assert values == want[t][:len(values)], t
    # From the checkpoint before the newest, so that the killed run surely logged a step the resumed one repeats.
    run("train", "-c", cfg, f"train.resume={run_dir / 'checkpoints/step_000000001'}")
    assert_tensorboard_equals_jsonl(run_dir)


def record_ends(data):
    """The end offset of every TFRecord of an event file's bytes."""
    ends, pos = [], 0
    while pos < len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + 4 + length + 4
        ends.append(pos)
    assert pos == len(data)
    return ends


def test_an_event_file_cut_inside_its_last_record_reads_up_to_the_cut(straight, tmp_path):
    (event_file,) = (straight / "tb").iterdir()
    data = event_file.read_bytes()
    ends = record_ends(data)
    whole = scalars(straight / "tb")
    # The last record is the last of step 6's values (val/loss, logged after the step's line).
    assert whole["val/loss"][-1][0] == STEPS
    before = {t: v[:-1] if t == "val/loss" else v for t, v in whole.items()}
    for cut in (ends[-2] + 1, ends[-2] + 8, ends[-2] + 12, ends[-1] - 4, ends[-1] - 1):
        folder = tmp_path / f"cut_{cut}"
        folder.mkdir()
        (folder / event_file.name).write_bytes(data[:cut])
        assert scalars(folder) == before, f"cut at byte {cut} of {len(data)}"


def eval_scalars(metrics):
    """metrics.json's scores as the eval's TensorBoard scalars: eval/<score> and eval/<score>/<modality>."""
    want = {}
    for suffix, group in [("", metrics)] + [(f"/{m}", g) for m, g in metrics["by_modality"].items()]:
        for key, value in group.items():
            if key != "n" and isinstance(value, float):
                want[f"eval/{key}{suffix}"] = [(0, float(np.float32(value)))]
    return want


def test_eval_writes_per_modality_scalars_equal_to_metrics_json(demo, run, tmp_path):
    out = tmp_path / "eval"
    cfg = {"model": {"vision": str(demo / "towers/vision"), "llm": str(demo / "towers/llm"), "feature_layer": -1,
                     "dtype": "fp32", "device": "cpu", "threads": 2, "lora": {"r": 0}},
           "data": {"root": str(demo / "data"), "max_seq_len": 128, "workers": 1},
           "eval": {"out_dir": str(out), "split": "val", "batch_size": 4, "max_new_tokens": 2, "blind": True,
                    "loggers": ["tensorboard"]}}
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(cfg))
    for _ in range(2):  # the second evaluation into the folder replaces the first's scalars, as it does metrics.json
        run("eval", "-c", path)
        want = eval_scalars(json.loads((out / "metrics.json").read_text()))
        assert "eval/blind_open_accuracy" in want and "eval/open_accuracy/X-Ray" in want
        assert scalars(out / "tb") == want
        assert len(list((out / "tb").iterdir())) == 1


def test_a_bad_logger_name_is_a_user_error_naming_the_key(demo, run):
    assert_user_error(run("config", "-c", config(demo, "typo"), "train.loggers=[jsonl, tensorbord]", check=False),
                      "train.loggers[1]: expected one of jsonl, tensorboard, got 'tensorbord' (did you mean 'tensorboard'?)")
