"""Nemotron-H in plain PyTorch (fp32), with the parameter names of Hugging Face checkpoints.

Blocks are `h = h + mixer(RMSNorm(h))`; the mixer of block i is chosen by `hybrid_override_pattern[i]`:
'M' Mamba-2, '*' attention (GQA, causal, no positional encoding), '-' MLP (down(relu(up(x))^2)).
Mamba-2: in_proj -> z | xBC | dt; causal depthwise conv1d + SiLU over xBC; dt = softplus(dt + dt_bias);
A = -exp(A_log); the state-space scan (computed chunk-wise, see `ssd`); y + D*x; y * silu(z); RMSNorm over
n_groups groups; out_proj.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(var + self.eps) * self.weight


def segment_sums(a):
    """a: (..., T) -> (..., T, T) with out[i, j] = a[j+1] + ... + a[i] for i >= j, -inf above the diagonal.

    Summed from a masked copy (not as a difference of two cumulative sums), so it stays accurate in fp32."""
    t = a.shape[-1]
    rep = a.unsqueeze(-1).expand(*a.shape, t)                          # rep[..., k, j] = a[k]
    strictly_lower = torch.tril(torch.ones(t, t, dtype=torch.bool, device=a.device), diagonal=-1)
    rep = rep.masked_fill(~strictly_lower, 0.0)
    sums = torch.cumsum(rep, dim=-2)                                   # sums[..., i, j] = sum_{j<k<=i} a[k]
    lower = torch.tril(torch.ones(t, t, dtype=torch.bool, device=a.device), diagonal=0)
    return sums.masked_fill(~lower, float("-inf"))


def ssd(x, dt, a, b, c, chunk):
    """The Mamba-2 scan h_t = exp(dt_t a) h_{t-1} + dt_t x_t b_t^T, y_t = h_t c_t, from zero state.

    x: (B, L, H, P); dt: (B, L, H); a: (H,); b, c: (B, L, H, N) (already expanded from groups to heads).
    Computed in chunks of `chunk` steps: inside a chunk as a masked (attention-like) product, across chunks by
    passing the chunk-end states along. Returns y: (B, L, H, P)."""
    bsz, length, heads, p = x.shape
    pad = (-length) % chunk
    if pad:
        x = F.pad(x, (0, 0, 0, 0, 0, pad))
        dt = F.pad(dt, (0, 0, 0, pad))
        b = F.pad(b, (0, 0, 0, 0, 0, pad))
        c = F.pad(c, (0, 0, 0, 0, 0, pad))
    n_chunks = x.shape[1] // chunk

    def chunked(t):
        return t.reshape(bsz, n_chunks, chunk, *t.shape[2:])

    xs = chunked(x * dt.unsqueeze(-1))                  # (B, K, T, H, P): inputs scaled by dt
    bs, cs = chunked(b), chunked(c)                     # (B, K, T, H, N)
    da = chunked(dt * a).permute(0, 3, 1, 2)            # (B, H, K, T): log decay per step
    da_cum = torch.cumsum(da, dim=-1)

    # within each chunk: y_i = sum_{j<=i} (c_i . b_j) exp(sum_{j<k<=i} da_k) xs_j
    decay = torch.exp(segment_sums(da))                 # (B, H, K, T, T)
    scores = torch.einsum("bkihn,bkjhn->bhkij", cs, bs) * decay
    y = torch.einsum("bhkij,bkjhp->bkihp", scores, xs)

    # the state each chunk leaves behind, from its own inputs only
    to_end = torch.exp(da_cum[..., -1:] - da_cum)       # (B, H, K, T)
    chunk_states = torch.einsum("bkjhn,bhkj,bkjhp->bkhpn", bs, to_end, xs)
    # the state entering each chunk: the previous entering state decayed over the chunk, plus its own state
    chunk_decay = torch.exp(da_cum[..., -1])            # (B, H, K)
    entering = []
    state = torch.zeros(bsz, heads, p, bs.shape[-1], dtype=x.dtype, device=x.device)
    for k in range(n_chunks):
        entering.append(state)
        state = state * chunk_decay[:, :, k, None, None] + chunk_states[:, k]
    entering = torch.stack(entering, dim=1)             # (B, K, H, P, N)
    # its contribution inside the chunk, decayed to each step
    y = y + torch.einsum("bkihn,bkhpn,bhki->bkihp", cs, entering, torch.exp(da_cum))
    return y.reshape(bsz, n_chunks * chunk, heads, p)[:, :length]


class CausalDepthwiseConv(nn.Module):
    """Causal depthwise conv1d over (B, L, C) with nn.Conv1d's parameter shapes (weight (C, 1, K), bias (C,)),
    written as K shifted multiply-adds: torch's depthwise convolution backward is very slow on CPU."""

    def __init__(self, channels, kernel):
        super().__init__()
        self.kernel = kernel
        self.weight = nn.Parameter(torch.zeros(channels, 1, kernel))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        length = x.shape[1]
        padded = F.pad(x, (0, 0, self.kernel - 1, 0))
        out = self.bias
        for i in range(self.kernel):
            out = out + padded[:, i:i + length] * self.weight[:, 0, i]
        return out


