"""`medvqa serve` with real clients, on the tiny model test_ask_export trains from the demo fixtures:
the `openai` package's client, whole and streamed, gets the greedy answers `medvqa ask` gives for
the same images and questions (DICOM too); malformed and hostile requests each get their 4xx with
OpenAI's error object and the server still answers the next good request; the API key is enforced
on every route but /health; SIGTERM lets a running stream finish and the server exit 0."""
import base64
import contextlib
import http.client
import json
import signal
import socket
import subprocess
import time

import openai
import pytest

from test_ask_export import DICOM, MAX_NEW_TOKENS, ask_json, trained  # noqa: F401, F811 (a fixture)

API_KEY = "test-key"
STARTUP_TIMEOUT = 120
REQUEST_TIMEOUT = 60
EXIT_TIMEOUT = 30
ITEMS = 20  # held-out items compared with ask, as many as the demo test split has


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data_url(path, media_type=None):
    media_type = media_type or ("application/dicom" if str(path).endswith(".dcm") else "image/png")
    return f"data:{media_type};base64," + base64.b64encode(open(path, "rb").read()).decode()


def chat_body(image_url, question, **extra):
    return {"model": "medvqa", "max_tokens": MAX_NEW_TOKENS,
            "messages": [{"role": "user", "content": [{"type": "text", "text": question},
                                                      {"type": "image_url", "image_url": {"url": image_url}}]}],
            **extra}


def request(port, method, path, body=None, key=API_KEY, headers=None):
    """(status, headers, body bytes) of one HTTP request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        h = {"Content-Type": "application/json", **(headers or {})}
        if key:
            h["Authorization"] = f"Bearer {key}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=h)
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read()
    finally:
        conn.close()


def start_server(medvqa_bin, model, port, *extra):
    proc = subprocess.Popen([str(medvqa_bin), "serve", "--model", str(model), "--port", str(port), "--threads", "2",
                             *map(str, extra)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"medvqa serve exited {proc.returncode}:\n{proc.stderr.read()}")
        try:
            if request(port, "GET", "/health", key=None)[0] == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise AssertionError(f"medvqa serve did not answer /health within {STARTUP_TIMEOUT} s")


def stop_server(proc):
    """SIGTERM, then SIGKILL if it does not exit in time; the exit code and stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=EXIT_TIMEOUT)
    return proc.returncode, err


@contextlib.contextmanager
def serving(medvqa_bin, model, *extra):
    """A server of the test's own: its port and process; on leaving, SIGTERM, and it must exit 0."""
    port = free_port()
    proc = start_server(medvqa_bin, model, port, *extra)
    try:
        yield port, proc
    finally:
        code, err = stop_server(proc)
    assert code == 0, err


@pytest.fixture(scope="module")
def server(trained, medvqa_bin):
    port = free_port()
    proc = start_server(medvqa_bin, trained["s2"], port, "--api-key", API_KEY)
    try:
        yield port
    finally:
        code, err = stop_server(proc)
        assert code == 0, f"medvqa serve exited {code} on SIGTERM:\n{err}"


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server}/v1", api_key=API_KEY, timeout=REQUEST_TIMEOUT,
                         max_retries=0)


@pytest.fixture(scope="module")
def asked(trained, run):
    """`medvqa ask --json` on the first items of the test split and on a DICOM file."""
    items = [{"image": p["image"], "question": p["question"]} for p in trained["predictions"][:ITEMS]]
    items.append({"image": DICOM, "question": trained["predictions"][0]["question"]})
    return [(item, ask_json(run, trained["s2"], item)) for item in items]


def test_openai_client_gets_asks_greedy_answers(client, asked, trained):
    assert len(asked) == min(ITEMS, len(trained["predictions"])) + 1 >= 5, len(asked)
    for item, ask in asked:
        messages = chat_body(data_url(item["image"]), item["question"])["messages"]
        whole = client.chat.completions.create(model="medvqa", messages=messages, max_tokens=MAX_NEW_TOKENS)
        assert whole.choices[0].message.content == ask["answer"], item
        assert whole.choices[0].finish_reason == ("length" if len(ask["ids"]) == MAX_NEW_TOKENS and
                                                  ask["ids"][-1] not in (128001, 128008, 128009) else "stop")
        assert whole.usage.completion_tokens == len(ask["ids"]) and whole.usage.prompt_tokens > 0
        assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens

        chunks = list(client.chat.completions.create(model="medvqa", messages=messages, max_tokens=MAX_NEW_TOKENS,
                                                     stream=True, stream_options={"include_usage": True}))
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == ask["answer"], item
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
        assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(ask["ids"])


