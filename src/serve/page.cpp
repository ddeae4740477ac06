#include "medvqa/serve/page.h"

namespace medvqa::serve {

const char* page_html() {
  return R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>medvqa</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5rem; text-align: center; cursor: pointer; }
  #drop.over { background: #eef; }
  #preview { max-width: 100%; max-height: 20rem; display: none; margin: 1rem auto; }
  textarea, input[type=password] { width: 100%; box-sizing: border-box; font: inherit; margin: .5rem 0; }
  #answer { white-space: pre-wrap; border-left: 4px solid #46a; padding: .5rem 1rem; min-height: 1.5rem; }
  #error { color: #b00; }
</style>
</head>
<body>
<h1>medvqa</h1>
<input id="key" type="password" placeholder="API key (only if the server requires one)">
<div id="drop">Drop an image here (PNG, JPEG, BMP, TIFF, DICOM) or click to pick one
  <input id="file" type="file" hidden accept=".png,.jpg,.jpeg,.bmp,.tif,.tiff,.dcm,image/*,application/dicom">
  <div id="name"></div>
</div>
<img id="preview" alt="the image as the model sees it">
<textarea id="question" rows="3" placeholder="Your question about the image"></textarea>
<button id="ask">Ask</button>
<h2>Answer</h2>
<div id="answer"></div>
<p id="error"></p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let imageUrl = null;

// The data URL of a file, with the media type the server expects for DICOM (browsers know none).
function readImage(file) {
  const reader = new FileReader();
  reader.onload = () => {
    imageUrl = reader.result;
    if (/\.dcm$/i.test(file.name) || !file.type) imageUrl = imageUrl.replace(/^data:[^;,]*/, "data:application/dicom");
    $("name").textContent = file.name;
    showPreview();
  };
  reader.readAsDataURL(file);
}

// What the model will see: the server's preprocessed image (DICOM and TIFF included).
async function showPreview() {
  $("error").textContent = "";
  const res = await fetch("/preview", { method: "POST", headers: headers(), body: JSON.stringify({ image: imageUrl }) });
  if (!res.ok) {
    const err = await res.json().catch(() => null);
    $("error").textContent = "Preview: " + (err && err.error ? err.error.message : "HTTP " + res.status);
    return;
  }
  $("preview").src = URL.createObjectURL(await res.blob());
  $("preview").style.display = "block";
}

function headers() {
  const h = { "Content-Type": "application/json" };
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}

$("drop").onclick = () => $("file").click();
$("file").onchange = () => { if ($("file").files[0]) readImage($("file").files[0]); };
$("drop").ondragover = (e) => { e.preventDefault(); $("drop").classList.add("over"); };
$("drop").ondragleave = () => $("drop").classList.remove("over");
$("drop").ondrop = (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  if (e.dataTransfer.files[0]) readImage(e.dataTransfer.files[0]);
};

// Streams the answer: server-sent events, one JSON chunk per "data:" line, until [DONE].
async function ask() {
  $("answer").textContent = "";
  $("error").textContent = "";
  if (!imageUrl) { $("error").textContent = "Choose an image first."; return; }
  const body = { model: "medvqa", stream: true, messages: [{ role: "user", content: [
    { type: "text", text: $("question").value }, { type: "image_url", image_url: { url: imageUrl } }] }] };
  $("ask").disabled = true;
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(), body: JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json().catch(() => null);
      throw new Error(err && err.error ? err.error.message : "HTTP " + res.status);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
        const chunk = JSON.parse(event.slice(6));
        if (chunk.error) throw new Error(chunk.error.message);
        for (const choice of chunk.choices || []) $("answer").textContent += choice.delta.content || "";
      }
    }
  } catch (e) {
    $("error").textContent = e.message;
  } finally {
    $("ask").disabled = false;
  }
}
$("ask").onclick = ask;
</script>
</body>
</html>
)HTML";
}

}  // namespace medvqa::serve
