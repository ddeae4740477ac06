"""Prompt oracle: the token ids medvqa builds from raw OmniMedVQA items, against an oracle made only
of the real libraries and the published rules:
- transformers' fast tokenizer converted (TikTokenConverter) from Meta's LLaMA-3 tokenizer.model, with
  LLaMA-3's 256 special tokens (ids 128000..128255);
- Meta's LLaMA-3 Instruct chat template, applied by tokenizer.apply_chat_template;
- LLaVA's image placeholders: the user turn is N x "<|reserved_special_token_0|>" + "\\n" + question;
- OmniMedVQA's closed form: the question, then the options as a Python list of repr()s;
- the documented truncation (data.max_seq_len): only the question's tokens are cut, from their end.
The training form (user + assistant turns, labels on the answer and its <|eot_id|>) is read back from
`medvqa grad-check` (batch.input_ids, batch.labels, batch.attention_mask). The generation form (user
turn + the assistant header) has no command that prints it: it is checked through what `medvqa ask
--input --json` (generated ids) and `medvqa eval` (predictions) generate, against greedy decoding of the
same weights in PyTorch (open_clip tower, LLaVA projector, transformers' LlamaForCausalLM) on the
oracle's prompt ids."""
import contextlib
import json
import re
from dataclasses import dataclass
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter

from conftest import TOKENIZER_MODEL, assert_user_error
from test_tokenizer import LLAMA3_SPECIALS, PATTERN, json_lines
from vqa_reference import Projector, VqaReference, load_open_clip_tower, write_config

# meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json, "chat_template" (bos_token "<|begin_of_text|>").
LLAMA3_INSTRUCT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
PLACEHOLDER = "<|reserved_special_token_0|>"
IMAGE_TOKEN_ID = 128002  # model.image_token_id default
PAD_ID = 128004          # model.pad_token_id default
EOT_ID = 128009
STOP_IDS = {128001, 128009}  # <|end_of_text|>, <|eot_id|>: the test LLaMA's eos_token_id
IGNORE = -100
MAX_SEQ_LEN = 128
NEW_TOKENS = 4
OPTION_KEYS = ["option_A", "option_B", "option_C", "option_D"]
FORMS = ["open", "closed"]


def closed_question(question, options):
    """OmniMedVQA's closed form: the options as Python prints a list of str (the repr() of each)."""
    return (f"{question} Here are {len(options)} candidate answers: {list(options)} Only return what you think is "
            "the correct answer from the candidate answers, do not return any other irrelevant text!")


# ---------------------------------------------------------------------------------------------- items

LONG_EN = ("Given the patient's history of chronic obstructive pulmonary disease, recent weight loss, "
           "night sweats and a persistent cough with haemoptysis over the last three months, and considering "
           "the density, margins and location of the opacity in the right upper lobe, which finding best explains "
           "the appearance of this image?")
LONG_FR = ("Compte tenu des antécédents du patient, d'une fièvre persistante à 39 °C, d'une toux productive et "
           "d'une élévation de la CRP, quelle anomalie radiologique, décrite selon la localisation, l'étendue et "
           "l'aspect des bords, est la plus probable sur ce cliché thoracique de face ?")
LONG_ZH = ("患者男性，六十五岁，长期吸烟史，近三个月出现咳嗽、咳痰及体重下降，胸部影像提示右上肺占位，"
           "请结合病灶的密度、边缘、大小以及与周围组织的关系，判断这张图像最可能显示的是什么病变？")
LONG_MIX = ("Patient 🧑‍⚕️ reports « douleur » 疼痛 in the left iliac fossa; ultrasound 🩻 shows a 3.2 × 2.1 cm "
            "hypoechoic lesion with \"irregular\" margins and 'posterior' shadowing — what is the most likely "
            "diagnosis given the Doppler flow pattern, the patient's age and the CA-125 level?")


