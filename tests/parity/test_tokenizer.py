"""Tokenizer parity: `medvqa tokenize` against tiktoken driven by Meta's tokenizer.model, against HF
tokenizers on a tokenizer.json converted from the same ranks, against Meta's published ids, and against
the sentencepiece package on models trained here. One medvqa process per corpus (--input FILE.jsonl)."""
import json
import re
import time

import pytest
import sentencepiece as spm
import tiktoken
from tiktoken.load import load_tiktoken_bpe
from tokenizers import Tokenizer as HFTokenizer
from transformers.convert_slow_tokenizer import TikTokenConverter

from conftest import ROOT, TOKENIZER_MODEL, assert_user_error

CORPUS = ROOT / "tests" / "data" / "tokenizer_corpus.jsonl"
PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|reserved_special_token_2|>", "<|reserved_special_token_3|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"] + [
                      f"<|reserved_special_token_{i}|>" for i in range(5, 251)]
# LLaMA-3.1 renames three reserved tokens (REFERENCE.md).
LLAMA31_SPECIALS = list(LLAMA3_SPECIALS)
LLAMA31_SPECIALS[4], LLAMA31_SPECIALS[8], LLAMA31_SPECIALS[10] = (
    "<|finetune_right_pad_id|>", "<|eom_id|>", "<|python_tag|>")
BOS = 128000
MODES = ["parse", "plain"]


def json_lines(text):
    """One JSON value per '\n'-terminated line (not str.splitlines: the corpus holds U+2028 and U+0085)."""
    return [json.loads(line) for line in text.split("\n")[:-1]]


def corpus():
    texts = json_lines(CORPUS.read_text(encoding="utf-8"))
    assert len(texts) >= 200
    return texts


def tiktoken_encoding(specials):
    ranks = load_tiktoken_bpe(str(TOKENIZER_MODEL))
    return tiktoken.Encoding("llama3", pat_str=PATTERN, mergeable_ranks=ranks,
                             special_tokens={name: len(ranks) + i for i, name in enumerate(specials)})


@pytest.fixture(scope="module")
def llama3():
    return tiktoken_encoding(LLAMA3_SPECIALS)


def reference_ids(enc, text, mode):
    if mode == "parse":
        return enc.encode(text, allowed_special="all")
    return enc.encode(text, disallowed_special=())


def write_jsonl(path, values):
    path.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values), encoding="utf-8")
    return path


def medvqa_lines(run, *args):
    """Runs medvqa tokenize once; returns (parsed output lines, stderr)."""
    proc = run("tokenize", *args)
    return json_lines(proc.stdout), proc.stderr


def assert_same(texts, got, expected, what):
    assert len(got) == len(expected), f"{what}: {len(got)} output lines for {len(expected)} inputs"
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, (f"{what}: {len(bad)} of {len(texts)} differ; first: line {bad[0] + 1} {texts[bad[0]]!r}\n"
                     f"  medvqa:    {got[bad[0]]}\n  reference: {expected[bad[0]]}")


@pytest.mark.parametrize("mode", MODES)
def test_corpus_matches_tiktoken(run, tmp_path, llama3, mode):
    texts = corpus()
    got, _ = medvqa_lines(run, "--tokenizer", TOKENIZER_MODEL, "--input", CORPUS, "--special", mode)
    assert_same(texts, got, [reference_ids(llama3, t, mode) for t in texts], f"tokenizer.model, {mode}")


def test_bos_and_single_text(run, llama3):
    text = "Pt's SpO₂ 92% <|eot_id|>"
    got, _ = medvqa_lines(run, "--tokenizer", TOKENIZER_MODEL, "--text", text, "--bos")
    assert got == [[BOS] + reference_ids(llama3, text, "parse")]


def test_meta_published_encodings(run, tmp_path):
    # REFERENCE.md: Meta's tokenizer tests.
    cases = [("This is a test sentence.", "plain", True, [128000, 2028, 374, 264, 1296, 11914, 13]),
             ("<|start_header_id|>user<|end_header_id|>\n\n", "parse", False, [128006, 882, 128007, 271]),
             ("text before <|eot_id|>", "parse", False, [1342, 1603, 220, 128009])]
    for text, mode, bos, expected in cases:
        args = ["--tokenizer", TOKENIZER_MODEL, "--text", text, "--special", mode] + (["--bos"] if bos else [])
        got, _ = medvqa_lines(run, *args)
        assert got == [expected], text
    # Meta's test appends <|end_of_text|> by id; decoding the whole sequence gives the text back.
    got, _ = medvqa_lines(run, "--tokenizer", TOKENIZER_MODEL, "--decode", "--text",
                          "[128000, 2028, 374, 264, 1296, 11914, 13, 128001]")
    assert got == ["<|begin_of_text|>This is a test sentence.<|end_of_text|>"]


