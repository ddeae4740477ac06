"""The PyTorch peer of medvqa's VQA model, for parity tests and benchmarks: open_clip's vision tower
read from the same open_clip directory, LLaVA's mm_projector, transformers' LlamaForCausalLM with a
PEFT LoRA adapter; the features of one hidden state of the tower replace the image placeholder
embeddings (masked_scatter, as transformers' LLaVA does) and transformers computes the loss.
Also the demo fixtures (`medvqa demo-data` + `demo-towers`) and the config the tests train with."""
import json
import subprocess
from pathlib import Path
from unittest import mock

import open_clip
import timm
import torch
from open_clip.model import _build_vision_tower
from safetensors.torch import load_file
from torch import nn

ROOT = Path(__file__).resolve().parents[2]


def make_demo(medvqa_bin, root, images_per_modality=8):
    """root/data (the synthetic OmniMedVQA layout) and root/towers/{vision,llm}, written by medvqa."""
    for args in (["demo-data", "--out", root / "data", "--images-per-modality", images_per_modality],
                 ["demo-towers", "--out", root / "towers", "--tokenizer", ROOT / "third_party/llama3/tokenizer.model"]):
        subprocess.run([str(medvqa_bin), *map(str, args)], check=True, capture_output=True)
    return root


def write_few_items(data, n, path):
    """A JSONL file (data.format=jsonl) of n items of the demo data at `data`: one question per
    image, distinct answers."""
    qa = []
    for f in sorted((data / "QA_information/Open-access").glob("*.json")):
        qa += json.loads(f.read_text())
    chosen, images = {}, set()
    for item in qa:
        if item["image_path"] not in images and item["gt_answer"] not in chosen:
            images.add(item["image_path"])
            chosen[item["gt_answer"]] = {"image": str(data / item["image_path"]), "question": item["question"],
                                         "answer": item["gt_answer"]}
        if len(chosen) == n:
            break
    assert len(chosen) == n, f"the demo data has fewer than {n} distinct answers"
    path.write_text("".join(json.dumps(c) + "\n" for c in chosen.values()))
    return path


def write_config(path, towers, data, stage, out_dir, model=None, train=None, data_extra=None, dist=None):
    """A training config (JSON is YAML) on CPU, fp32, one thread; `model`/`train`/`dist` set keys."""
    cfg = {"model": {"vision": str(towers / "vision"), "llm": str(towers / "llm"), "dtype": "fp32", "device": "cpu",
                     "threads": 1, **(model or {})},
           "data": {"root": str(data), "max_seq_len": 128, "workers": 1, **(data_extra or {})},
           "train": {"stage": stage, "out_dir": str(out_dir), "log_every": 1, **(train or {})},
           "dist": dist or {}}
    path.write_text(json.dumps(cfg))
    return path


def load_open_clip_tower(directory):
    """The vision tower open_clip builds from DIR/open_clip_config.json, with DIR's visual.* weights
    (open_clip_model.safetensors or open_clip_pytorch_model.bin). open_clip hands
    timm_model_kwargs to timm.create_model (this release has no such field: applied by wrapping)."""
    directory = Path(directory)
    config = json.loads((directory / "open_clip_config.json").read_text())
    vision_cfg = dict(config["model_cfg"]["vision_cfg"])
    kwargs = vision_cfg.pop("timm_model_kwargs", {})
    create = timm.create_model
    with mock.patch.object(open_clip.timm_model.timm, "create_model", lambda *a, **k: create(*a, **{**k, **kwargs})):
        tower = _build_vision_tower(config["model_cfg"]["embed_dim"], vision_cfg)
    files = sorted(directory.glob("*.safetensors"))
    state = load_file(files[0]) if files else torch.load(directory / "open_clip_pytorch_model.bin", weights_only=True)
    tower.load_state_dict({k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}, strict=True)
    return tower.eval()


class Projector(nn.Module):
    """LLaVA's mm_projector: keys mm_projector.{0,2}.{weight,bias} (mlp2x_gelu) or mm_projector.0.*."""

    def __init__(self, kind, in_features, out_features):
        super().__init__()
        layers = [nn.Linear(in_features, out_features)]
        if kind == "mlp2x_gelu":
            layers += [nn.GELU(), nn.Linear(out_features, out_features)]
        self.mm_projector = nn.Sequential(*layers)

    def forward(self, x):
        return self.mm_projector(x)


class VqaReference(nn.Module):
    """tower (frozen) -> hidden state `feature_layer` (HF numbering: i = output of block i-1, negative
    from the end) -> patch tokens -> projector -> masked_scatter at `image_token_id` -> llm."""

    def __init__(self, tower, projector, llm, image_token_id=128002, feature_layer=-2):
        super().__init__()
        self.tower, self.projector, self.llm = tower, projector, llm
        self.image_token_id = image_token_id
        depth = len(tower.trunk.blocks)
        self.block = feature_layer if feature_layer >= 0 else depth + 1 + feature_layer
        assert 1 <= self.block <= depth, f"feature_layer {feature_layer} of a {depth}-block tower"

    def features(self, pixels):
        captured = {}
        hook = self.tower.trunk.blocks[self.block - 1].register_forward_hook(lambda m, i, o: captured.setdefault("h", o))
        with torch.no_grad():
            self.tower.trunk.forward_features(pixels)
        hook.remove()
        return self.projector(captured["h"][:, self.tower.trunk.num_prefix_tokens:])  # patch tokens only

    def inputs_embeds(self, input_ids, pixels):
        embeds = self.llm.get_input_embeddings()(input_ids)
        mask = (input_ids == self.image_token_id).unsqueeze(-1)
        return embeds.masked_scatter(mask, self.features(pixels).to(embeds.dtype))

    def forward(self, input_ids, attention_mask, labels, pixels):
        """transformers' causal-LM output; .loss is the mean cross-entropy over the label tokens."""
        return self.llm(inputs_embeds=self.inputs_embeds(input_ids, pixels), attention_mask=attention_mask,
                        labels=labels)


def peft_key(medvqa_name):
    """medvqa's trainable name of a LoRA weight -> PEFT's state-dict key (adapter 'default' omitted,
    as in adapter_model.safetensors): llm.model.layers.0... -> base_model.model.model.layers.0..."""
    assert medvqa_name.startswith("llm."), medvqa_name
    return "base_model.model." + medvqa_name[len("llm."):]