def base_items():
    """Hand-written OmniMedVQA items (option_A.. present as given); answers are among the options."""
    items = [
        # plain
        ("What imaging modality was used to acquire this image?", "CT", ["CT", "MRI", "X-ray", "ultrasound"]),
        ("Is there any abnormality in this image?", "yes", ["no", "yes"]),
        ("How many lesions are visible?", "2", ["3", "1", "2"]),
        ("Which organ is shown?", "liver", ["liver", "kidney", "spleen", "pancreas"]),
        ("What is the diagnosis?", "pneumonia", ["pneumonia", "normal"]),
        # long: truncated at MAX_SEQ_LEN in one form or both
        (LONG_EN, "lung carcinoma", ["tuberculosis", "lung carcinoma", "pneumonia", "sarcoidosis"]),
        (LONG_EN + " " + LONG_EN, "pneumonia", ["pneumonia", "abscess"]),
        (LONG_FR, "pneumopathie lobaire", ["pneumopathie lobaire", "épanchement pleural", "pneumothorax"]),
        (LONG_ZH, "肺癌", ["肺癌", "肺结核", "肺炎", "肺脓肿"]),
        (LONG_MIX, "endometrioma", ["endometrioma", "dermoid cyst", "abscess"]),
        (LONG_ZH + LONG_ZH, "肺结核", ["肺癌", "肺结核"]),
        ("word " * 60 + "?", "b", ["a", "b"]),
        ("1234567890" * 12, "12", ["12", "34"]),
        ("Describe:" + "\n- finding" * 30, "none", ["none", "many"]),
        (LONG_EN + "   ", "sarcoidosis", ["tuberculosis", "sarcoidosis"]),
        ("  " + LONG_FR + "\n", "pneumothorax", ["pneumothorax", "normal"]),
        # unicode in questions
        ("Quelle est la modalité d'imagerie utilisée ?", "IRM", ["IRM", "TDM", "échographie"]),
        ("这张图像使用了什么成像方式？", "磁共振", ["磁共振", "计算机断层扫描", "超声"]),
        ("Is the 🫁 normal on this 🩻?", "👍", ["👍", "👎"]),
        ("ما هي الطريقة المستخدمة في التصوير؟", "أشعة سينية", ["أشعة سينية", "رنين مغناطيسي"]),
        ("Is there cafe\u0301 au lait pigmentation (combining accent)?", "no", ["yes", "no"]),
        ("Welche Läsion ist größer: links oder rechts?", "links", ["links", "rechts"]),
        ("この画像の撮影方法は何ですか？", "CT", ["CT", "MRI"]),
        ("Is the SpO₂ ≥ 92 % and T ≈ 37.5 °C?", "yes", ["yes", "no"]),
        # quotes, backslashes, unicode in options (Python repr)
        ("Which label applies?", "it's benign", ["it's benign", "malignant"]),
        ("Which label applies?", 'so-called "ground glass"', ['so-called "ground glass"', "consolidation"]),
        ("Which label applies?", "both 'single' and \"double\"", ["both 'single' and \"double\"", "neither"]),
        ("Which path?", "C:\\scans\\ct.dcm", ["C:\\scans\\ct.dcm", "/scans/ct.dcm"]),
        ("Which term?", "épanchement", ["épanchement", "œdème", "naïve"]),
        ("Which term?", "肺炎", ["肺炎", "正常", "🦴 fracture"]),
        ("Which sign?", "🦴", ["🦴", "🧠", "🫀", "🩸"]),
        ("Which text?", "a'b\"c\\d", ["a'b\"c\\d", "''", '""']),
        ("Which value?", "5 mm", ["5 mm", "{braces}", "[brackets]", "100%"]),
        ("Which layout?", "line\nbreak", ["line\nbreak", "tab\there"]),
        # characters repr() escapes beyond quotes, backslash, \n and \t: not printable for Python
        ("Which measurement?", "5\u00a0mm", ["5\u00a0mm", "10 mm"]),                 # no-break space: '\xa0'
        ("Who reads it?", "\U0001F469\u200d\u2695\ufe0f",                                # ZWJ: '\u200d'
         ["\U0001F469\u200d\u2695\ufe0f", "\U0001F916"]),
        ("Which ending?", "cr\rlf", ["cr\rlf", "lf"]),                                # '\r'
        ("Which word?", "hyphen\u00adated", ["hyphen\u00adated", "plain"]),           # soft hyphen: '\xad'
        # whitespace at the question's start: the template's trim only reaches the content's end
        ("  What imaging technique was used?", "MRI", ["MRI", "CT"]),
        ("\nWhat imaging technique was used?", "CT", ["MRI", "CT"]),
        ("\n\n  Which view is this?", "lateral", ["lateral", "frontal"]),
        ("\tIs this a T1-weighted image?", "yes", ["yes", "no"]),
        (" ¿Qué órgano se muestra?", "hígado", ["hígado", "riñón"]),
        # whitespace at the question's end
        ("Is there a fracture?   ", "no", ["yes", "no"]),
        ("Is there a fracture?\n", "yes", ["yes", "no"]),
        ("Is there a fracture?\n\n \t", "no", ["yes", "no"]),
        ("Is there an effusion?\u3000", "yes", ["yes", "no"]),
        ("Is there an effusion?\u00a0\n", "no", ["yes", "no"]),
        ("Is there an effusion?\r\n", "yes", ["yes", "no"]),
        ("Is it normal?\x85", "no", ["yes", "no"]),                 # NEL, \x1c..\x1f, U+2028: str.isspace()
        ("Is it\u2028normal?\x1c\x1f\u2028", "yes", ["yes", "no"]),
        ("Is it normal?\u200b", "no", ["yes", "no"]),              # zero-width space: not whitespace to Python
        ("  Both ends?  \n", "no", ["yes", "no"]),
        # inner whitespace kept as is
        ("Line one\nline two\n\nline four?", "yes", ["yes", "no"]),
        ("Two  spaces   and\ttabs?", "no", ["yes", "no"]),
        # empty-ish questions: whitespace or a single character
        ("   ", "yes", ["yes", "no"]),
        (" \n ", "no", ["yes", "no"]),
        ("?", "yes", ["yes", "no"]),
        # answers the template trims
        ("Which side?", "  left ", ["  left ", "right"]),
        ("Which side?", "right\n", ["left", "right\n"]),
        ("Which grade?", "\u2003grade 2\u00a0", ["grade 1", "\u2003grade 2\u00a0"]),
    ]
    out = []
    for i, (q, a, opts) in enumerate(items):
        item = {"question_id": f"alpha_{i:03d}", "question": q, "gt_answer": a, "question_type": "Oracle",
                "modality_type": "CT(Computed Tomography)"}
        item.update(zip(OPTION_KEYS, opts))
        out.append(item)
    # options present but not all: option_C missing, option_D given
    out.append({"question_id": "alpha_gap", "question": "Which finding?", "gt_answer": "cyst",
                "question_type": "Oracle", "modality_type": "Ultrasound", "option_A": "mass", "option_B": "cyst",
                "option_D": "normal"})
    return out


