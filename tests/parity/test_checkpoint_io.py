"""Checkpoint I/O against the real libraries: files written by PyPI safetensors, transformers and
torch.save are read bit-exactly by medvqa (through `convert`, whose output PyPI safetensors reads
back), `inspect --json` agrees with them, and every broken input is a clean user error."""
import collections
import json
import os
import struct

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import assert_user_error


def assert_bit_exact(expected: dict, path):
    got = load_file(str(path))
    assert sorted(got) == sorted(expected), f"names differ: {sorted(set(got) ^ set(expected))}"
    for name, want in expected.items():
        have = got[name]
        assert have.dtype == want.dtype, f"{name}: dtype {have.dtype} != {want.dtype}"
        assert list(have.shape) == list(want.shape), f"{name}: shape {list(have.shape)} != {list(want.shape)}"
        a = want.contiguous().reshape(-1).view(torch.uint8)
        b = have.contiguous().reshape(-1).view(torch.uint8)
        if not torch.equal(a, b):
            diff = (have.double() - want.double()).abs()
            idx = int(diff.argmax())
            raise AssertionError(f"{name}: not bit-exact, max abs diff {float(diff.max())} at flat index {idx}")


def mixed_tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "f32": torch.randn(3, 5, generator=g),
        "bf16": torch.randn(4, 7, generator=g).to(torch.bfloat16),
        "f16": torch.randn(2, 3, 4, generator=g).to(torch.float16),
        "f64": torch.randn(5, generator=g).double(),
        "i64": torch.arange(-5, 6, dtype=torch.int64),
        "i32": torch.arange(7, dtype=torch.int32),
        "u8": torch.arange(200, 216, dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
    }


def test_safetensors_round_trip_bit_exact(tmp_path, run):
    tensors = mixed_tensors()
    src = tmp_path / "in.safetensors"
    save_file(tensors, str(src), metadata={"format": "pt", "note": "médvqa ✓"})
    out = tmp_path / "out.safetensors"
    run("convert", src, out)
    assert_bit_exact(tensors, out)
    with safe_open(str(out), "pt") as f:
        assert f.metadata()["note"] == "médvqa ✓"
    header_len = struct.unpack("<Q", out.read_bytes()[:8])[0]
    assert header_len % 8 == 0


def test_inspect_json_agrees_with_safetensors(tmp_path, run):
    tensors = mixed_tensors()
    src = tmp_path / "in.safetensors"
    save_file(tensors, str(src), metadata={"format": "pt"})
    got = json.loads(run("inspect", "--json", src).stdout)
    with safe_open(str(src), "pt") as f:
        names = sorted(f.keys())
        assert [t["name"] for t in got["tensors"]] == names
        for t in got["tensors"]:
            sl = f.get_slice(t["name"])
            assert t["dtype"] == sl.get_dtype()
            assert t["shape"] == list(sl.get_shape())
            assert t["bytes"] == tensors[t["name"]].numel() * tensors[t["name"]].element_size()
            assert t["file"] == str(src)
        assert got["metadata"] == f.metadata()
    assert got["total_params"] == sum(t.numel() for t in tensors.values())
    assert got["total_bytes"] == sum(t.numel() * t.element_size() for t in tensors.values())


def test_sharded_checkpoint_written_by_transformers(tmp_path, run):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.save_pretrained(tmp_path / "llama", max_shard_size="40KB")
    assert (tmp_path / "llama" / "model.safetensors.index.json").exists()
    shards = sorted(p.name for p in (tmp_path / "llama").glob("*.safetensors"))
    assert len(shards) >= 3, shards
    out = tmp_path / "merged.safetensors"
    run("convert", tmp_path / "llama", out)
    expected = {k: v for k, v in model.state_dict().items() if k in load_file(str(out))}
    assert_bit_exact(expected, out)
    got = json.loads(run("inspect", "--json", tmp_path / "llama").stdout)
    index = json.loads((tmp_path / "llama" / "model.safetensors.index.json").read_text())
    for t in got["tensors"]:
        assert os.path.basename(t["file"]) == index["weight_map"][t["name"]]


def test_torch_save_state_dicts_bit_exact(tmp_path, run):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 3))
    sd = module.state_dict()  # an OrderedDict carrying _metadata (pickled through BUILD)
    base = torch.randn(8, 10)
    shared = torch.arange(24, dtype=torch.int64)
    sd["view_t"] = base.t()                            # non-contiguous
    sd["view_slice"] = base[2:5, 3:9:2]                # offset + strides
    sd["bf16"] = torch.randn(5, 3).to(torch.bfloat16)
    sd["f16"] = torch.randn(2, 2).to(torch.float16)
    sd["shared_a"] = shared[:12]                       # two views of one storage
    sd["shared_b"] = shared.view(4, 6)[1:, 2:]
    path = tmp_path / "model.bin"
    torch.save(sd, path)
    out = tmp_path / "out.safetensors"
    run("convert", path, out)
    assert_bit_exact({k: v for k, v in sd.items()}, out)


