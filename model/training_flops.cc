// The FLOP rule as arithmetic on the config.
#include "model/training_flops.h"

namespace ftd {

int64_t MatmulWeightCount(const LlamaConfig& c) {
  const int64_t per_layer = 2 * c.hidden_size * c.q_dim() + 2 * c.hidden_size * c.kv_dim() +
                            3 * c.hidden_size * c.intermediate_size;
  return c.num_hidden_layers * per_layer + c.hidden_size * c.vocab_size;
}

int64_t TrainingFlopsPerToken(const LlamaConfig& c, int64_t adapter_params, bool full, int64_t seq_len) {
  const int64_t base = MatmulWeightCount(c);
  const int64_t trained = full ? base : adapter_params;
  return 4 * (base + adapter_params) + 2 * trained + 6 * c.num_hidden_layers * seq_len * c.q_dim();
}

}  // namespace ftd