# ---------------------------------------------------------------------------------------------- oracle

def hf_llama3_tokenizer():
    """transformers' fast tokenizer from Meta's tokenizer.model (LLaMA-3 special names), with Meta's template."""
    converted = TikTokenConverter(vocab_file=str(TOKENIZER_MODEL), pattern=PATTERN,
                                  extra_special_tokens=LLAMA3_SPECIALS).converted()
    tok = PreTrainedTokenizerFast(tokenizer_object=converted, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                  chat_template=LLAMA3_INSTRUCT_TEMPLATE)
    names = {"<|begin_of_text|>": 128000, "<|end_of_text|>": 128001, PLACEHOLDER: IMAGE_TOKEN_ID,
             "<|start_header_id|>": 128006, "<|end_header_id|>": 128007, "<|eot_id|>": EOT_ID,
             "<|reserved_special_token_2|>": PAD_ID, "<|reserved_special_token_250|>": 128255}
    assert {n: tok.convert_tokens_to_ids(n) for n in names} == names
    assert len(tok) == 128256
    return tok


def ids_of(encoded):
    """apply_chat_template(tokenize=True) gives a list or (transformers 5) a BatchEncoding."""
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


@dataclass
class Built:
    """One item's oracle ids, labels (training form only), whether its question was cut, and its uncut
    length and question length (to place items at the truncation boundaries)."""
    ids: list
    labels: list
    full_len: int
    q_len: int
    truncated: bool = False