def test_concurrent_clients_get_asks_greedy_answers_whatever_the_batch(client, asked, server):
    """Every item at once, whole and streamed: each joins the running batch at its own step, beside
    others at other lengths, and still gets `ask`'s answer."""
    from concurrent.futures import ThreadPoolExecutor

    def answer(job):
        (item, _), stream = job
        messages = chat_body(data_url(item["image"]), item["question"])["messages"]
        if not stream:
            return client.chat.completions.create(model="medvqa", messages=messages,
                                                  max_tokens=MAX_NEW_TOKENS).choices[0].message.content
        chunks = client.chat.completions.create(model="medvqa", messages=messages, max_tokens=MAX_NEW_TOKENS,
                                                stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    steps, rows = (metric(server, f"medvqa_decode_{name}_total", API_KEY) for name in ("steps", "rows"))
    jobs = [(a, stream) for a in asked for stream in (False, True)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(answer, jobs))
    for ((item, ask), stream), got in zip(jobs, answers):
        assert got == ask["answer"], (item, stream)
    mean_batch = ((metric(server, "medvqa_decode_rows_total", API_KEY) - rows) /
                  (metric(server, "medvqa_decode_steps_total", API_KEY) - steps))
    assert mean_batch > 2, mean_batch  # the requests were decoded together


def test_stream_ends_with_done(server, trained):
    p = trained["predictions"][0]
    status, headers, body = request(server, "POST", "/v1/chat/completions",
                                    chat_body(data_url(p["image"]), p["question"], stream=True))
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = body.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""], events[-3:]
    assert all(e.startswith("data: ") for e in events[:-1])
    for e in events[:-2]:
        assert json.loads(e[len("data: "):])["object"] == "chat.completion.chunk"


def error_of(response):
    status, _, body = response
    error = json.loads(body)["error"]
    assert list(error) == ["message", "type", "param", "code"], error
    return status, error