def test_torch_save_nested_dict_flattens_to_dotted_names(tmp_path, run):
    nested = {"model": {"w": torch.ones(2, 2), "blocks": [torch.zeros(3), torch.full((1,), 7.0)]}, "step": 12}
    path = tmp_path / "ckpt.pt"
    torch.save(nested, path)
    got = json.loads(run("inspect", "--json", path).stdout)
    assert [t["name"] for t in got["tensors"]] == ["model.blocks.0", "model.blocks.1", "model.w"]


def test_convert_prefix_keeps_only_that_tower(tmp_path, run):
    sd = collections.OrderedDict({"visual.a": torch.ones(2), "visual.b": torch.zeros(3), "text.c": torch.ones(1)})
    torch.save(sd, tmp_path / "open_clip_pytorch_model.bin")
    out = tmp_path / "visual.safetensors"
    run("convert", tmp_path, out, "--prefix", "visual.")
    assert sorted(load_file(str(out))) == ["visual.a", "visual.b"]


# ---- broken input: each a clean error naming the file and the problem, exit 1, nothing written ----

def write_raw(path, header: dict, data: bytes, header_len=None):
    text = json.dumps(header).encode()
    n = len(text) if header_len is None else header_len
    path.write_bytes(struct.pack("<Q", n) + text + data)
    return path


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
BAD_SAFETENSORS = {
    "truncated": (lambda p: p.write_bytes(b"\x10\x00\x00"), "truncated"),
    "header_beyond_file": (lambda p: write_raw(p, GOOD, b"\0" * 8, header_len=4096), "runs past the end"),
    "header_too_large": (lambda p: write_raw(p, GOOD, b"\0" * 8, header_len=200_000_000), "exceeds the limit"),
    "invalid_json": (lambda p: p.write_bytes(struct.pack("<Q", 6) + b"{nope}"), "not valid JSON"),
    "unknown_dtype": (lambda p: write_raw(p, {"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
                      "unknown dtype 'F33'"),
    "shape_bytes_mismatch": (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                                                 b"\0" * 8), "needs 12 bytes"),
    "overlap": (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12),
                "overlaps"),
    "out_of_bounds": (lambda p: write_raw(p, {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8),
                      "truncated file or out-of-bounds"),
    "duplicate_name": (lambda p: p.write_bytes(struct.pack("<Q", 120) + (
        b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
        .ljust(120)) + b"\0" * 8), "appears twice"),
}


@pytest.mark.parametrize("case", sorted(BAD_SAFETENSORS))
def test_broken_safetensors_is_a_clean_error(tmp_path, run, case):
    make, fragment = BAD_SAFETENSORS[case]
    src = tmp_path / f"{case}.safetensors"
    make(src)
    out = tmp_path / "out.safetensors"
    assert_user_error(run("convert", src, out, check=False), str(src), fragment)
    assert not out.exists() and not list(tmp_path.glob("out.safetensors.tmp*"))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickle_naming_os_system_is_refused(tmp_path, run):
    path = tmp_path / "evil.bin"
    torch.save({"w": torch.ones(1), "x": Evil()}, path)
    proc = run("inspect", path, check=False)
    assert_user_error(proc, str(path), "refusing global", "system")
    assert "pwned" not in proc.stdout


def test_pickle_with_unknown_global_is_refused(tmp_path, run):
    path = tmp_path / "counter.pt"
    torch.save({"w": torch.ones(1), "c": collections.Counter("ab")}, path)
    assert_user_error(run("inspect", path, check=False), str(path), "refusing global 'collections.Counter'")


def test_legacy_torch_save_format_says_how_to_resave(tmp_path, run):
    path = tmp_path / "legacy.pth"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert_user_error(run("inspect", path, check=False), str(path), "legacy", "torch.save(torch.load(")


def test_truncated_torch_save_file(tmp_path, run):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.randn(64, 64)}, path)
    path.write_bytes(path.read_bytes()[: 3000])
    assert_user_error(run("inspect", path, check=False), str(path))


def test_missing_shard_is_named(tmp_path, run):
    for i, name in enumerate(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]):
        save_file({f"t{i}": torch.ones(2)}, str(tmp_path / name))
    index = {"metadata": {"total_size": 16},
             "weight_map": {"t0": "model-00001-of-00002.safetensors", "t1": "model-00002-of-00002.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    assert_user_error(run("inspect", tmp_path, check=False), "missing shard", "model-00002-of-00002.safetensors")
