"""Parity of `medvqa generate` with transformers' LlamaForCausalLM on tiny random models that
transformers itself writes (save_pretrained), and on the same weights in Meta's original format
(params.json + consolidated.00.pth with wq/wk in Meta's interleaved RoPE layout): prompt logits
(--dump-logits) and greedy continuations; plus the errors bad models and bad prompts give."""
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM

from conftest import TOKENIZER_MODEL, assert_user_error

LOGITS_TOL = 1e-4  # fp32 logits, medvqa vs transformers, every prompt position
# Reduced-precision logits against transformers in the same dtype: both round every op's output,
# bf16 to 8 significant bits, fp16 to 11. Measured: bf16 4e-6 on Zen 3 (medvqa's widened bf16 GEMM
# sums in another order than MKL's) and 0 on Zen 5 (both the GEMM and the streaming pair kernel),
# fp16 0. The dtype itself moves these logits from fp32 by ~0.15 (bf16)
# and ~0.026 (fp16), checked below, so the bounds are not vacuous.
REDUCED_PRECISION_LOGITS_TOL = {"bf16": 1e-2, "fp16": 2e-3}
TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
GAP_TOL = 1e-3  # a greedy step whose top-2 logit gap is below this may flip on fp32 rounding
NEW_TOKENS = 12
PROMPT = [1, 37, 201, 5, 88, 143, 9, 250, 17, 64, 3, 199, 120, 45, 77, 230, 11, 2, 160, 98, 31, 205, 6, 150]
LLAMA31_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192}

BASE = dict(vocab_size=256, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=512,
            initializer_range=0.2)
# name -> (config overrides, weight dtype, shards, Meta format too)
MODELS = {
    "gqa": ({}, torch.float32, 1, True),
    "mha": ({"num_key_value_heads": 4}, torch.float32, 1, True),
    "mqa": ({"num_key_value_heads": 1}, torch.float32, 1, True),
    "head_dim128": ({"head_dim": 128}, torch.float32, 1, False),  # Meta's format has no head_dim
    "llama3_rope": ({"rope_theta": 500000.0, "rope_scaling": LLAMA31_SCALING, "max_position_embeddings": 131072},
                    torch.float32, 1, True),
    "tied": ({"tie_word_embeddings": True}, torch.float32, 1, True),
    "bf16_sharded": ({}, torch.bfloat16, 3, True),
}