def hostile_images(png_path, tmp_path):
    """Base64 images that lie about their size or are broken: headers declaring 20000x20000 or
    30000x30000 pixels (PNG, JPEG, BMP), a real PNG of 20000x20000 zeros (400 MB inflated from a few
    hundred kB), a PNG cut short, a DICOM whose transfer syntax is made up, a DICOM cut short."""
    import io
    import struct
    import zlib

    import pydicom
    from PIL import Image

    def b64(data):
        return base64.b64encode(data).decode()

    png = open(png_path, "rb").read()
    huge_png = png[:16] + struct.pack(">II", 20000, 20000) + png[24:]
    rows = zlib.compressobj(9)
    inflated = b"".join(rows.compress(b"\0" * 20001) for _ in range(20000)) + rows.flush()
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", inflated) + chunk(b"IEND", b"")
    out = {}
    for fmt in ("JPEG", "BMP"):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buffer, fmt)
        out[fmt] = bytearray(buffer.getvalue())
    sof = out["JPEG"].index(b"\xff\xc0")
    out["JPEG"][sof + 5:sof + 9] = struct.pack(">HH", 30000, 30000)
    out["BMP"][18:26] = struct.pack("<ii", 30000, 30000)
    dicom = pydicom.dcmread(DICOM)
    dicom.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"
    dicom.save_as(tmp_path / "bad_syntax.dcm")
    dicom_bytes = open(DICOM, "rb").read()
    return {"png_20000": b64(huge_png), "png_zip_bomb": b64(bomb), "jpeg_30000": b64(bytes(out["JPEG"])),
            "bmp_30000": b64(bytes(out["BMP"])), "png_cut": b64(png[:len(png) // 2]),
            "dicom_bad_syntax": b64(open(tmp_path / "bad_syntax.dcm", "rb").read()),
            "dicom_cut": b64(dicom_bytes[:len(dicom_bytes) // 3])}


def test_malformed_and_hostile_requests_get_4xx_with_an_error_object(server, trained, tmp_path):
    p = trained["predictions"][0]
    good = chat_body(data_url(p["image"]), p["question"])
    not_an_image = tmp_path / "x.png"
    not_an_image.write_text("not an image")

    def part(url):
        return chat_body(url, p["question"])

    url = "messages[0].content[1].image_url.url"
    text_part, image_part = good["messages"][0]["content"]
    images = hostile_images(p["image"], tmp_path)
    cases = [  # (body, status, param)
        ("{not json", 400, None),
        ("[1, 2]", 400, None),
        ({**good, "messages": "hi"}, 400, "messages"),
        ({k: v for k, v in good.items() if k != "messages"}, 400, "messages"),
        ({**good, "messages": [{"role": "system", "content": "x"}, *good["messages"]]}, 400, "messages"),
        ({**good, "messages": [{"role": "user", "content": p["question"]}]}, 400, "messages[0].content"),
        ({**good, "max_tokens": "5"}, 400, "max_tokens"),
        ({**good, "max_tokens": -1}, 400, "max_tokens"),
        ({**good, "max_tokens": 10 ** 6}, 400, "max_tokens"),
        ({**good, "temperature": "hot"}, 400, "temperature"),
        ({**good, "top_p": 2}, 400, "top_p"),
        ({**good, "seed": "x"}, 400, "seed"),
        ({**good, "stop": [1]}, 400, "stop"),
        ({**good, "stream": "yes"}, 400, "stream"),
        ({**good, "n": 3}, 400, "n"),
        (part("file:///etc/passwd"), 400, "messages[0].content[1].image_url.url"),
        (part(str(p["image"])), 400, "messages[0].content[1].image_url.url"),
        (part("http://127.0.0.1:1/x.png"), 400, "messages[0].content[1].image_url.url"),
        (part("data:image/png;base64,@@@@"), 400, "messages[0].content[1].image_url.url"),
        (part("data:text/html;base64,PGI+"), 400, "messages[0].content[1].image_url.url"),
        (part(data_url(not_an_image)), 400, "messages[0].content[1].image_url.url"),
        (part("data:image/png;base64," + "A" * (100 << 20)), 413, None),
        ({**good, "max_completion_tokens": 0}, 400, "max_completion_tokens"),
        ({**good, "temperature": -1}, 400, "temperature"),
        ({**good, "stream_options": "x"}, 400, "stream_options"),
        ({**good, "messages": ["hi"]}, 400, "messages[0]"),
        ({**good, "messages": [{"role": 5, "content": "x"}]}, 400, "messages[0].role"),
        ({**good, "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
        ({**good, "messages": [{"role": "user", "content": [{"type": "audio"}, image_part]}]}, 400,
         "messages[0].content[0].type"),
        ({**good, "messages": [{"role": "user", "content": [text_part, {"type": "image_url", "image_url": 5}]}]},
         400, "messages[0].content[1].image_url"),
        ({**good, "messages": [{"role": "user", "content": [text_part, image_part, image_part]}]}, 400,
         "messages[0].content[2]"),
        ({**good, "messages": [{"role": "user", "content": [image_part]}]}, 400, "messages[0].content"),
        (chat_body(data_url(p["image"]), " ".join(["word"] * 400)), 400, "messages[0].content"),
        (part("data:image/png;base64," + images["png_20000"]), 413, url),
        (part("data:image/png;base64," + images["png_zip_bomb"]), 413, url),
        (part("data:image/jpeg;base64," + images["jpeg_30000"]), 413, url),
        (part("data:image/bmp;base64," + images["bmp_30000"]), 413, url),
        (part("data:image/png;base64," + images["png_cut"]), 400, url),
        (part("data:application/dicom;base64," + images["dicom_bad_syntax"]), 400, url),
        (part("data:application/dicom;base64," + images["dicom_cut"]), 400, url),
    ]
    assert len(cases) >= 30
    for body, status, param in cases:
        got, error = error_of(request(server, "POST", "/v1/chat/completions", body))
        shown = str(body)[:120]
        assert got == status, (shown, error)
        assert error["param"] == param, (shown, error)
        if param:  # named whole, or as its object and key ('messages[0]: key "role": ...')
            parent, _, key = param.rpartition(".")
            assert param in error["message"] or f'{parent}: key "{key}"' in error["message"], (shown, error)
    assert error_of(request(server, "GET", "/v1/nowhere"))[0] == 404
    assert error_of(request(server, "GET", "/v1/chat/completions"))[0] == 404
    # The server still answers.
    status, _, body = request(server, "POST", "/v1/chat/completions", good)
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == p["prediction"]


def test_api_key_is_required_except_for_health(server, trained):
    p = trained["predictions"][0]
    for key in (None, "wrong", API_KEY + "x"):
        for method, path, body in (("GET", "/v1/models", None), ("GET", "/metrics", None),
                                   ("POST", "/v1/chat/completions", chat_body(data_url(p["image"]), p["question"]))):
            status, error = error_of(request(server, method, path, body, key=key))
            assert (status, error["type"]) == (401, "authentication_error"), (key, path)
    assert request(server, "GET", "/health", key=None)[0] == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"http://127.0.0.1:{server}/v1", api_key="wrong", timeout=REQUEST_TIMEOUT,
                      max_retries=0).models.list()


def test_preview_is_the_preprocessed_image_as_png(server, tmp_path):
    from PIL import Image
    status, headers, body = request(server, "POST", "/preview", {"image": data_url(DICOM)})
    assert status == 200 and headers["Content-Type"] == "image/png"
    (tmp_path / "preview.png").write_bytes(body)
    image = Image.open(tmp_path / "preview.png")
    assert (image.size, image.mode) == ((224, 224), "RGB")
    status, error = error_of(request(server, "POST", "/preview", {"image": "file:///etc/passwd"}))
    assert (status, error["param"]) == (400, "image")
    assert error_of(request(server, "POST", "/preview", {"image": data_url(DICOM)}, key=None))[0] == 401


def test_models_and_metrics(server, client):
    assert [m.id for m in client.models.list()] == ["medvqa"]
    status, headers, body = request(server, "GET", "/metrics")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    for name in ("medvqa_requests_total{", "medvqa_queue_length ", "medvqa_completion_tokens_total ",
                 "medvqa_tokens_per_second ", "medvqa_time_to_first_token_seconds_count "):
        assert name in text, name


def test_binds_loopback_and_sigterm_finishes_the_running_stream(trained, medvqa_bin):
    port = free_port()
    proc = start_server(medvqa_bin, trained["s2"], port)
    try:
        p = trained["predictions"][0]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        conn.request("POST", "/v1/chat/completions",
                     json.dumps(chat_body(data_url(p["image"]), p["question"], stream=True)),
                     {"Content-Type": "application/json"})
        res = conn.getresponse()
        first = res.readline()
        assert first.startswith(b"data: "), first
        proc.send_signal(signal.SIGTERM)
        rest = res.read().decode()
        conn.close()
        assert rest.endswith("data: [DONE]\n\n"), rest
    finally:
        code, err = stop_server(proc)
    assert code == 0, err
    assert f"listening on http://127.0.0.1:{port}" in err and "SIGTERM" in err, err


def metric(port, name, key=None):
    text = request(port, "GET", "/metrics", key=key)[2].decode()
    return float(next(l.split()[1] for l in text.splitlines() if l.startswith(name + " ")))


def test_a_client_that_disconnects_mid_stream_frees_its_slot(trained, medvqa_bin):
    with serving(medvqa_bin, trained["s2"]) as (port, proc):
        p = trained["predictions"][0]
        body = chat_body(data_url(p["image"]), p["question"], stream=True, max_tokens=1024)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        res = conn.getresponse()
        assert res.readline().startswith(b"data: ")
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while metric(port, "medvqa_running_requests") > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        # The answer was cut short (the demo model does not stop by itself within 1024 tokens).
        assert metric(port, "medvqa_running_requests") == 0
        assert metric(port, "medvqa_completion_tokens_total") < 1024
        assert request(port, "POST", "/v1/chat/completions", chat_body(data_url(p["image"]), p["question"]),
                       key=None)[0] == 200


def test_a_client_that_leaves_before_a_whole_answer_frees_its_slot(trained, medvqa_bin):
    with serving(medvqa_bin, trained["s2"]) as (port, proc):
        p = trained["predictions"][0]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        conn.request("POST", "/v1/chat/completions", json.dumps(chat_body(data_url(p["image"]), p["question"],
                                                                          max_tokens=1024)),
                     {"Content-Type": "application/json"})
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while metric(port, "medvqa_running_requests") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        while metric(port, "medvqa_running_requests") > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert metric(port, "medvqa_running_requests") == 0
        assert metric(port, "medvqa_completion_tokens_total") < 1024


SLOW_CLIENTS = 10
READ_TIMEOUT = 5  # the server's, http_server.cpp


def test_slow_loris_clients_get_a_400_and_do_not_hold_the_server(server, trained):
    """Clients that send half their headers and stall: the server answers others meanwhile, and each
    stalled one gets a 400 once it has sent nothing for the read timeout."""
    p = trained["predictions"][0]
    slow = []
    for _ in range(SLOW_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", server), timeout=READ_TIMEOUT * 4)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
        slow.append(sock)
    started = time.monotonic()
    status, _, body = request(server, "POST", "/v1/chat/completions", chat_body(data_url(p["image"]), p["question"]))
    assert status == 200 and json.loads(body)["choices"][0]["message"]["content"] == p["prediction"]
    for sock in slow:
        reply = sock.recv(4096)
        sock.close()
        assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert time.monotonic() - started < READ_TIMEOUT * 3


def test_sigterm_under_load_loses_no_answer(trained, medvqa_bin, asked):
    """SIGTERM while eight requests run or wait: each is answered in full (ask's answer), then the
    server exits 0."""
    from concurrent.futures import ThreadPoolExecutor
    with serving(medvqa_bin, trained["s2"]) as (port, proc):
        def answer(item):
            body = chat_body(data_url(item["image"]), item["question"])
            return request(port, "POST", "/v1/chat/completions", body, key=None)

        items = asked[:8]
        with ThreadPoolExecutor(len(items)) as pool:
            futures = [pool.submit(answer, item) for item, _ in items]
            deadline = time.monotonic() + REQUEST_TIMEOUT
            # Every request running, waiting or answered: none can be refused as arriving too late.
            while (metric(port, "medvqa_running_requests") + metric(port, "medvqa_queue_length") +
                   sum(f.done() for f in futures) < len(items) and time.monotonic() < deadline):
                time.sleep(0.005)
            proc.send_signal(signal.SIGTERM)
            responses = [f.result() for f in futures]
        for (item, ask), (status, _, body) in zip(items, responses):
            assert status == 200, body
            assert json.loads(body)["choices"][0]["message"]["content"] == ask["answer"], item


def test_a_full_queue_is_a_429_with_retry_after(trained, medvqa_bin):
    from concurrent.futures import ThreadPoolExecutor
    with serving(medvqa_bin, trained["s2"], "--max-queue", 2, "--max-batch", 1) as (port, proc):
        p = trained["predictions"][0]
        body = chat_body(data_url(p["image"]), p["question"], max_tokens=64)
        # One request runs and two wait; the others arrive while every slot is taken.
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(lambda _: request(port, "POST", "/v1/chat/completions", body, key=None),
                                      range(16)))
        statuses = sorted(status for status, _, _ in responses)
        assert 200 in statuses and 429 in statuses and set(statuses) == {200, 429}, statuses
        for response in responses:
            if response[0] == 429:
                assert response[1]["Retry-After"] == "1"
                assert error_of(response)[1]["type"] == "rate_limit_error"
        assert request(port, "POST", "/v1/chat/completions", body, key=None)[0] == 200


def test_the_page_streams_an_answer_in_headless_chromium(trained, medvqa_bin, tmp_path):
    """Debian's chromium and chromium-driver (scripts/setup.sh) through selenium: pick an image, ask,
    the answer streams in. The screenshot is left in tmp_path/serve_page.png (docs/ keeps a copy)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,1000"):
        options.add_argument(arg)
    port = free_port()
    proc = start_server(medvqa_bin, trained["s2"], port, "--api-key", API_KEY)
    driver = None
    try:
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        driver.set_page_load_timeout(REQUEST_TIMEOUT)
        driver.set_script_timeout(REQUEST_TIMEOUT)
        p = trained["predictions"][0]
        driver.get(f"http://127.0.0.1:{port}/")
        driver.find_element(By.ID, "key").send_keys(API_KEY)
        # A DICOM file, which no browser shows: the server's preprocessed preview (224x224) appears.
        width = "const i = document.getElementById('preview'); return i.complete ? i.naturalWidth : 0"
        driver.find_element(By.ID, "file").send_keys(DICOM)
        WebDriverWait(driver, REQUEST_TIMEOUT).until(lambda d: d.execute_script(width) == 224)
        driver.execute_script("document.getElementById('preview').removeAttribute('src')")
        driver.find_element(By.ID, "file").send_keys(str(p["image"]))
        WebDriverWait(driver, REQUEST_TIMEOUT).until(lambda d: d.execute_script(width) == 224)
        driver.find_element(By.ID, "question").send_keys(p["question"])
        driver.find_element(By.ID, "ask").click()
        answer = "return document.getElementById('answer').textContent"
        WebDriverWait(driver, REQUEST_TIMEOUT).until(
            lambda d: d.find_element(By.ID, "ask").is_enabled() and d.execute_script(answer))
        assert driver.find_element(By.ID, "error").text == ""
        # The page asks for the default max_tokens (64), the prediction had MAX_NEW_TOKENS: greedy, so a prefix.
        assert driver.execute_script(answer).startswith(p["prediction"])
        driver.save_screenshot(str(tmp_path / "serve_page.png"))
    finally:
        if driver:
            driver.quit()
        code, err = stop_server(proc)
    assert code == 0, err
