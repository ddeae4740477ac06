"""The BiomedCLIP vision tower against open_clip/timm: random-weight towers built by open_clip's own
_build_vision_tower from the real BiomedCLIP open_clip_config.json (a tiny one through
timm_model_kwargs, and the full ViT-B/16), saved by torch.save in open_clip's layout, and
`medvqa embed` compared on the same pixels; position-embedding resampling against timm's
dynamic_img_size; bad input as clean user errors."""
import collections
import copy
import json
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file, save_file

import open_clip
import timm
from open_clip.model import _build_vision_tower
from conftest import assert_user_error

FP32_TOLERANCE = 1e-4  # max abs diff, fp32 (the brief's parity bound)
BF16_MIN_COSINE = 0.99  # bf16 vs the fp32 reference: the same features, at bf16's 8-bit mantissa
# bf16 vs open_clip in bf16: both round every op's output to 8 significant bits, in kernels that sum
# in other orders; max abs diff relative to the largest magnitude of each output.
BF16_REL_TOLERANCE = 2e-2

# REFERENCE.md: microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224's open_clip_config.json.
BIOMEDCLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 512,
        "vision_cfg": {"timm_model_name": "vit_base_patch16_224", "timm_model_pretrained": False, "timm_pool": "",
                       "timm_proj": "linear", "image_size": 224},
        "text_cfg": {"hf_model_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
                     "hf_tokenizer_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
                     "hf_proj_type": "mlp", "hf_pooler_type": "cls_last_hidden_state_pooler", "context_length": 256},
    },
    "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]},
}
TINY_KWARGS = {"embed_dim": 64, "depth": 3, "num_heads": 4}


def biomedclip_config(timm_model_kwargs=None):
    config = copy.deepcopy(BIOMEDCLIP_CONFIG)
    if timm_model_kwargs:
        config["model_cfg"]["vision_cfg"]["timm_model_kwargs"] = timm_model_kwargs
    return config


def build_tower(config, seed=0, **extra_timm_kwargs):
    """open_clip's vision tower for `config`. open_clip hands timm_model_kwargs to timm.create_model
    (this open_clip release has no such field, so it is applied by wrapping create_model)."""
    vision_cfg = dict(config["model_cfg"]["vision_cfg"])
    kwargs = {**vision_cfg.pop("timm_model_kwargs", {}), **extra_timm_kwargs}
    create = timm.create_model
    torch.manual_seed(seed)
    with mock.patch.object(open_clip.timm_model.timm, "create_model", lambda *a, **k: create(*a, **{**k, **kwargs})):
        tower = _build_vision_tower(config["model_cfg"]["embed_dim"], vision_cfg)
    with torch.no_grad():  # timm's init leaves biases at 0 and norms at 1: perturb everything
        for p in tower.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return tower.eval()