@pytest.fixture(scope="module")
def llama31_json(tmp_path_factory):
    """tokenizer.json written by transformers' TikTokenConverter from Meta's ranks, LLaMA-3.1 names."""
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    TikTokenConverter(vocab_file=str(TOKENIZER_MODEL), pattern=PATTERN,
                      extra_special_tokens=LLAMA31_SPECIALS).converted().save(str(path))
    return path


@pytest.mark.parametrize("mode", MODES)
def test_tokenizer_json_matches_tiktoken_and_hf(run, llama31_json, mode):
    texts = corpus()
    enc = tiktoken_encoding(LLAMA31_SPECIALS)
    got, _ = medvqa_lines(run, "--tokenizer", llama31_json, "--input", CORPUS, "--special", mode)
    assert_same(texts, got, [reference_ids(enc, t, mode) for t in texts], f"tokenizer.json, {mode}")
    if mode == "parse":  # HF tokenizers always parse its added special tokens
        hf = HFTokenizer.from_file(str(llama31_json))
        assert_same(texts, got, [hf.encode(t, add_special_tokens=False).ids for t in texts], "HF tokenizers")
    assert any(128008 in ids for ids in got) == (mode == "parse")  # <|eom_id|> is special under 3.1 names


def test_model_directory_prefers_original(run, tmp_path, llama31_json, llama3):
    (tmp_path / "original").mkdir()
    (tmp_path / "original" / "tokenizer.model").symlink_to(TOKENIZER_MODEL)
    (tmp_path / "tokenizer.json").symlink_to(llama31_json)
    got, err = medvqa_lines(run, "--tokenizer", tmp_path, "--text", "<|eom_id|>")
    assert got == [reference_ids(llama3, "<|eom_id|>", "parse")] and "original/tokenizer.model" in err
    (tmp_path / "original" / "tokenizer.model").unlink()
    got, err = medvqa_lines(run, "--tokenizer", tmp_path, "--text", "<|eom_id|>")
    assert got == [[128008]] and "tokenizer.json" in err


def test_decode_round_trip(run, tmp_path, llama3):
    texts = corpus()
    ids = [reference_ids(llama3, t, "parse") for t in texts]
    got, _ = medvqa_lines(run, "--tokenizer", TOKENIZER_MODEL, "--decode", "--input", write_jsonl(tmp_path / "ids.jsonl", ids))
    assert_same(texts, got, texts, "decode")
    # A prefix that ends inside a character decodes to U+FFFD there, as tiktoken's decode does.
    cut = [ids[i][:-1] for i, t in enumerate(texts) if t.endswith("🩻🫁🦴")]
    assert cut
    got, _ = medvqa_lines(run, "--tokenizer", TOKENIZER_MODEL, "--decode", "--input", write_jsonl(tmp_path / "cut.jsonl", cut))
    assert got == [llama3.decode(c) for c in cut]


def test_encode_speed_against_tiktoken(run, tmp_path, llama3):
    """Same ids on a 100x corpus; prints tokens/s of both (measured, not asserted)."""
    texts = corpus() * 100
    path = write_jsonl(tmp_path / "big.jsonl", texts)
    got, err = medvqa_lines(run, "--tokenizer", TOKENIZER_MODEL, "--input", path, "--special", "plain")
    t0 = time.perf_counter()
    expected = [llama3.encode_ordinary(t) for t in texts]
    seconds = time.perf_counter() - t0
    assert_same(texts, got, expected, "100x corpus")
    medvqa_rate = float(re.search(r"\(([0-9.e+]+) tokens/s\)", err).group(1))
    n = sum(map(len, expected))
    print(f"\nencode, {len(texts)} texts, {n} tokens: medvqa {medvqa_rate:,.0f} tokens/s, "
          f"tiktoken {n / seconds:,.0f} tokens/s (ratio {medvqa_rate / (n / seconds):.2f})")