class Oracle:
    def __init__(self, tok, image_tokens, max_seq_len):
        self.tok, self.n, self.limit = tok, image_tokens, max_seq_len

    def chat(self, messages, add_generation_prompt):
        encoded = self.tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt)
        return ids_of(encoded)

    def encode(self, text):
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def build(self, item, form, with_answer):
        """The training (with_answer) or generation form of an item; None when it cannot fit
        data.max_seq_len even with its question cut to one token."""
        options = [item[k] for k in OPTION_KEYS if item.get(k) is not None]
        question = closed_question(item["question"], options) if form == "closed" else item["question"]
        user = [{"role": "user", "content": PLACEHOLDER * self.n + "\n" + question}]
        prompt = self.chat(user, add_generation_prompt=True)
        if with_answer:
            ids = self.chat(user + [{"role": "assistant", "content": item["gt_answer"]}], add_generation_prompt=False)
            assert ids[:len(prompt)] == prompt, "oracle: the training form does not start with the generation form"
            labels = [IGNORE] * len(prompt) + ids[len(prompt):]
        else:
            ids, labels = prompt, None
        # The question's tokens inside the template's output: after the placeholders, before the options.
        start = ids.index(IMAGE_TOKEN_ID)
        assert ids[start:start + self.n] == [IMAGE_TOKEN_ID] * self.n
        start += self.n
        suffix = question[len(item["question"]):]
        q_text = "\n" + item["question"]
        if not suffix:  # the template trims the whole content: in the open form its end is the question's
            q_text = q_text.rstrip()
        q, tail = self.encode(q_text), self.encode(suffix) if suffix else []
        assert ids[start:start + len(q) + len(tail) + 1] == q + tail + [EOT_ID], \
            f"oracle: the question and the options do not tokenize apart: {item}"
        built = Built(ids, labels, len(ids), len(q))
        excess = len(ids) - self.limit
        if excess <= 0:
            return built
        if excess >= len(q):
            return None
        cut = slice(start + len(q) - excess, start + len(q))
        del ids[cut]
        if labels is not None:
            del labels[cut]
        built.truncated = True
        return built


def boundary_items(oracle):
    """Items at the edges of MAX_SEQ_LEN, found with the oracle: per question form and per prompt
    form (training, generation) a question that fills it exactly and one a token longer; in the
    closed training form, options so long that only the question's first token fits."""
    def search(make, fits):
        for k in range(0, 300):
            item = make(k)
            if fits(item):
                return item
        raise AssertionError("oracle: no item at this boundary")

    def long_question(n):
        return {"question": "Is the lesion " + "very " * n + "large?", "gt_answer": "yes", "option_A": "yes",
                "option_B": "no"}

    items = []
    for form in FORMS:
        for with_answer in (True, False):
            for over in (0, 1):
                items.append(search(long_question, lambda it: oracle.build(it, form, with_answer) is not None and
                                    oracle.build(it, form, with_answer).full_len == MAX_SEQ_LEN + over))
    # (Only for the training form: the generation form's twin would not fit the training form.)
    def long_option(n):
        return {"question": LONG_EN, "gt_answer": "small", "option_A": "small",
                "option_B": "a " + "very " * n + "large mass", "option_C": "none"}

    def one_token_left(it):
        b = oracle.build(it, "closed", True)
        return b is not None and b.full_len - b.q_len + 1 == MAX_SEQ_LEN
    items.append(search(long_option, one_token_left))
    return [{"question_id": f"beta_{i:03d}", "question_type": "Boundary", "modality_type": "X-Ray", **item}
            for i, item in enumerate(items)]


