// The one static page the server serves at GET /: plain HTML + JS, no build step and nothing
// fetched from elsewhere, so it works offline. It picks or drops an image (shown as the model sees
// it, from POST /preview), takes a question and streams the answer from /v1/chat/completions.
// Routing it is http_server's business.
#pragma once

namespace medvqa::serve {

const char* page_html();

}  // namespace medvqa::serve