# SentencePiece: LLaMA-2 style BPE with byte fallback, and the default unigram model with <unk>.
SP_MODELS = {"bpe_byte_fallback": dict(model_type="bpe", byte_fallback=True),
             "unigram": dict(model_type="unigram")}


@pytest.fixture(scope="module", params=sorted(SP_MODELS))
def sp_model(request, tmp_path_factory):
    prefix = tmp_path_factory.mktemp("sp") / request.param
    training = [t for t in corpus() if t.strip()] * 3 + [
        "The chest radiograph shows no acute cardiopulmonary abnormality."] * 20
    spm.SentencePieceTrainer.train(sentence_iterator=iter(training), model_prefix=str(prefix), vocab_size=1000,
                                   character_coverage=0.98, hard_vocab_limit=False, minloglevel=2, **SP_MODELS[request.param])
    return prefix.with_suffix(".model")


SP_TIE_TOLERANCE = 1e-4
SP_EXTRA = ["<s>a</s>", "x <unk> y", "</s>", "<s><s>", "  leading", "trailing  ", "a  b"]


def untie(sp, sp_model, got, expected):
    """Unigram segmentations of equal score (digit runs over "9"/"99") are ties that Debian's
    libsentencepiece 0.1.97 and the PyPI package break differently: count such a pair as equal.
    Any other difference still fails."""
    if sp_model.stem != "unigram":
        return got
    score = lambda ids: sum(sp.get_score(i) for i in ids)
    return [e if g != e and sp.decode(g) == sp.decode(e) and abs(score(g) - score(e)) < SP_TIE_TOLERANCE else g
            for g, e in zip(got, expected)]


def test_sentencepiece_matches_python(run, tmp_path, sp_model):
    texts = corpus() + SP_EXTRA
    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    path = write_jsonl(tmp_path / "texts.jsonl", texts)
    got, _ = medvqa_lines(run, "--tokenizer", sp_model, "--input", path, "--special", "plain")
    expected = [sp.encode(t) for t in texts]
    assert_same(texts, untie(sp, sp_model, got, expected), expected, f"sentencepiece {sp_model.name}")
    # Parse mode: <s>, </s> and <unk> written in text become their ids; the text between encodes alone.
    specials = {sp.id_to_piece(i): i for i in range(sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)}
    splitter = re.compile("(" + "|".join(map(re.escape, sorted(specials, key=len, reverse=True))) + ")")
    parsed = [[i for part in splitter.split(t) if part
               for i in ([specials[part]] if part in specials else sp.encode(part))] for t in texts]
    got, _ = medvqa_lines(run, "--tokenizer", sp_model, "--input", path, "--special", "parse")
    assert_same(texts, untie(sp, sp_model, got, parsed), parsed, f"sentencepiece {sp_model.name}, parse")
    got, _ = medvqa_lines(run, "--tokenizer", sp_model, "--decode", "--input", write_jsonl(tmp_path / "ids.jsonl", expected))
    assert_same(texts, got, [sp.decode(ids) for ids in expected], f"sentencepiece {sp_model.name}, decode")


def test_bad_input_is_a_user_error(run, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('"fine"\nnot json\n')
    assert_user_error(run("tokenize", "--tokenizer", TOKENIZER_MODEL, "--input", bad, check=False),
                      f"{bad}:2: invalid JSON")
    bad.write_text('"fine"\n["a list"]\n')
    assert_user_error(run("tokenize", "--tokenizer", TOKENIZER_MODEL, "--input", bad, check=False),
                      f"{bad}:2: expected a JSON string, found array")
    assert_user_error(run("tokenize", "--tokenizer", TOKENIZER_MODEL, "--decode", "--text", "[1, 128256]", check=False),
                      "token id 128256 is outside the vocabulary [0, 128256)")
    assert_user_error(run("tokenize", "--tokenizer", CORPUS, "--text", "x", check=False),
                      str(CORPUS), "not a tokenizer")
    assert_user_error(run("tokenize", "--tokenizer", TOKENIZER_MODEL, check=False), "exactly one of --text or --input")
    assert_user_error(run("tokenize", "--tokenizer", tmp_path, "--text", "x", check=False),
                      "looked for original/tokenizer.model, tokenizer.model and tokenizer.json")