class Mamba2(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.heads = cfg["mamba_num_heads"]
        self.head_dim = cfg["mamba_head_dim"]
        self.groups = cfg["n_groups"]
        self.state = cfg["ssm_state_size"]
        self.chunk = cfg["chunk_size"]
        self.eps = cfg["layer_norm_epsilon"]
        self.d_inner = self.heads * self.head_dim
        self.conv_dim = self.d_inner + 2 * self.groups * self.state
        hidden = cfg["hidden_size"]
        self.in_proj = nn.Linear(hidden, self.d_inner + self.conv_dim + self.heads, bias=False)
        self.conv1d = CausalDepthwiseConv(self.conv_dim, cfg["conv_kernel"])
        self.dt_bias = nn.Parameter(torch.zeros(self.heads))
        self.A_log = nn.Parameter(torch.zeros(self.heads))
        self.D = nn.Parameter(torch.ones(self.heads))
        self.norm = nn.Module()
        self.norm.weight = nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = nn.Linear(self.d_inner, hidden, bias=False)

    def forward(self, u):
        bsz, length, _ = u.shape
        z, xbc, dt = torch.split(self.in_proj(u), [self.d_inner, self.conv_dim, self.heads], dim=-1)
        xbc = F.silu(self.conv1d(xbc))
        x, b, c = torch.split(xbc, [self.d_inner, self.groups * self.state, self.groups * self.state], dim=-1)
        per_group = self.heads // self.groups
        x = x.reshape(bsz, length, self.heads, self.head_dim)
        b = b.reshape(bsz, length, self.groups, self.state).repeat_interleave(per_group, dim=2)
        c = c.reshape(bsz, length, self.groups, self.state).repeat_interleave(per_group, dim=2)
        dt = F.softplus(dt + self.dt_bias)
        a = -torch.exp(self.A_log)
        y = ssd(x, dt, a, b, c, self.chunk) + self.D[:, None] * x
        y = y.reshape(bsz, length, self.d_inner) * F.silu(z)
        g = y.reshape(bsz, length, self.groups, self.d_inner // self.groups)
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)
        y = g.reshape(bsz, length, self.d_inner) * self.norm.weight
        return self.out_proj(y)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg["num_key_value_heads"]
        self.head_dim = cfg["head_dim"]
        self.q_proj = nn.Linear(hidden, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, hidden, bias=False)

    def forward(self, x):
        bsz, length, _ = x.shape
        q = self.q_proj(x).reshape(bsz, length, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).reshape(bsz, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).reshape(bsz, length, self.kv_heads, self.head_dim).transpose(1, 2)
        rep = self.heads // self.kv_heads
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=x.device), diagonal=1)
        scores = scores.masked_fill(causal, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(bsz, length, self.heads * self.head_dim))


class Mlp(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.up_proj = nn.Linear(cfg["hidden_size"], cfg["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(cfg["intermediate_size"], cfg["hidden_size"], bias=False)

    def forward(self, x):
        return self.down_proj(torch.relu(self.up_proj(x)).pow(2))


class Block(nn.Module):
    def __init__(self, cfg, kind):
        super().__init__()
        self.norm = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])
        self.mixer = {"M": Mamba2, "*": Attention, "-": Mlp}[kind](cfg)

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(Block(cfg, k) for k in cfg["hybrid_override_pattern"])
        self.norm_f = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])


class NemotronH(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if len(cfg["hybrid_override_pattern"]) != cfg["num_hidden_layers"]:
            raise ValueError("hybrid_override_pattern must have num_hidden_layers characters")
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def forward(self, ids):
        h = self.backbone.embeddings(ids)
        for layer in self.backbone.layers:
            h = layer(h)
        return self.lm_head(self.backbone.norm_f(h))

    def init_weights(self, generator):
        """GPT-style init (normal 0.02, residual outputs scaled by 1/sqrt(2 * layers)); Mamba-2's A and dt ranges."""
        std = 0.02
        out_std = std / math.sqrt(2 * self.cfg["num_hidden_layers"])
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("A_log"):
                    p.copy_(torch.log(torch.empty_like(p).uniform_(1.0, 16.0, generator=generator)))
                elif name.endswith("dt_bias"):
                    lo, hi = math.log(self.cfg["time_step_min"]), math.log(self.cfg["time_step_max"])
                    dt = torch.exp(torch.empty_like(p).uniform_(lo, hi, generator=generator))
                    dt = dt.clamp(min=self.cfg["time_step_floor"])
                    p.copy_(dt + torch.log(-torch.expm1(-dt)))          # inverse softplus
                elif name.endswith(".D") or name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                    p.fill_(1.0)
                elif name.endswith("conv1d.weight"):
                    bound = 1.0 / math.sqrt(p.shape[-1])
                    p.uniform_(-bound, bound, generator=generator)
                elif name.endswith("conv1d.bias"):
                    p.zero_()
                elif name.endswith(("out_proj.weight", "o_proj.weight", "down_proj.weight")):
                    p.normal_(0.0, out_std, generator=generator)
                else:
                    p.normal_(0.0, std, generator=generator)