def too_long_item(oracle):
    """A closed-form item whose options and answer leave no room for the question's first token,
    where one word less in an option would leave room for it."""
    def make(n):
        return {"question_id": "too_long", "question": "Which one?", "gt_answer": "small", "option_A": "small",
                "option_B": "a " + "very " * n + "large mass", "question_type": "Boundary", "modality_type": "X-Ray"}
    n = next(n for n in range(1, 300) if oracle.build(make(n), "closed", True) is None)
    assert oracle.build(make(n - 1), "closed", True).ids.count(IMAGE_TOKEN_ID) == oracle.n
    return make(n)


# ---------------------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def tok():
    return hf_llama3_tokenizer()


@pytest.fixture(scope="module")
def image_tokens(demo):
    """(image_size / patch_size)^2 of the demo tower (model.feature_select=patch: no class token)."""
    vision = json.loads((demo / "towers/vision/open_clip_config.json").read_text())["model_cfg"]["vision_cfg"]
    patch = vision.get("timm_model_kwargs", {}).get("patch_size") or \
        int(re.search(r"patch(\d+)", vision["timm_model_name"]).group(1))
    assert vision["image_size"] % patch == 0
    return (vision["image_size"] // patch) ** 2


@pytest.fixture(scope="module")
def oracle(tok, image_tokens):
    return Oracle(tok, image_tokens, MAX_SEQ_LEN)


def write_omnimedvqa(root, demo, files):
    """root/QA_information/Open-access/<dataset>.json + Images/ (demo images) + a split manifest
    with every question in train; returns the items in medvqa's order (files sorted, then file order)."""
    images = sorted((demo / "data/Images").rglob("*.png"))[:3]
    (root / "Images").mkdir(parents=True)
    names = []
    for i, src in enumerate(images):
        shutil.copy(src, root / "Images" / f"img_{i}.png")
        names.append(f"Images/img_{i}.png")
    qa = root / "QA_information" / "Open-access"
    qa.mkdir(parents=True)
    ordered = []
    for dataset in sorted(files):
        items = [{"dataset": dataset, "image_path": names[i % len(names)], **it} for i, it in enumerate(files[dataset])]
        (qa / f"{dataset}.json").write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
        ordered += items
    ids = [it["question_id"] for it in ordered]
    (root / "split_manifest.json").write_text(json.dumps({"seed": 0, "fractions": [1, 0, 0],
                                                          "splits": {"train": ids, "val": [], "test": []}}))
    return ordered


def write_towers(root, demo):
    """root/vision: the demo's open_clip tower; root/llm: a random LLaMA written by transformers, its
    weights drawn wide (initializer_range 0.5) so that its greedy answers depend on every prompt token."""
    root.mkdir()
    (root / "vision").symlink_to(demo / "towers/vision")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=128256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, rope_theta=500000.0,
                      max_position_embeddings=1024, initializer_range=0.5, tie_word_embeddings=False,
                      bos_token_id=128000, eos_token_id=sorted(STOP_IDS))
    LlamaForCausalLM(cfg).save_pretrained(root / "llm")
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, demo, oracle):
    """(root, items): root/data (OmniMedVQA layout), root/towers; the items in medvqa's order."""
    root = tmp_path_factory.mktemp("oracle_data")
    items = write_omnimedvqa(root / "data", demo, {"Oracle Alpha": base_items(), "Oracle Beta": boundary_items(oracle)})
    write_towers(root / "towers", demo)
    return root, items


def config(root, demo, form, name="train", model=None, evaluation=None):
    """root/<name>_<form>.json: the data and towers under root (the demo's towers if it has none)."""
    towers = root / "towers" if (root / "towers").is_dir() else demo / "towers"
    path = write_config(root / f"{name}_{form}.json", towers, root / "data", "align", root / f"run_{form}",
                        model={"threads": 2, "feature_layer": -2, "tokenizer": str(TOKENIZER_MODEL), **(model or {})},
                        train={"batch_size": 1000}, data_extra={"max_seq_len": MAX_SEQ_LEN, "question_form": form})
    if evaluation:
        path.write_text(json.dumps({**json.loads(path.read_text()), "eval": evaluation}))
    return path