def meta_interleave(w, heads):
    """HF rotate-half rows -> Meta's interleaved pairs (the inverse of the permutation at load)."""
    rows, dim = w.shape
    return w.view(heads, 2, rows // heads // 2, dim).transpose(1, 2).reshape(rows, dim).contiguous()


def write_meta(model, cfg, dtype, out):
    sd = {k: v.to(dtype) for k, v in model.state_dict().items()}
    meta = {"tok_embeddings.weight": sd["model.embed_tokens.weight"], "norm.weight": sd["model.norm.weight"],
            "output.weight": sd.get("lm_head.weight", sd["model.embed_tokens.weight"])}
    names = {"self_attn.v_proj": "attention.wv", "self_attn.o_proj": "attention.wo", "mlp.gate_proj": "feed_forward.w1",
             "mlp.down_proj": "feed_forward.w2", "mlp.up_proj": "feed_forward.w3",
             "input_layernorm": "attention_norm", "post_attention_layernorm": "ffn_norm"}
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        meta[f"layers.{i}.attention.wq.weight"] = meta_interleave(sd[p + "self_attn.q_proj.weight"], cfg.num_attention_heads)
        meta[f"layers.{i}.attention.wk.weight"] = meta_interleave(sd[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads)
        for hf, m in names.items():
            meta[f"layers.{i}.{m}.weight"] = sd[p + hf + ".weight"]
    out.mkdir()
    torch.save({k: v.clone() for k, v in meta.items()}, out / "consolidated.00.pth")
    scaling = cfg.rope_parameters.get("rope_type") == "llama3"
    params = {"dim": cfg.hidden_size, "n_layers": cfg.num_hidden_layers, "n_heads": cfg.num_attention_heads,
              "n_kv_heads": cfg.num_key_value_heads, "vocab_size": cfg.vocab_size, "multiple_of": 32,
              "ffn_dim_multiplier": None, "norm_eps": cfg.rms_norm_eps,
              "rope_theta": cfg.rope_parameters["rope_theta"], "use_scaled_rope": scaling}
    (out / "params.json").write_text(json.dumps(params))


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """name -> {"hf": dir, "meta": dir or None, "ref": fp32 LlamaForCausalLM loaded from the HF dir}."""
    root = tmp_path_factory.mktemp("llama")
    out = {}
    for seed, (name, (overrides, dtype, shards, meta)) in enumerate(MODELS.items()):
        torch.manual_seed(seed)
        cfg = LlamaConfig(**{**BASE, **overrides})
        model = LlamaForCausalLM(cfg).to(dtype).eval()
        hf = root / name
        if shards > 1:
            total = sum(p.numel() * p.element_size() for p in model.parameters())
            model.save_pretrained(hf, max_shard_size=int(total * 0.45))  # 3 shards for this model
            assert len(list(hf.glob("*.safetensors"))) == shards
        else:
            model.save_pretrained(hf)
        meta_dir = None
        if meta:
            meta_dir = root / f"{name}_meta"
            write_meta(model, cfg, dtype, meta_dir)
        ref = LlamaForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
        out[name] = {"hf": hf, "meta": meta_dir, "ref": ref}
    return out


def medvqa_logits(run, model_dir, tmp_path, ids=PROMPT, dtype="fp32"):
    path = tmp_path / "logits.safetensors"
    run("generate", "--model", model_dir, "--ids", ",".join(map(str, ids)), "--max-new-tokens", 0, "--dtype", dtype,
        "--device", "cpu", "--threads", 2, "--dump-logits", path, "--json")
    return load_file(path)["logits"]


def assert_logits_close(got, want, tol=LOGITS_TOL):
    assert got.dtype == torch.float32 and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    diff = (got - want).abs()
    at = divmod(int(diff.argmax()), diff.shape[1])
    assert diff.max() <= tol, f"max abs diff {diff.max():.3g} at (position, token) {at}"
    print(f"max abs diff {diff.max():.3g}")


def reference_logits(ref, ids=PROMPT):
    with torch.no_grad():
        return ref(torch.tensor([ids])).logits[0].float()


@pytest.mark.parametrize("name", MODELS)
def test_logits_match_transformers(run, models, tmp_path, name):
    m = models[name]
    assert_logits_close(medvqa_logits(run, m["hf"], tmp_path), reference_logits(m["ref"]))


@pytest.mark.parametrize("name", [n for n, spec in MODELS.items() if spec[3]])
def test_meta_format_logits_match_transformers(run, models, tmp_path, name):
    m = models[name]
    assert_logits_close(medvqa_logits(run, m["meta"], tmp_path), reference_logits(m["ref"]))


@pytest.mark.parametrize("prompt", [PROMPT, PROMPT[:6]], ids=["gemm", "streaming"])
@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
@pytest.mark.parametrize("name", ["gqa", "bf16_sharded"])
def test_reduced_precision_logits_match_transformers(run, models, tmp_path, name, dtype, prompt):
    """--dtype bf16 / fp16 computes in that dtype (fp16 on the CPU here; the CUDA run needs a GPU).
    A 6-token prompt is at most 8 rows per linear: decoder_linear's streaming kernels (in bf16 the
    AVX512-BF16 pair one where the CPU has it), as in every decode step; 24 tokens take the GEMMs."""
    m, tol = models[name], REDUCED_PRECISION_LOGITS_TOL[dtype]
    got = medvqa_logits(run, m["hf"], tmp_path, ids=prompt, dtype=dtype)
    ref = LlamaForCausalLM.from_pretrained(m["hf"], dtype=TORCH_DTYPES[dtype]).eval()
    fp32 = reference_logits(m["ref"], prompt)
    print(f"transformers {dtype} vs fp32: max abs diff {(reference_logits(ref, prompt) - fp32).abs().max():.3g}")
    assert (got - fp32).abs().max() > tol, f"medvqa --dtype {dtype} computed in fp32"
    assert_logits_close(got, reference_logits(ref, prompt), tol)


def medvqa_generate(run, model_dir, *prompts, extra=()):
    args = ["generate", "--model", model_dir, "--max-new-tokens", NEW_TOKENS, "--dtype", "fp32", "--device", "cpu",
            "--threads", 2, "--json", *extra]
    for p in prompts:
        args += ["--ids", ",".join(map(str, p))]
    return json.loads(run(*args).stdout)["ids"]


def assert_greedy_matches(ref_model, prompt, got):
    """got == transformers' greedy continuation, up to a step whose top-2 logit gap is within GAP_TOL."""
    with torch.no_grad():
        ref = ref_model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=NEW_TOKENS,
                                 output_scores=True, return_dict_in_generate=True)
    want = ref.sequences[0, len(prompt):].tolist()
    step = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), None)
    if step is None:
        assert got == want, f"same tokens, different stopping: medvqa {got} vs transformers {want}"
        return
    top2 = ref.scores[step][0].topk(2).values
    gap = float(top2[0] - top2[1])
    assert gap < GAP_TOL, f"step {step}: medvqa {got} vs transformers {want}, top-2 gap {gap:.3g} >= {GAP_TOL}"


@pytest.mark.parametrize("name", MODELS)
def test_greedy_matches_transformers_generate(run, models, name):
    m = models[name]
    assert_greedy_matches(m["ref"], PROMPT, medvqa_generate(run, m["hf"], PROMPT, extra=["--greedy"]))


