"""scripts/steps.sh, the step runner of scripts/gpu-check.sh, on a tiny step list: a failure does not
stop the run, each step has its own timeout and the run its budget, GPU steps are skipped without a
GPU, and summary.json holds every step's status, reason, time and figures."""
import json
import subprocess

from conftest import ROOT

STEPS = r"""
source "$1/scripts/steps.sh"
steps_begin "$2" 12 0
step ok 5 bash -c 'echo "{\"x\": 1}" > "$STEP_FIGURES"'
step bad 5 bash -c 'echo "boom"; exit 3'
step slow 1 sleep 5
step skip 5 bash -c 'echo "skipped: nothing to do"; exit 77'
step cuda 5 --gpu false
step late 30 sleep 30
step after 5 true
steps_end '{"gpu": 0}'
"""


def test_steps_go_on_past_failures_and_write_one_summary(tmp_path):
    proc = subprocess.run(["bash", "-c", STEPS, "_", str(ROOT), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    got = {s["step"]: (s["status"], s.get("reason"), s.get("figures")) for s in summary["steps"]}
    # "late" gets what is left of the 12 s budget less the 5 s kept for the summary, about 5 s.
    late = got.pop("late")
    assert late[0] == "failed" and late[1].startswith("timed out after "), late
    assert got == {
        "ok": ("passed", None, {"x": 1}),
        "bad": ("failed", "exit 3: boom", None),
        "slow": ("failed", "timed out after 1 s", None),
        "skip": ("skipped", "skipped: nothing to do", None),
        "cuda": ("skipped", "no GPU", None),
        "after": ("skipped", "out of time (run budget spent)", None),
    }, got
    assert (summary["gpu"], summary["passed"], summary["failed"], summary["skipped"]) == (0, 1, 3, 3)
    assert all(s["seconds"] < 8 for s in summary["steps"]), summary["steps"]
    assert "boom" in (tmp_path / "log.txt").read_text()