@pytest.fixture(scope="module")
def grad_checks(dataset, demo, run):
    """question form -> the `medvqa grad-check` dump of the whole dataset as one batch."""
    root, _ = dataset
    dumps = {}
    for form in FORMS:
        out = root / f"grad_check_{form}.safetensors"
        run("grad-check", "-c", config(root, demo, form), "--out", out)
        dumps[form] = load_file(out)
    return dumps


# ---------------------------------------------------------------------------------------------- reporting

def around(tok, ids, at, width=4):
    """ids[at - width : at + width + 1] and their text (-100 labels left out of the text)."""
    part = ids[max(0, at - width):at + width + 1]
    return f"{part} = {tok.decode([i for i in part if i != IGNORE])!r}"


def describe(tok, item, got, want, what):
    first = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
    return (f"{item['question_id']} {what}: first difference at {first} "
            f"(lengths medvqa {len(got)}, oracle {len(want)})\n"
            f"    question {item['question']!r}, answer {item['gt_answer']!r}, options "
            f"{[item[k] for k in OPTION_KEYS if k in item]!r}\n"
            f"    medvqa: {around(tok, got, first)}\n"
            f"    oracle: {around(tok, want, first)}")


def assert_no_mismatch(bad, total, what):
    assert not bad, f"{what}: {len(bad)} of {total} items differ\n" + "\n".join(bad[:8])


# ---------------------------------------------------------------------------------------------- tests

def test_dataset_covers_the_cases(dataset, oracle):
    """The items exercise what they are meant to: unicode, quotes, whitespace at both ends, an empty
    question, questions cut and not cut (and at the exact boundary) in every form."""
    _, items = dataset
    assert len(items) >= 60
    text = "".join(it["question"] + "".join(it.get(k, "") for k in OPTION_KEYS) for it in items)
    assert re.search(r"[\u4e00-\u9fff]", text) and re.search("[\U0001F300-\U0001FAFF]", text) and "é" in text
    assert any("'" in it.get(k, "") and '"' in it.get(k, "") for it in items for k in OPTION_KEYS)
    assert any(it["question"][:1].isspace() for it in items) and any(it["question"][-1:].isspace() for it in items)
    assert any(not it["question"].strip() for it in items)
    for form in FORMS:
        for with_answer in (True, False):
            built = [oracle.build(it, form, with_answer) for it in items]
            assert all(b is not None for b in built), "every item must fit in both forms"
            cut = sum(b.truncated for b in built)
            assert 5 <= cut <= len(items) - 20, f"{form}, answer {with_answer}: {cut} of {len(items)} truncated"
            assert any(b.full_len == MAX_SEQ_LEN for b in built) and any(b.full_len == MAX_SEQ_LEN + 1 for b in built)


@pytest.mark.parametrize("form", FORMS)
def test_training_rows_match_the_oracle(dataset, grad_checks, oracle, tok, image_tokens, form):
    """grad-check's batch, row by row (right padding stripped by the mask): input ids and labels equal
    the oracle's training form, truncation included."""
    _, items = dataset
    dump = grad_checks[form]
    ids, labels, mask = dump["batch.input_ids"], dump["batch.labels"], dump["batch.attention_mask"]
    assert ids.shape[0] == len(items), f"grad-check took {ids.shape[0]} rows for {len(items)} items"
    assert ids.shape[1] <= MAX_SEQ_LEN
    bad = []
    for row, item in enumerate(items):
        n = int(mask[row].sum())
        assert bool(mask[row, :n].all()) and not bool(mask[row, n:].any()), f"row {row}: not right-padded"
        assert (ids[row, n:] == PAD_ID).all() and (labels[row, n:] == IGNORE).all(), f"row {row}: padding"
        got_ids, got_labels = ids[row, :n].tolist(), labels[row, :n].tolist()
        assert got_ids.count(IMAGE_TOKEN_ID) == image_tokens, \
            f"row {row}: {got_ids.count(IMAGE_TOKEN_ID)} placeholders, the tower gives {image_tokens} patch tokens"
        want = oracle.build(item, form, True)
        if got_ids != want.ids:
            bad.append(describe(tok, item, got_ids, want.ids, "input_ids"))
        elif got_labels != want.labels:
            bad.append(describe(tok, item, got_labels, want.labels, "labels"))
    assert_no_mismatch(bad, len(items), f"training form, data.question_form={form}")


