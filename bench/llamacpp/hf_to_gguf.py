#!/usr/bin/env python3
"""Convert a Nemotron-H Hugging Face checkpoint directory (NemotronHForCausalLM, dense MLP variant) to a GGUF file
for llama.cpp's "nemotron_h" architecture, using only numpy and llama.cpp's gguf-py package (GGUFWriter).

Why not llama.cpp's convert_hf_to_gguf.py: it needs torch and transformers (and a tokenizer), none of which can be
installed here. This converter reproduces, for the dense Nemotron-H models, what that script writes:

  metadata   the keys its NemotronHModel / GraniteHybridModel / LlamaModel / TextModel classes emit for such a
             config: per-layer feed_forward_length and head_count_kv arrays (0 marks the layer kinds: both 0 =
             Mamba-2, kv > 0 = attention, ff > 0 = MLP), ssm.* sizes (inner = mamba_num_heads * mamba_head_dim,
             time_step_rank = mamba_num_heads), layer_norm_epsilon, key/value length = head_dim, no RoPE;
  tensors    HF names mapped to GGUF names; A_log -> A = -exp(A_log) (computed in f32) shaped [n_heads, 1];
             D -> [n_heads, 1]; dt_bias -> ssm_dt.bias; conv1d.weight [C, 1, K] -> [C, K]; mixer.norm.weight
             [d_inner] -> [n_groups, d_inner / n_groups]; q_proj/k_proj rows permuted per head like LlamaModel's
             "undo_permute" (Nemotron-H has no RoPE, so this permutation, applied identically to q and k, leaves
             q.k unchanged; it is kept only to produce the same file as the official converter). No "+1" on the
             norms: that belongs to the older NemotronForCausalLM (Minitron) class, not to Nemotron-H;
  types      2-D weight matrices in BF16 (bit-exact copies of bf16 checkpoint data; f32 sources are rounded to
             nearest-even), and, like the official converter, F32 for 1-D tensors, every *_norm.weight, the
             ssm_conv1d weight, ssm_a and ssm_d (names not ending in ".weight"). --outtype f32 writes every tensor
             in F32 (lossless from bf16; useful to compare engines without llama.cpp's bf16 activation rounding).

Vocabulary: the checkpoints written by `nemotron4j create-model` have no tokenizer, so a synthetic SentencePiece-style
("llama") vocabulary of exactly vocab_size tokens is written: <unk>, <s> at bos_token_id, </s> at eos_token_id,
<pad> at pad_token_id (if distinct), the 256 byte tokens <0x00>..<0xFF>, and unique filler tokens. Text through it
is meaningless, but token ids fed directly (llama-bench, the verification program) behave exactly as in the
checkpoint. A checkpoint that has a tokenizer is still converted with this synthetic vocabulary (a warning says so).

Usage:  PYTHONPATH=/path/to/llama.cpp/gguf-py python3 hf_to_gguf.py MODEL_DIR OUT.gguf [--outtype bf16|f32]
"""
from __future__ import annotations

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

try:
    import gguf
except ImportError:  # pragma: no cover - environment problem, explained to the user
    sys.exit("hf_to_gguf.py: cannot import gguf; put llama.cpp's gguf-py directory on PYTHONPATH")


# ---------------------------------------------------------------------------------------------------------------
# safetensors reading (header parsed with json, data memory-mapped with numpy; nothing is copied until needed)
# ---------------------------------------------------------------------------------------------------------------

_ST_DTYPES = {"BF16": np.uint16, "F16": np.float16, "F32": np.float32}


class Tensor:
    """One tensor of a safetensors file: dtype name, shape and a lazily memory-mapped array."""

    def __init__(self, path: Path, dtype: str, shape: list[int], begin: int, end: int):
        self.path, self.dtype, self.shape, self.begin, self.end = path, dtype, list(shape), begin, end

    def raw(self) -> np.ndarray:
        """The stored elements: uint16 bit patterns for BF16, float16/float32 otherwise."""
        np_dtype = _ST_DTYPES[self.dtype]
        count = math.prod(self.shape)
        if (self.end - self.begin) != count * np.dtype(np_dtype).itemsize:
            raise ValueError(f"{self.path}: tensor size does not match its shape/dtype")
        if count == 0:
            return np.zeros(self.shape, dtype=np_dtype)
        return np.memmap(self.path, dtype=np_dtype, mode="r", offset=self.begin, shape=tuple(self.shape))

    def f32(self) -> np.ndarray:
        a = self.raw()
        if self.dtype == "BF16":
            return (a.astype(np.uint32) << 16).view(np.float32)
        return np.asarray(a, dtype=np.float32)

    def bf16_bits(self) -> np.ndarray:
        """uint16 bf16 bit patterns: a view of bf16 data, or f16/f32 data rounded to nearest-even."""
        if self.dtype == "BF16":
            return self.raw()
        return f32_to_bf16_bits(self.f32())


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = ((u.astype(np.uint64) + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), rounded)


