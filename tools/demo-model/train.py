#!/usr/bin/python3
"""Trains nemotron4j's demo model: a small Nemotron-H on the King James Bible, in about an hour on 2 CPU cores.

    apt-get install python3-torch libopenblas0-pthread python3-regex bible-kjv
    /usr/bin/python3 tools/demo-model/train.py --out models/nemotron-h-demo

Writes a Hugging Face checkpoint directory (config.json, model.safetensors in bf16, tokenizer.json,
tokenizer_config.json, generation_config.json), the held-out text (heldout.txt), the reference the engine is tested
against (reference.safetensors: PyTorch's fp32 logits, greedy continuation and held-out perplexity computed from the
bf16 weights as saved), and the training log (training-log.txt). Everything is seeded; see README.md.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
from nemotron_h import NemotronH  # noqa: E402

SPECIALS = ["<pad>", "<s>", "</s>"]

CONFIG = {
    "architectures": ["NemotronHForCausalLM"],
    "model_type": "nemotron_h",
    "hidden_size": 256,
    "hybrid_override_pattern": "M-M*M-",
    "num_hidden_layers": 6,
    "vocab_size": 3072,
    "tie_word_embeddings": False,
    "layer_norm_epsilon": 1e-05,
    "residual_in_fp32": False,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "attention_bias": False,
    "intermediate_size": 768,
    "mlp_hidden_act": "relu2",
    "mlp_bias": False,
    "mamba_num_heads": 8,
    "mamba_head_dim": 64,
    "n_groups": 2,
    "ssm_state_size": 32,
    "conv_kernel": 4,
    "chunk_size": 64,
    "expand": 2,
    "use_conv_bias": True,
    "use_bias": False,
    "mamba_proj_bias": False,
    "mamba_hidden_act": "silu",
    "time_step_min": 0.001,
    "time_step_max": 0.1,
    "time_step_floor": 0.0001,
    "time_step_limit": [0.0, float("inf")],
    "rescale_prenorm_residual": True,
    "max_position_embeddings": 4096,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "bfloat16",
}

# A base model: the template joins the messages' text and adds nothing, so `run --prompt X` continues X.
CHAT_TEMPLATE = "{%- for message in messages %}{%- if not loop.first %}{{ '\\n' }}{%- endif %}" \
                "{{ message['content'] }}{%- endfor %}"

# Reference windows for the perplexity (the same definition as `nemotron4j perplexity`).
PPL_CTX = 512
PPL_STRIDE = 256
REF_LOGIT_TOKENS = 32
GREEDY_PROMPT_TOKENS = 16
GREEDY_NEW_TOKENS = 32


def log(line, sink):
    print(line, flush=True)
    sink.write(line + "\n")
    sink.flush()


def bf16_round(t):
    return t.to(torch.bfloat16).to(torch.float32)


def write_safetensors(path, tensors, metadata=None):
    """Writes tensors in the safetensors format, via a temporary file. A tensor is a torch tensor of bf16, f32 or
    i32, or a (safetensors dtype, numpy array) pair whose bytes are stored as they are (e.g. F8_E4M3 codes)."""
    names = sorted(tensors)
    header = {}
    blobs = []
    offset = 0
    codes = {torch.bfloat16: "BF16", torch.float32: "F32", torch.int32: "I32"}
    for name in names:
        t = tensors[name]
        if isinstance(t, tuple):
            dtype, array = t
            data, shape = array.tobytes(), list(array.shape)
        else:
            t = t.contiguous()
            data = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
            dtype, shape = codes[t.dtype], list(t.shape)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def perplexity_windows(n, ctx, stride):
    """Yields (begin, end, first_target): windows [begin, end) and the first position they score (see README)."""
    prev_end = 0
    begin = 0
    while True:
        end = min(begin + ctx, n)
        yield begin, end, max(prev_end, begin + 1)
        prev_end = end
        if end == n:
            return
        begin += stride


@torch.no_grad()
def perplexity(model, ids, ctx, stride):
    nll = []
    for begin, end, first in perplexity_windows(len(ids), ctx, stride):
        logits = model(torch.tensor(ids[begin:end]).unsqueeze(0))[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        for t in range(first, end):
            nll.append(-logp[t - begin - 1, ids[t]].item())
    nll = torch.tensor(nll, dtype=torch.float64)
    mean = nll.mean().item()
    se = nll.std(unbiased=True).item() / math.sqrt(len(nll))
    return math.exp(mean), math.exp(mean) * se, len(nll), nll.sum().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="checkpoint directory to write")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=200)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    sink = open(os.path.join(args.out, "training-log.txt"), "w")
    log(f"command: {' '.join(sys.argv)}", sink)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads", sink)

    t0 = time.time()
    chapters = corpus.read_bible()
    train_text, heldout_text = corpus.split(chapters)
    with open(os.path.join(args.out, "heldout.txt"), "w", encoding="utf-8") as f:
        f.write(heldout_text)
    log(f"corpus: {len(chapters)} chapters of the KJV; {len(train_text)} training chars, "
        f"{len(heldout_text)} held-out chars (every {corpus.HOLDOUT_EVERY}th chapter)", sink)

    tok = bpe.Bpe.train(train_text, CONFIG["vocab_size"], SPECIALS,
                        progress=lambda d, n: print(f"  bpe merges {d}/{n}", flush=True))
    tok.write(os.path.join(args.out, "tokenizer.json"))
    train_ids = torch.tensor(tok.encode(train_text), dtype=torch.int64)
    heldout_ids = tok.encode(heldout_text)
    if tok.decode(heldout_ids) != heldout_text:
        raise SystemExit("tokenizer round trip failed on the held-out text")
    log(f"tokenizer: {len(tok.tokens)} tokens; {len(train_ids)} training tokens "
        f"({len(train_text) / len(train_ids):.2f} chars/token), {len(heldout_ids)} held-out tokens "
        f"[{time.time() - t0:.0f} s]", sink)

    gen = torch.Generator().manual_seed(args.seed)
    model = NemotronH(CONFIG)
    model.init_weights(gen)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {CONFIG['hybrid_override_pattern']} hidden {CONFIG['hidden_size']}, {n_params} parameters "
        f"({n_params * 2 / 2**20:.2f} MiB in bf16)", sink)

    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "conv1d" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = max(1, args.steps // 20)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, args.steps - warmup)
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    heldout_eval = torch.tensor(heldout_ids[: (len(heldout_ids) // args.seq) * args.seq]).reshape(-1, args.seq)

    @torch.no_grad()
    def heldout_loss():
        model.eval()
        total = 0.0
        for row in heldout_eval.split(8):
            logits = model(row[:, :-1])
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), row[:, 1:].reshape(-1),
                                     reduction="sum").item()
        model.train()
        return total / (heldout_eval.shape[0] * (args.seq - 1))

    train_start = time.time()
    tokens_per_step = args.batch * args.seq
    smooth = None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        starts = torch.randint(0, len(train_ids) - args.seq - 1, (args.batch,), generator=gen)
        batch = torch.stack([train_ids[s: s + args.seq + 1] for s in starts.tolist()])
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        done = step + 1
        if done % 10 == 0 or done == args.steps:
            el = time.time() - train_start
            log(f"step {done}/{args.steps} loss {loss.item():.4f} (smoothed {smooth:.4f}) lr {lr_at(step):.2e} "
                f"{done * tokens_per_step / el:.0f} tok/s elapsed {el / 60:.1f} min "
                f"eta {el / done * (args.steps - done) / 60:.1f} min", sink)
        if done % args.eval_every == 0 or done == args.steps:
            hl = heldout_loss()
            log(f"eval step {done}: held-out loss {hl:.4f} (perplexity {math.exp(hl):.2f})", sink)
    log(f"training done in {(time.time() - train_start) / 60:.1f} min; final training loss {loss.item():.4f} "
        f"(smoothed {smooth:.4f})", sink)

    # Save in bf16, then compute every reference from the bf16 weights as saved, in fp32.
    state = {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(args.out, "model.safetensors"), state, {"format": "pt"})
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(bf16_round(p))
    model.eval()
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "do_sample": True,
                   "temperature": 0.7, "top_p": 0.9, "max_new_tokens": 96}, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
                   "pad_token": "<pad>", "unk_token": None, "model_max_length": 4096,
                   "tokenizer_class": "PreTrainedTokenizerFast",
                   "added_tokens_decoder": {str(i): {"content": s, "lstrip": False, "normalized": False,
                                                     "rstrip": False, "single_word": False, "special": True}
                                            for i, s in enumerate(SPECIALS)},
                   "chat_template": CHAT_TEMPLATE}, f, indent=2)
        f.write("\n")

    with torch.no_grad():
        logit_ids = heldout_ids[:REF_LOGIT_TOKENS]
        ref_logits = model(torch.tensor(logit_ids).unsqueeze(0))[0]
        seq = list(heldout_ids[:GREEDY_PROMPT_TOKENS])
        for _ in range(GREEDY_NEW_TOKENS):
            seq.append(int(model(torch.tensor(seq).unsqueeze(0))[0, -1].argmax()))
    ppl, ppl_se, scored, nll_sum = perplexity(model, heldout_ids, PPL_CTX, PPL_STRIDE)
    write_safetensors(os.path.join(args.out, "reference.safetensors"), {
        "heldout_ids": torch.tensor(heldout_ids, dtype=torch.int32),
        "logit_ids": torch.tensor(logit_ids, dtype=torch.int32),
        "logits": ref_logits.contiguous(),
        "greedy_prompt": torch.tensor(seq[:GREEDY_PROMPT_TOKENS], dtype=torch.int32),
        "greedy_ids": torch.tensor(seq[GREEDY_PROMPT_TOKENS:], dtype=torch.int32),
    }, {"perplexity": repr(ppl), "perplexity_se": repr(ppl_se), "nll_sum": repr(nll_sum), "scored": scored,
        "ctx": PPL_CTX, "stride": PPL_STRIDE, "framework": f"torch {torch.__version__} fp32"})
    log(f"held-out perplexity (PyTorch fp32, bf16 weights, ctx {PPL_CTX}, stride {PPL_STRIDE}): "
        f"{ppl:.4f} +/- {ppl_se:.4f} over {scored} tokens", sink)
    log(f"greedy continuation of {tok.decode(seq[:GREEDY_PROMPT_TOKENS])!r}: "
        f"{tok.decode(seq[GREEDY_PROMPT_TOKENS:])!r}", sink)
    log(f"total {(time.time() - t0) / 60:.1f} min", sink)


if __name__ == "__main__":
    main()
