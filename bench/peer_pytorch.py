#!/usr/bin/env python3
"""The PyTorch + transformers + PEFT side of the training-step benchmark (issue 4, DESIGN.md "Peers").

Times forward + backward + clip_grad_norm_(1.0) + AdamW step + zero_grad on a randomly initialised
LlamaForCausalLM (the bench config below), in LoRA or full fine-tuning mode, and prints one JSON line.
Run each measurement in its own process: peak_rss_bytes is the process high-water mark.

    /opt/fixture-venv/bin/python bench/peer_pytorch.py --mode lora
    /opt/fixture-venv/bin/python bench/peer_pytorch.py --mode full --threads 2 --warmup 3 --steps 10
"""

import argparse
import json
import resource
import statistics
import sys
import time

import peft
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

# The issue-4 bench config. bench/train_step (ftd's side) must use the same numbers.
HIDDEN = 512
LAYERS = 8
HEADS = 8
KV_HEADS = 4
INTERMEDIATE = 1536
VOCAB = 8192
SEQ = 256
MICRO_BATCH = 8
ROPE_THETA = 10000.0
RMS_NORM_EPS = 1e-5
LORA_R = 16
LORA_ALPHA = 32
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LR = 1e-4
MODEL_SEED = 0
BATCH_SEED = 1234


def projection_shapes():
    """(in_features, out_features) of every matmul weight in one decoder layer, in LORA_TARGETS order."""
    head_dim = HIDDEN // HEADS
    kv = KV_HEADS * head_dim
    return [(HIDDEN, HIDDEN), (HIDDEN, kv), (HIDDEN, kv), (HIDDEN, HIDDEN),
            (HIDDEN, INTERMEDIATE), (HIDDEN, INTERMEDIATE), (INTERMEDIATE, HIDDEN)]


def flops_per_token(mode):
    """DESIGN.md's rule, written out in bench/README.md.

    N_base = non-embedding matmul weights incl. lm_head; N_lora = LoRA A and B of every adapted projection.
    Every matmul weight costs 2 per token forward and 2 backward (the input gradient); trained weights add 2
    more (the weight gradient). Attention scores and values add 6*L*T*d (forward + backward, causal halved).
    """
    n_base = LAYERS * sum(i * o for i, o in projection_shapes()) + HIDDEN * VOCAB
    n_lora = LAYERS * sum(LORA_R * (i + o) for i, o in projection_shapes()) if mode == "lora" else 0
    n_trained = n_lora if mode == "lora" else n_base
    attention = 6 * LAYERS * SEQ * HIDDEN
    return 4 * (n_base + n_lora) + 2 * n_trained + attention, n_base, n_lora


def build_model(mode):
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
        num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, max_position_embeddings=SEQ,
        rms_norm_eps=RMS_NORM_EPS, tie_word_embeddings=False, attention_dropout=0.0, use_cache=False,
        rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA},
        attn_implementation="sdpa", dtype=torch.float32)
    assert config.rope_parameters["rope_theta"] == ROPE_THETA, config.rope_parameters
    torch.manual_seed(MODEL_SEED)
    model = LlamaForCausalLM(config).to(torch.float32)
    assert model.config._attn_implementation == "sdpa", model.config._attn_implementation
    if mode == "lora":
        lora = peft.LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.0, bias="none",
                               target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
        model = peft.get_peft_model(model, lora)
    model.train()
    return model


def make_optimizer(params, impl):
    kwargs = {"lr": LR}
    if impl == "foreach":
        kwargs["foreach"] = True
    elif impl == "fused":
        kwargs["fused"] = True
    return torch.optim.AdamW(params, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["lora", "full"], required=True)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    parser.add_argument("--optimizer-impl", choices=["default", "foreach", "fused"], default="default",
                        help="torch AdamW implementation (default: torch's own choice for CPU)")
    args = parser.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--steps >= 1, --warmup >= 0, --threads >= 1")

    torch.set_num_threads(args.threads)
    model = build_model(args.mode)
    trainable = [p for p in model.parameters() if p.requires_grad]
    flops, n_base, n_lora = flops_per_token(args.mode)
    if args.mode == "lora":
        # The analytic count must be what PEFT actually trains.
        assert sum(p.numel() for p in trainable) == n_lora, (sum(p.numel() for p in trainable), n_lora)
    optimizer = make_optimizer(trainable, args.optimizer_impl)

    batch_rng = torch.Generator().manual_seed(BATCH_SEED)
    input_ids = torch.randint(0, VOCAB, (MICRO_BATCH, SEQ), generator=batch_rng)  # (B, T)
    labels = input_ids.clone()  # the model shifts labels itself

    def step():
        loss = model(input_ids=input_ids, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    seconds, losses = [], []
    for _ in range(args.steps):
        start = time.perf_counter()
        losses.append(step())
        seconds.append(time.perf_counter() - start)

    tokens = MICRO_BATCH * SEQ
    median = statistics.median(seconds)
    print(json.dumps({
        "impl": "pytorch+peft",
        "mode": args.mode,
        "tokens_per_step": tokens,
        "step_seconds_median": median,
        "step_seconds_all": seconds,
        "tokens_per_second": tokens / median,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "peft_version": peft.__version__,
        "threads": args.threads,
        "flops_per_token": flops,
        "achieved_gflops": flops * tokens / median / 1e9,
        # Extras, not needed by the driver: the setup and the loss curve of the timed steps.
        "warmup_steps": args.warmup,
        "optimizer_impl": args.optimizer_impl,
        "n_base_matmul_params": n_base,
        "n_lora_params": n_lora,
        "losses": losses,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