def read_safetensors(path: Path) -> dict[str, Tensor]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}; only BF16/F16/F32 are supported "
                             f"(FP8 checkpoints are not handled by this converter)")
        b, e = info["data_offsets"]
        out[name] = Tensor(path, info["dtype"], info["shape"], base + b, base + e)
    return out


def load_checkpoint(model_dir: Path) -> dict[str, Tensor]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = sorted(p.name for p in model_dir.glob("*.safetensors"))
    if not files:
        raise SystemExit(f"hf_to_gguf.py: no safetensors files in {model_dir}")
    tensors: dict[str, Tensor] = {}
    for fname in files:
        for name, t in read_safetensors(model_dir / fname).items():
            if name in tensors:
                raise SystemExit(f"hf_to_gguf.py: tensor {name} appears in two shards")
            tensors[name] = t
    return tensors


# ---------------------------------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------------------------------

class Config:
    def __init__(self, model_dir: Path):
        cfg = json.loads((model_dir / "config.json").read_text())  # Python's json accepts transformers' Infinity
        if "llm_config" in cfg:
            cfg = {**cfg, **cfg["llm_config"]}
        self.raw = cfg
        if cfg.get("num_experts_per_tok") is not None:
            raise SystemExit("hf_to_gguf.py: MoE Nemotron-H (nemotron_h_moe) is not supported by this converter")
        pattern = cfg.get("hybrid_override_pattern")
        if not isinstance(pattern, str):
            raise SystemExit("hf_to_gguf.py: config.json needs a hybrid_override_pattern string (M, *, -)")
        self.pattern = pattern
        self.n_layer = len(pattern)
        if cfg.get("num_hidden_layers", self.n_layer) != self.n_layer:
            raise SystemExit(f"hf_to_gguf.py: num_hidden_layers {cfg['num_hidden_layers']} != pattern length {self.n_layer}")
        bad = set(pattern) - set("M*-")
        if bad:
            raise SystemExit(f"hf_to_gguf.py: unknown layer kinds {sorted(bad)} in hybrid_override_pattern")

        def get(*keys, default=None):
            for k in keys:
                if cfg.get(k) is not None:
                    return cfg[k]
            if default is None:
                raise SystemExit(f"hf_to_gguf.py: config.json lacks {keys[0]}")
            return default

        self.hidden = get("hidden_size")
        self.vocab = get("vocab_size")
        self.n_head = get("num_attention_heads")
        self.n_kv = get("num_key_value_heads")
        self.head_dim = get("head_dim", "attention_head_dim", default=self.hidden // self.n_head)
        self.ffn = get("intermediate_size")
        self.mamba_heads = get("mamba_num_heads")
        self.mamba_head_dim = get("mamba_head_dim")
        self.d_state = get("ssm_state_size", "state_size")
        self.n_groups = get("n_groups")
        self.d_conv = get("conv_kernel")
        self.eps = get("layer_norm_epsilon", "rms_norm_eps", "norm_eps", default=1e-5)
        self.d_inner = self.mamba_heads * self.mamba_head_dim
        limit = cfg.get("time_step_limit")
        if limit is not None and (float(limit[0]) > 0.0 or float(limit[1]) != float("inf")):
            print(f"hf_to_gguf.py: warning: time_step_limit {limit} is not (0, inf); llama.cpp does not clamp dt, "
                  f"so it will not compute the same function", file=sys.stderr)
        if self.d_inner % self.n_groups:
            raise SystemExit("hf_to_gguf.py: mamba inner size is not a multiple of n_groups")


def special_ids(model_dir: Path, cfg: Config) -> dict[str, int]:
    ids = {"bos": cfg.raw.get("bos_token_id"), "eos": cfg.raw.get("eos_token_id"), "pad": cfg.raw.get("pad_token_id")}
    gen = model_dir / "generation_config.json"
    if gen.is_file():
        g = json.loads(gen.read_text())
        for k in ids:
            if g.get(f"{k}_token_id") is not None:
                ids[k] = g[f"{k}_token_id"]
    out = {}
    for k, v in ids.items():
        if isinstance(v, list):  # eos may be a list; the first is the canonical one
            v = v[0] if v else None
        if v is not None:
            if not 0 <= v < cfg.vocab:
                raise SystemExit(f"hf_to_gguf.py: {k}_token_id {v} outside the vocabulary")
            out[k] = int(v)
    return out


def synthetic_vocab(n: int, ids: dict[str, int]):
    """SentencePiece-style vocabulary of n unique tokens: specials at their ids, 256 byte tokens, fillers."""
    tokens: list[str | None] = [None] * n
    types = [gguf.TokenType.NORMAL] * n
    for key, text in (("bos", "<s>"), ("eos", "</s>"), ("pad", "<pad>")):
        if key in ids and tokens[ids[key]] is None:
            tokens[ids[key]] = text
            types[ids[key]] = gguf.TokenType.CONTROL
    free = (i for i in range(n) if tokens[i] is None)
    unk = next(free)
    tokens[unk], types[unk] = "<unk>", gguf.TokenType.UNKNOWN
    for b in range(256):
        i = next(free)
        tokens[i], types[i] = f"<0x{b:02X}>", gguf.TokenType.BYTE
    k = 0
    for i in range(n):
        if tokens[i] is None:
            tokens[i] = f"\u2581t{k}"  # "▁t0", "▁t1", ...: unique and never a byte/special pattern
            k += 1
    scores = [0.0 if types[i] != gguf.TokenType.NORMAL else -float(i) for i in range(n)]
    return tokens, scores, types, unk


# ---------------------------------------------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------------------------------------------

def permute_heads(w: np.ndarray, n_head: int) -> np.ndarray:
    """LlamaModel.permute: within each head, rows (i, j) of shape (2, hd/2) -> (j, i)."""
    rows = w.shape[0]
    return np.ascontiguousarray(w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


def convert(model_dir: Path, out_path: Path, outtype: str) -> None:
    cfg = Config(model_dir)
    tensors = load_checkpoint(model_dir)
    if (model_dir / "tokenizer.json").is_file() or (model_dir / "tokenizer.model").is_file():
        print("hf_to_gguf.py: warning: the checkpoint's tokenizer is ignored; a synthetic vocabulary is written",
              file=sys.stderr)

    arch = "nemotron_h"
    w = gguf.GGUFWriter(str(out_path), arch)
    ssm_layers = [i for i, c in enumerate(cfg.pattern) if c == "M"]
    attn_layers = [i for i, c in enumerate(cfg.pattern) if c == "*"]
    mlp_layers = [i for i, c in enumerate(cfg.pattern) if c == "-"]

    # --- metadata (mirrors what convert_hf_to_gguf.py's NemotronHModel writes for a dense config) ---
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(model_dir.name)
    w.add_block_count(cfg.n_layer)
    w.add_context_length(2 ** 20)  # no RoPE: the official converter writes this arbitrary large value
    w.add_embedding_length(cfg.hidden)
    w.add_feed_forward_length([cfg.ffn if i in mlp_layers else 0 for i in range(cfg.n_layer)])
    w.add_head_count(cfg.n_head)
    w.add_head_count_kv([cfg.n_kv if i in attn_layers else 0 for i in range(cfg.n_layer)])
    w.add_layer_norm_eps(float(cfg.eps))
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_vocab_size(cfg.vocab)
    w.add_rope_dimension_count(cfg.hidden // cfg.n_head)
    w.add_rope_scaling_finetuned(False)
    w.add_ssm_conv_kernel(cfg.d_conv)
    w.add_ssm_state_size(cfg.d_state)
    w.add_ssm_group_count(cfg.n_groups)
    w.add_ssm_inner_size(cfg.d_inner)
    w.add_ssm_time_step_rank(cfg.mamba_heads)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if outtype == "bf16" else gguf.LlamaFileType.ALL_F32)

    # --- vocabulary ---
    ids = special_ids(model_dir, cfg)
    tokens, scores, types, unk = synthetic_vocab(cfg.vocab, ids)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(unk)
    if "bos" in ids:
        w.add_bos_token_id(ids["bos"])
    if "eos" in ids:
        w.add_eos_token_id(ids["eos"])
    if "pad" in ids:
        w.add_pad_token_id(ids["pad"])
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    # --- tensors ---
    used: set[str] = set()

    def take(name: str) -> Tensor:
        if name not in tensors:
            raise SystemExit(f"hf_to_gguf.py: checkpoint lacks tensor {name}")
        used.add(name)
        return tensors[name]

    def put_matrix(gguf_name: str, t: Tensor, expect: tuple[int, ...], transform=None):
        if tuple(t.shape) != expect:
            raise SystemExit(f"hf_to_gguf.py: {gguf_name}: shape {t.shape}, expected {list(expect)}")
        if outtype == "f32":
            a = t.f32()
            if transform:
                a = transform(a)
            w.add_tensor(gguf_name, np.ascontiguousarray(a, dtype=np.float32))
        else:
            a = t.bf16_bits()
            if transform:
                a = transform(a)
            w.add_tensor(gguf_name, a, raw_dtype=gguf.GGMLQuantizationType.BF16)

    def put_f32(gguf_name: str, a: np.ndarray):
        w.add_tensor(gguf_name, np.ascontiguousarray(a, dtype=np.float32))

    H, V = cfg.hidden, cfg.vocab
    put_matrix("token_embd.weight", take("backbone.embeddings.weight"), (V, H))
    put_f32("output_norm.weight", take("backbone.norm_f.weight").f32())
    if "lm_head.weight" in tensors:
        put_matrix("output.weight", take("lm_head.weight"), (V, H))
    elif not cfg.raw.get("tie_word_embeddings", False):
        raise SystemExit("hf_to_gguf.py: checkpoint lacks lm_head.weight and tie_word_embeddings is false")

    conv_ch = cfg.d_inner + 2 * cfg.n_groups * cfg.d_state
    d_in_proj = 2 * cfg.d_inner + 2 * cfg.n_groups * cfg.d_state + cfg.mamba_heads
    for i in range(cfg.n_layer):
        p, b = f"backbone.layers.{i}.", f"blk.{i}."
        put_f32(b + "attn_norm.weight", take(p + "norm.weight").f32())
        m = p + "mixer."
        if i in ssm_layers:
            put_matrix(b + "ssm_in.weight", take(m + "in_proj.weight"), (d_in_proj, H))
            conv = take(m + "conv1d.weight")
            if tuple(conv.shape) not in ((conv_ch, 1, cfg.d_conv), (conv_ch, cfg.d_conv)):
                raise SystemExit(f"hf_to_gguf.py: {m}conv1d.weight has shape {conv.shape}")
            put_f32(b + "ssm_conv1d.weight", conv.f32().reshape(conv_ch, cfg.d_conv))
            if m + "conv1d.bias" in tensors:
                put_f32(b + "ssm_conv1d.bias", take(m + "conv1d.bias").f32().reshape(conv_ch))
            put_f32(b + "ssm_dt.bias", take(m + "dt_bias").f32().reshape(cfg.mamba_heads))
            a_log = take(m + "A_log").f32().reshape(cfg.mamba_heads)
            put_f32(b + "ssm_a", (-np.exp(a_log)).reshape(cfg.mamba_heads, 1))
            put_f32(b + "ssm_d", take(m + "D").f32().reshape(cfg.mamba_heads, 1))
            put_f32(b + "ssm_norm.weight",
                    take(m + "norm.weight").f32().reshape(cfg.n_groups, cfg.d_inner // cfg.n_groups))
            put_matrix(b + "ssm_out.weight", take(m + "out_proj.weight"), (H, cfg.d_inner))
        elif i in attn_layers:
            qd, kvd = cfg.n_head * cfg.head_dim, cfg.n_kv * cfg.head_dim
            put_matrix(b + "attn_q.weight", take(m + "q_proj.weight"), (qd, H), lambda a: permute_heads(a, cfg.n_head))
            put_matrix(b + "attn_k.weight", take(m + "k_proj.weight"), (kvd, H), lambda a: permute_heads(a, cfg.n_kv))
            put_matrix(b + "attn_v.weight", take(m + "v_proj.weight"), (kvd, H))
            put_matrix(b + "attn_output.weight", take(m + "o_proj.weight"), (H, qd))
        else:
            put_matrix(b + "ffn_up.weight", take(m + "up_proj.weight"), (cfg.ffn, H))
            put_matrix(b + "ffn_down.weight", take(m + "down_proj.weight"), (H, cfg.ffn))
        for bias in ("in_proj.bias", "out_proj.bias", "q_proj.bias", "k_proj.bias", "v_proj.bias", "o_proj.bias",
                     "up_proj.bias", "down_proj.bias"):
            if m + bias in tensors:
                raise SystemExit(f"hf_to_gguf.py: {m}{bias}: projection biases are not supported")

    unused = sorted(set(tensors) - used)
    if unused:
        raise SystemExit(f"hf_to_gguf.py: unhandled tensors: {unused[:8]}{' ...' if len(unused) > 8 else ''}")

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    n_params = sum(math.prod(t.shape) for t in tensors.values())
    print(f"hf_to_gguf.py: wrote {out_path} ({out_path.stat().st_size / 2**20:.1f} MiB, {n_params:,} parameters, "
          f"{len(ssm_layers)} Mamba-2 / {len(attn_layers)} attention / {len(mlp_layers)} MLP layers, {outtype})")


def main() -> None:
    ap = argparse.ArgumentParser(description="Nemotron-H HF checkpoint -> GGUF (llama.cpp nemotron_h)")
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--outtype", choices=("bf16", "f32"), default="bf16")
    args = ap.parse_args()
    convert(args.model_dir, args.out, args.outtype)


if __name__ == "__main__":
    main()
