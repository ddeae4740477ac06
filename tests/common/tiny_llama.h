// The sizes of a tiny LLaMA for GoogleTest suites in one call, so each suite states only the
// shape it needs (vocab, widths, layers, heads); rope_theta 10000, the rest LlamaOptions' defaults.
#pragma once

#include "medvqa/models/llama.h"

namespace medvqa::test_util {

inline LlamaOptions tiny_llama(int64_t vocab, int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                               int64_t kv_heads, int64_t head_dim) {
  LlamaOptions o;
  o.vocab_size = vocab;
  o.hidden_size = hidden;
  o.intermediate_size = intermediate;
  o.num_hidden_layers = layers;
  o.num_attention_heads = heads;
  o.num_key_value_heads = kv_heads;
  o.head_dim = head_dim;
  o.rope_theta = 10000;
  return o;
}

}  // namespace medvqa::test_util