def save_open_clip_dir(path, config, tower):
    """open_clip's layout: visual.* beside text-tower keys and logit_scale, torch.save'd."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "open_clip_config.json").write_text(json.dumps(config))
    state = collections.OrderedDict(("visual." + k, v.clone()) for k, v in tower.state_dict().items())
    state["text.transformer.embeddings.word_embeddings.weight"] = torch.randn(10, 8)
    state["text.proj.0.weight"] = torch.randn(8, 8)
    state["logit_scale"] = torch.tensor(4.6052)
    torch.save(state, path / "open_clip_pytorch_model.bin")
    return path


@torch.no_grad()
def reference(tower, pixels):
    """(embedding, final-norm tokens, hidden state -2) of open_clip/timm."""
    captured = {}
    hook = tower.trunk.blocks[-2].register_forward_hook(lambda m, i, o: captured.setdefault("penultimate", o))
    embedding = tower(pixels)
    hook.remove()
    return {"embedding": embedding, "tokens": tower.trunk.forward_features(pixels), "penultimate": captured["penultimate"]}


def assert_close(name, got, want, tolerance):
    assert list(got.shape) == list(want.shape), f"{name}: shape {list(got.shape)} != {list(want.shape)}"
    diff = (got.double() - want.double()).abs()
    where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    print(f"{name}: max abs diff {float(diff.max()):.3g} at {where}")
    assert float(diff.max()) <= tolerance, (
        f"{name}: max abs diff {float(diff.max()):.3g} > {tolerance} at {where} (got {float(got[where])}, "
        f"want {float(want[where])})")


def embed(run, tmp_path, model_dir, pixels, *extra):
    src, out = tmp_path / "pixels.safetensors", tmp_path / "embed.safetensors"
    save_file({"pixels": pixels.contiguous()}, str(src))
    run("embed", "--vision", model_dir, "--pixels", src, "--out", out, "--threads", "2", *extra)
    return load_file(str(out))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    config = biomedclip_config(TINY_KWARGS)
    tower = build_tower(config)
    return save_open_clip_dir(tmp_path_factory.mktemp("tiny"), config, tower), tower


def test_tiny_matches_open_clip(tiny, run, tmp_path):
    model_dir, tower = tiny
    pixels = torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(1))
    got = embed(run, tmp_path, model_dir, pixels, "--dtype", "fp32")
    want = reference(tower, pixels[None])
    assert list(got["embedding"].shape) == [512]
    assert list(got["tokens"].shape) == list(got["penultimate"].shape) == [197, 64]
    for name in ("embedding", "tokens", "penultimate"):
        assert_close(name, got[name], want[name][0], FP32_TOLERANCE)


def test_full_vit_b16_batch_matches_open_clip(run, tmp_path):
    config = biomedclip_config()
    tower = build_tower(config, seed=3)
    model_dir = save_open_clip_dir(tmp_path / "vit_b16", config, tower)
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    got = embed(run, tmp_path, model_dir, pixels, "--dtype", "fp32")
    want = reference(tower, pixels)
    assert list(got["tokens"].shape) == [2, 197, 768]
    for name in ("embedding", "tokens", "penultimate"):
        assert_close(name, got[name], want[name], FP32_TOLERANCE)


@pytest.mark.parametrize("size", [(256, 256), (160, 192)])
def test_other_image_sizes_resample_pos_embed_as_timm(tiny, run, tmp_path, size):
    model_dir, tower = tiny
    config = biomedclip_config(TINY_KWARGS)
    dynamic = build_tower(config, dynamic_img_size=True)
    dynamic.load_state_dict(tower.state_dict())
    pixels = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(4))
    got = embed(run, tmp_path, model_dir, pixels, "--dtype", "fp32")
    with torch.no_grad():
        tokens = dynamic.trunk.forward_features(pixels)
        embedding = dynamic(pixels)
    assert_close("tokens", got["tokens"], tokens[0], FP32_TOLERANCE)
    assert_close("embedding", got["embedding"], embedding[0], FP32_TOLERANCE)


def test_bf16_agrees_with_fp32_reference(tiny, run, tmp_path):
    model_dir, tower = tiny
    pixels = torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(5))
    got = embed(run, tmp_path, model_dir, pixels, "--dtype", "bf16")
    want = reference(tower, pixels[None])
    for name in ("embedding", "tokens", "penultimate"):
        assert got[name].dtype == torch.float32  # written as fp32 whatever the compute dtype
        cosine = torch.nn.functional.cosine_similarity(got[name].flatten(), want[name][0].flatten(), dim=0)
        print(f"{name}: bf16 cosine similarity {float(cosine):.5f}")
        assert float(cosine) >= BF16_MIN_COSINE, f"{name}: cosine {float(cosine)} < {BF16_MIN_COSINE}"


@pytest.mark.parametrize("which", ["tiny", "vit_b16"])
def test_bf16_matches_open_clip_in_bf16(tiny, run, tmp_path, which):
    if which == "tiny":
        model_dir, tower = tiny
    else:
        config = biomedclip_config()
        tower = build_tower(config, seed=6)
        model_dir = save_open_clip_dir(tmp_path / "vit_b16", config, tower)
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(6))
    got = embed(run, tmp_path, model_dir, pixels, "--dtype", "bf16")
    want = reference(copy.deepcopy(tower).to(torch.bfloat16), pixels.to(torch.bfloat16))
    fp32 = reference(tower, pixels)
    for name in ("embedding", "tokens", "penultimate"):
        scale = float(want[name].float().abs().max())
        ours = float((got[name] - want[name].float()).abs().max()) / scale
        theirs = float((want[name].float() - fp32[name]).abs().max()) / scale
        print(f"{which} {name}: medvqa bf16 vs open_clip bf16 {ours:.3g}, open_clip bf16 vs fp32 {theirs:.3g} "
              f"(max abs diff / largest magnitude {scale:.3g})")
        assert_close(name, got[name], want[name].float(), BF16_REL_TOLERANCE * scale)
        # The comparison means something only if bf16 is visibly not fp32.
        assert theirs > 1e-3, name


def test_converted_vision_tower_loads_back(tiny, run, tmp_path):
    model_dir, _ = tiny
    converted = tmp_path / "converted"
    converted.mkdir()
    run("convert", model_dir / "open_clip_pytorch_model.bin", converted / "vision.safetensors", "--prefix", "visual.")
    (converted / "open_clip_config.json").write_text((model_dir / "open_clip_config.json").read_text())
    pixels = torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(6))
    from_bin = embed(run, tmp_path, model_dir, pixels, "--dtype", "fp32")
    from_safetensors = embed(run, tmp_path, converted, pixels, "--dtype", "fp32")
    for name in from_bin:
        assert torch.equal(from_bin[name], from_safetensors[name]), name


def test_image_input_equals_preprocessed_pixels(tiny, run, tmp_path):
    """--image runs src/vision's transform; the model sees exactly what `preprocess` writes."""
    from PIL import Image
    model_dir, _ = tiny
    image = tmp_path / "scan.png"
    Image.fromarray((torch.rand(300, 250, 3) * 255).to(torch.uint8).numpy()).save(image)
    pixels_file, from_image = tmp_path / "pixels.safetensors", tmp_path / "from_image.safetensors"
    run("preprocess", "--vision", model_dir, "--image", image, "--out", pixels_file)
    run("embed", "--vision", model_dir, "--image", image, "--out", from_image, "--dtype", "fp32", "--threads", "2")
    got = load_file(str(from_image))
    want = embed(run, tmp_path, model_dir, load_file(str(pixels_file))["pixels"], "--dtype", "fp32")
    for name in want:
        assert torch.equal(got[name], want[name]), name