def test_an_item_that_cannot_fit_is_refused(tmp_path, demo, oracle, run):
    """Options and answer that leave no room for the question's first token: a user error naming the
    item (the options are never cut); the open form of the same item fits."""
    item = too_long_item(oracle)
    write_omnimedvqa(tmp_path / "data", demo, {"Too Long": [base_items()[0], item]})
    cfg = config(tmp_path, demo, "closed")
    proc = run("grad-check", "-c", cfg, "--out", tmp_path / "x.safetensors", check=False)
    assert_user_error(proc, "Too Long.json item 1", f"data.max_seq_len={MAX_SEQ_LEN}")
    assert not (tmp_path / "x.safetensors").exists()
    run("grad-check", "-c", config(tmp_path, demo, "open"), "--out", tmp_path / "y.safetensors")


# ---------------------------------------------------------------------------------------------- generation form

@pytest.fixture(scope="module")
def model_dir(dataset, demo, grad_checks):
    """A trained-model directory (config.yaml + projector.safetensors) with grad-check's fresh projector."""
    root, _ = dataset
    directory = root / "model_open"
    directory.mkdir()
    shutil.copy(config(root, demo, "open"), directory / "config.yaml")  # JSON is YAML
    prefix = "weight.projector."
    save_file({k[len(prefix):]: v.contiguous() for k, v in grad_checks["open"].items() if k.startswith(prefix)},
              str(directory / "projector.safetensors"))
    return directory


@pytest.fixture(scope="module")
def reference(dataset, model_dir):
    """The same weights in PyTorch: open_clip's tower, LLaVA's projector, transformers' LLaMA."""
    root, _ = dataset
    tower = load_open_clip_tower(root / "towers/vision")
    llm = LlamaForCausalLM.from_pretrained(root / "towers/llm", dtype=torch.float32)
    projector = Projector("mlp2x_gelu", tower.trunk.embed_dim, llm.config.hidden_size)
    projector.load_state_dict(load_file(model_dir / "projector.safetensors"))
    return VqaReference(tower, projector, llm, feature_layer=-2).eval()


@contextlib.contextmanager
def one_thread():
    """A tiny model runs fastest on one thread (and is not slowed down by a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def greedy(model, ids, pixels):
    """NEW_TOKENS greedy ids (ending at a stop id) after the prompt `ids`, one image; KV cache."""
    out, past = [], None
    with torch.no_grad(), one_thread():
        embeds = model.inputs_embeds(torch.tensor([ids]), pixels[None])
        for _ in range(NEW_TOKENS):
            step = model.llm(inputs_embeds=embeds, past_key_values=past, use_cache=True, logits_to_keep=1)
            out.append(int(step.logits[0, -1].argmax()))
            if out[-1] in STOP_IDS:
                break
            past, embeds = step.past_key_values, model.llm.get_input_embeddings()(torch.tensor([[out[-1]]]))
    return out


def text_of(tok, ids):
    """An answer's text as a prediction: the stop ids dropped, the bytes decoded as Python's
    decode(errors="replace") and Rust's lossy decoding do: one U+FFFD per maximal invalid sequence)."""
    while ids and ids[-1] in STOP_IDS:
        ids = ids[:-1]
    return tok.decode(ids, clean_up_tokenization_spaces=False)