def test_prompt_text_through_the_tokenizer(run, tmp_path):
    """--prompt: <|begin_of_text|> + tiktoken ids of the text; "text" is the decoded continuation."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    pattern = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
    enc = tiktoken.Encoding("llama3", pat_str=pattern, mergeable_ranks=load_tiktoken_bpe(str(TOKENIZER_MODEL)),
                            special_tokens={"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001})
    torch.manual_seed(11)
    cfg = LlamaConfig(**{**BASE, "vocab_size": 128256, "hidden_size": 16, "intermediate_size": 32,
                         "head_dim": 8, "initializer_range": 0.5, "bos_token_id": 128000, "eos_token_id": 128001})
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(tmp_path / "m")
    text = "The chest X-ray shows a 3.5 cm opacity"
    out = json.loads(run("generate", "--model", tmp_path / "m", "--tokenizer", TOKENIZER_MODEL, "--prompt", text,
                         "--max-new-tokens", NEW_TOKENS, "--dtype", "fp32", "--device", "cpu", "--json").stdout)
    assert_greedy_matches(model, [128000] + enc.encode(text), out["ids"])
    ids = [i for i in out["ids"] if i not in (128001, 128009)]
    assert out["text"] == enc.decode(ids)


@pytest.mark.parametrize("padding", ["left", "right"])
def test_padded_batch_equals_single_prompts(run, models, padding):
    d = models["gqa"]["hf"]
    prompts = [PROMPT, PROMPT[5:9], PROMPT[:15]]
    singles = [medvqa_generate(run, d, p) for p in prompts]
    assert medvqa_generate(run, d, *prompts, extra=["--padding", padding]) == singles


def test_sampling_is_seeded_and_top_k_one_is_greedy(run, models):
    d = models["gqa"]["hf"]
    sample = ["--temperature", "0.8", "--top-p", "0.9", "--seed", "5"]
    assert medvqa_generate(run, d, PROMPT, extra=sample) == medvqa_generate(run, d, PROMPT, extra=sample)
    assert medvqa_generate(run, d, PROMPT, extra=["--top-k", "1", "--seed", "9"]) == medvqa_generate(run, d, PROMPT)


def test_classic_config_fields(run, models, tmp_path):
    """rope_theta / rope_scaling / torch_dtype (transformers < 5) read like rope_parameters / dtype."""
    m = models["llama3_rope"]
    d = tmp_path / "classic"
    shutil.copytree(m["hf"], d)
    cfg = json.loads((d / "config.json").read_text())
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = rope
    cfg["torch_dtype"] = cfg.pop("dtype", "float32")
    (d / "config.json").write_text(json.dumps(cfg))
    assert_logits_close(medvqa_logits(run, d, tmp_path), reference_logits(m["ref"]))


@pytest.fixture
def broken(models, tmp_path):
    """A writable copy of the fp32 GQA model directory."""
    d = tmp_path / "broken"
    shutil.copytree(models["gqa"]["hf"], d)
    return d


def edit_config(d, fn):
    cfg = json.loads((d / "config.json").read_text())
    fn(cfg)
    (d / "config.json").write_text(json.dumps(cfg))


def generate_ids(run, d, ids="1,2,3"):
    return run("generate", "--model", d, "--ids", ids, "--max-new-tokens", 2, "--device", "cpu", check=False)


def test_missing_config_fields_listed_together(run, broken):
    edit_config(broken, lambda c: [c.pop("hidden_size"), c.pop("num_hidden_layers")])
    assert_user_error(generate_ids(run, broken), '"hidden_size"', '"num_hidden_layers"')


def test_contradictory_config_fields(run, broken):
    def contradict(c):
        c["rope_theta"] = 500000.0
        c["torch_dtype"] = "bfloat16"
        c["dtype"] = "float32"
        c["num_key_value_heads"] = 3
    edit_config(broken, contradict)
    assert_user_error(generate_ids(run, broken), "rope_theta", "contradicts rope_parameters.rope_theta",
                      'torch_dtype "bfloat16" contradicts dtype "float32"', "not a multiple of num_key_value_heads 3")


def test_wrong_shape_and_missing_tensor_listed_together(run, broken):
    path = broken / "model.safetensors"
    sd = load_file(path)
    sd["model.layers.1.self_attn.k_proj.weight"] = torch.zeros(16, 64)
    del sd["model.norm.weight"]
    save_file(sd, path, metadata={"format": "pt"})
    assert_user_error(generate_ids(run, broken), "'model.layers.1.self_attn.k_proj.weight'", "expected shape [32, 64]",
                      "got [16, 64]", "missing tensor 'model.norm.weight'")


def test_unexpected_tensor(run, broken):
    path = broken / "model.safetensors"
    sd = load_file(path)
    sd["model.layers.2.mlp.up_proj.weight"] = torch.zeros(192, 64)
    save_file(sd, path, metadata={"format": "pt"})
    assert_user_error(generate_ids(run, broken), "unexpected tensor 'model.layers.2.mlp.up_proj.weight'")


def test_ids_outside_vocabulary(run, models):
    assert_user_error(generate_ids(run, models["gqa"]["hf"], "5,256,7"), "id 256 at position 1", "[0, 256)")


@pytest.mark.parametrize("ids", ["", "1,,2", "1,x"])
def test_empty_or_malformed_prompt(run, models, ids):
    proc = generate_ids(run, models["gqa"]["hf"], ids)
    assert_user_error(proc, "--ids")