# ---- bad input: exit 1, one `error:` line naming the problem ----

def test_missing_directory(run, tmp_path):
    pixels = tmp_path / "p.safetensors"
    save_file({"pixels": torch.zeros(3, 224, 224)}, str(pixels))
    proc = run("embed", "--vision", tmp_path / "nope", "--pixels", pixels, "--out", tmp_path / "o.safetensors",
               check=False)
    assert_user_error(proc, "nope", "no such directory")


def test_missing_config(tiny, run, tmp_path):
    model_dir, _ = tiny
    no_config = tmp_path / "no_config"
    no_config.mkdir()
    (no_config / "open_clip_pytorch_model.bin").write_bytes((model_dir / "open_clip_pytorch_model.bin").read_bytes())
    proc = run("embed", "--vision", no_config, "--pixels", tmp_path / "p.safetensors", "--out", tmp_path / "o", check=False)
    assert_user_error(proc, "open_clip_config.json")


def test_llama_directory_is_the_wrong_tower(run, tmp_path):
    llama = tmp_path / "llama"
    llama.mkdir()
    (llama / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    save_file({"model.embed_tokens.weight": torch.zeros(4, 8)}, str(llama / "model.safetensors"))
    proc = run("embed", "--vision", llama, "--pixels", tmp_path / "p.safetensors", "--out", tmp_path / "o", check=False)
    assert_user_error(proc, "open_clip_config.json", "Hugging Face model")


def test_text_only_checkpoint_is_the_wrong_tower(run, tmp_path):
    text_only = tmp_path / "text_only"
    text_only.mkdir()
    (text_only / "open_clip_config.json").write_text(json.dumps(biomedclip_config(TINY_KWARGS)))
    torch.save(collections.OrderedDict([("text.proj.0.weight", torch.zeros(8, 8)), ("logit_scale", torch.tensor(1.0))]),
               text_only / "open_clip_pytorch_model.bin")
    pixels = tmp_path / "p.safetensors"
    save_file({"pixels": torch.zeros(3, 224, 224)}, str(pixels))
    proc = run("embed", "--vision", text_only, "--pixels", pixels, "--out", tmp_path / "o", check=False)
    assert_user_error(proc, "no vision tower tensors", "visual.trunk")


def test_checkpoint_of_another_size_lists_every_shape(tiny, run, tmp_path):
    model_dir, _ = tiny
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "open_clip_config.json").write_text(json.dumps(biomedclip_config({**TINY_KWARGS, "embed_dim": 32})))
    (wrong / "open_clip_pytorch_model.bin").write_bytes((model_dir / "open_clip_pytorch_model.bin").read_bytes())
    pixels = tmp_path / "p.safetensors"
    save_file({"pixels": torch.zeros(3, 224, 224)}, str(pixels))
    proc = run("embed", "--vision", wrong, "--pixels", pixels, "--out", tmp_path / "o", check=False)
    assert_user_error(proc, "visual.trunk.pos_embed", "expected shape [1, 197, 32]", "got [1, 197, 64]",
                      "visual.trunk.blocks.2.mlp.fc1.weight")


@pytest.mark.parametrize("shape, fragment", [((1, 224, 224), "must be [3, H, W]"),
                                              ((3, 225, 224), "not a multiple of the patch size 16")])
def test_bad_pixels(tiny, run, tmp_path, shape, fragment):
    model_dir, _ = tiny
    pixels = tmp_path / "p.safetensors"
    save_file({"pixels": torch.zeros(*shape)}, str(pixels))
    proc = run("embed", "--vision", model_dir, "--pixels", pixels, "--out", tmp_path / "o.safetensors", check=False)
    assert_user_error(proc, fragment)
    assert not (tmp_path / "o.safetensors").exists()


def test_unsupported_pooling(tiny, run, tmp_path):
    model_dir, _ = tiny
    avg = tmp_path / "avg"
    avg.mkdir()
    config = biomedclip_config(TINY_KWARGS)
    config["model_cfg"]["vision_cfg"]["timm_pool"] = "avg"
    (avg / "open_clip_config.json").write_text(json.dumps(config))
    proc = run("embed", "--vision", avg, "--pixels", tmp_path / "p.safetensors", "--out", tmp_path / "o", check=False)
    assert_user_error(proc, f'{avg / "open_clip_config.json"}: key "model_cfg.vision_cfg.timm_pool": "avg" is not supported')


def test_image_and_pixels_are_exclusive(tiny, run, tmp_path):
    model_dir, _ = tiny
    proc = run("embed", "--vision", model_dir, "--out", tmp_path / "o", check=False)
    assert_user_error(proc, "exactly one of --image and --pixels")