@pytest.fixture(scope="module")
def generated(dataset, grad_checks, oracle, reference):
    """question form -> the reference's greedy ids per item after the oracle's generation prompt."""
    _, items = dataset
    pixels = grad_checks["open"]["batch.pixels"]  # row i: item i's image, as medvqa preprocessed it
    out = {}
    for form in FORMS:
        out[form] = [greedy(reference, oracle.build(item, form, False).ids, pixels[row])
                     for row, item in enumerate(items)]
    return out


def test_reference_answers_depend_on_every_prompt_token(dataset, grad_checks, oracle, reference, generated):
    """What makes the generation-form checks below able to fail: one question token less (tried on
    every third item) changes the reference's greedy answer."""
    _, items = dataset
    pixels = grad_checks["open"]["batch.pixels"]
    changed, tried = 0, 0
    for row in range(0, len(items), 3):
        ids = oracle.build(items[row], "open", False).ids
        first = ids.index(IMAGE_TOKEN_ID) + oracle.n  # the question's first token
        if ids[first] == EOT_ID:
            continue
        tried += 1
        changed += greedy(reference, ids[:first] + ids[first + 1:], pixels[row]) != generated["open"][row]
    assert tried >= 20 and changed >= 0.9 * tried, f"the answer changed for {changed} of {tried} one-token edits"


@pytest.mark.parametrize("form", FORMS)
def test_generation_prompts_of_ask_match_the_oracle(dataset, demo, model_dir, generated, tok, run, tmp_path, form):
    """`ask --input` generates what the reference generates after the oracle's prompt, id for id; in
    the closed form (a model trained with data.question_form=closed) with each line's option_A..D."""
    _, items = dataset
    root = model_dir.parent
    model = tmp_path / f"model_{form}"
    shutil.copytree(model_dir, model)
    shutil.copy(config(root, demo, form), model / "config.yaml")
    lines = tmp_path / "questions.jsonl"
    lines.write_text("".join(json.dumps({"image": str(root / "data" / it["image_path"]), "question": it["question"],
                                         **{k: it[k] for k in OPTION_KEYS if k in it}}, ensure_ascii=False) + "\n"
                             for it in items), encoding="utf-8")
    proc = run("ask", "--model", model, "--input", lines, "--json", "--max-new-tokens", NEW_TOKENS,
               "--batch-size", 8, "--threads", 2)
    answers = json_lines(proc.stdout)  # not splitlines(): the questions hold U+2028 and U+0085
    assert len(answers) == len(items)
    bad = [f"{it['question_id']}: question {it['question']!r}: ask {a['ids']}, reference {want}"
           for it, a, want in zip(items, answers, generated[form]) if a["ids"] != want]
    assert_no_mismatch(bad, len(items), f"ask, generation form ({form})")


@pytest.mark.parametrize("form", FORMS)
def test_generation_prompts_of_eval_match_the_oracle(dataset, demo, model_dir, generated, tok, run, form):
    """`medvqa eval` predicts what the reference generates after the oracle's prompt (compared as text:
    predictions.jsonl holds no ids)."""
    root, items = dataset
    out_dir = root / f"eval_{form}"
    cfg = config(root, demo, form, "eval", model={"projector_weights": str(model_dir / "projector.safetensors")},
                 evaluation={"split": "train", "out_dir": str(out_dir), "batch_size": 8, "max_new_tokens": NEW_TOKENS,
                             "blind": False, "prefix_score": False, "report_examples": 0})
    run("eval", "-c", cfg)
    predictions = {p["question_id"]: p["prediction"]
                   for p in json_lines((out_dir / "predictions.jsonl").read_text(encoding="utf-8"))}
    assert sorted(predictions) == sorted(it["question_id"] for it in items)
    bad = []
    for item, want in zip(items, generated[form]):
        got, expected = predictions[item["question_id"]], text_of(tok, want)
        if got != expected:
            bad.append(f"{item['question_id']}: question {item['question']!r}: eval {got!r}, "
                       f"reference {expected!r} {want}")
    assert_no_mismatch(bad, len(items), f"eval, generation form ({form})")
