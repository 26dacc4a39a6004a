#!/usr/bin/env python3
"""Independent numpy reference for the decoder architectures mies serves beyond plain LLaMA.

Written from the semantics of Hugging Face transformers' modeling code (not from mies' C++), so
that tests can check mies' logits and greedy tokens against it. Needs Python 3 and numpy.

Architectures (config.json "architectures"):
  LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM   dense
  Qwen3MoeForCausalLM   Qwen3 attention (q/k norm) + sparse MoE blocks: router `mlp.gate`,
                        softmax over all experts in f32, top-k, renormalized when norm_topk_prob;
                        experts mlp.experts.{e}.{gate,up,down}_proj (moe_intermediate_size);
                        dense MLP on layers in mlp_only_layers or when
                        (layer + 1) % decoder_sparse_step != 0
  MixtralForCausalLM    block_sparse_moe.gate, block_sparse_moe.experts.{e}.w1 (gate) / w3 (up) /
                        w2 (down), softmax, top-k, always renormalized; sliding_window honoured
  Qwen2MoeForCausalLM   Qwen2 attention (qkv bias) + routed experts (norm_topk_prob, default
                        false) + mlp.shared_expert scaled by sigmoid(mlp.shared_expert_gate(x))
  DeepseekV2ForCausalLM, DeepseekV3ForCausalLM
                        multi-head latent attention (q_lora_rank or plain q_proj, kv_lora_rank,
                        qk_nope/qk_rope/v head dims, RoPE on the rope part only, interleaved
                        pairs unless rope_interleave is false, yarn rope_scaling and its softmax
                        scale), first_k_dense_replace dense layers, moe_layer_freq, always-on
                        shared experts (n_shared_experts x moe_intermediate_size), routing by
                        scoring_func softmax (V2) or sigmoid (V3) with topk_method greedy,
                        group_limited_greedy (group score: its best expert) or noaux_tc (group
                        score: sum of its best two, e_score_correction_bias for selection only,
                        unselected groups filled with 0.0 as the published code does),
                        norm_topk_prob, routed_scaling_factor (V2: only when not normalized; V3:
                        always); FP8 (F8_E4M3) weights with weight_scale_inv block scales
Top-k ties resolve to the lower expert index (a stable sort), as mies documents.

Use: Decoder(model_dir).forward(ids) -> logits (T, V), keeping a KV cache between calls;
tests/model/ref_dump.py --ref decoder dumps logits and greedy tokens from it.
"""
import json
import math
import os
import struct
import sys

import numpy as np

# ----------------------------------------------------------------------------------------------
# safetensors: 8-byte little-endian header length, JSON header, raw data.

_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2), "F8_E4M3": (None, 1)}


def _e4m3fn_table():
    """float8_e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; S.1111.111 NaN."""
    t = np.zeros(256, np.float32)
    for b in range(256):
        s, e, m = b >> 7, (b >> 3) & 15, b & 7
        if e == 15 and m == 7:
            v = np.nan
        elif e == 0:
            v = (m / 8.0) * 2.0 ** -6
        else:
            v = (1 + m / 8.0) * 2.0 ** (e - 7)
        t[b] = -v if s else v
    return t


_E4M3 = _e4m3fn_table()


class SafeTensors:
    def __init__(self, model_dir, fp8_block=None):
        self.fp8_block = fp8_block  # (rows, cols) of quantization_config.weight_block_size
        self.entries = {}
        self.maps = {}
        index = os.path.join(model_dir, "model.safetensors.index.json")
        if os.path.exists(index):
            files = sorted(set(json.load(open(index))["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        for fn in files:
            path = os.path.join(model_dir, fn)
            with open(path, "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                header = json.loads(f.read(n).decode("utf-8"))
            for name, info in header.items():
                if name == "__metadata__":
                    continue
                b, e = info["data_offsets"]
                self.entries[name] = (path, info["dtype"], tuple(info["shape"]), 8 + n + b, 8 + n + e)

    def __contains__(self, name):
        return name in self.entries

    def get(self, name):
        path, dt, shape, b, e = self.entries[name]
        if dt not in _DTYPES:
            raise SystemExit(f"{name}: dtype {dt} not supported by the reference")
        if path not in self.maps:
            self.maps[path] = np.memmap(path, dtype=np.uint8, mode="r")
        raw = self.maps[path][b:e]
        if dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dt == "F8_E4M3":
            arr = _E4M3[np.frombuffer(raw, dtype=np.uint8)]
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[dt][0])
        arr = arr.astype(np.float32).reshape(shape)
        if dt == "F8_E4M3":
            # DeepSeek's FP8 checkpoints: one f32 multiplier per weight_block_size tile of the
            # weight (tiles at the right and bottom edges may be partial).
            br, bc = self.fp8_block
            inv = self.get(name + "_scale_inv")
            arr = arr * np.repeat(np.repeat(inv, br, 0), bc, 1)[: shape[0], : shape[1]]
        return arr


# ----------------------------------------------------------------------------------------------
# building blocks


def rms_norm(x, w, eps):
    var = np.mean(x.astype(np.float32) ** 2, axis=-1, keepdims=True)
    return (x / np.sqrt(var + eps)).astype(np.float32) * w


def silu(x):
    return x / (1.0 + np.exp(-x.astype(np.float64))).astype(np.float32)


def yarn_mscale(scale, mscale=1.0):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_inv_freq(cfg, head_dim):
    """Inverse frequencies and the factor cos/sin are scaled by (transformers' rope init)."""
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv, 1.0
    kind = rs.get("rope_type", rs.get("type"))
    if kind in (None, "default"):
        return inv, 1.0
    if kind == "linear":
        return inv / float(rs["factor"]), 1.0
    if kind != "yarn":
        raise SystemExit(f"rope_scaling {kind!r} is not supported by this reference")
    factor = float(rs["factor"])
    mscale, mscale_all = rs.get("mscale"), rs.get("mscale_all_dim")
    if rs.get("attention_factor") is not None:
        attention = float(rs["attention_factor"])
    elif mscale and mscale_all:
        attention = yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all)
    else:
        attention = yarn_mscale(factor)
    beta_fast, beta_slow = rs.get("beta_fast") or 32, rs.get("beta_slow") or 1
    original = rs.get("original_max_position_embeddings") or cfg["max_position_embeddings"]

    def correction_dim(rotations):
        return (head_dim * math.log(original / (rotations * 2 * math.pi))) / (2 * math.log(theta))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if rs.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, head_dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(head_dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    extrapolation = 1 - ramp
    pos = theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    inv = (1 / (factor * pos)) * (1 - extrapolation) + (1 / pos) * extrapolation
    return inv, attention


def rope_half(x, positions, inv_freq, attention=1.0):
    """HF rotate_half layout; x: (T, heads, d)."""
    ang = np.outer(positions, inv_freq)
    cos = (np.concatenate([np.cos(ang), np.cos(ang)], -1) * attention).astype(np.float32)[:, None]
    sin = (np.concatenate([np.sin(ang), np.sin(ang)], -1) * attention).astype(np.float32)[:, None]
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


def rope_interleaved(x, positions, inv_freq, attention=1.0):
    """DeepSeek's layout: transformers first de-interleaves (x0, x2, ..., x1, x3, ...), then
    rotates halves. The same permutation reaches q and k, so scores equal rotating the pairs
    (x_2i, x_2i+1) in place; this does exactly what transformers does."""
    d = x.shape[-1]
    x = x.reshape(*x.shape[:-1], d // 2, 2).swapaxes(-1, -2).reshape(x.shape)
    return rope_half(x, positions, inv_freq, attention)


def attend(q, k, v, q_pos, window, scale):
    """q: (T, H, d); k: (S, H, d), v: (S, H, dv) for positions 0..S-1; causal, optional sliding
    window."""
    S = k.shape[0]
    att = np.einsum("thd,shd->hts", q, k) * scale
    kpos = np.arange(S)[None, :]
    mask = q_pos[:, None] >= kpos
    if window is not None:
        mask &= kpos > q_pos[:, None] - window  # HF: kv_idx > q_idx - sliding_window
    att = np.where(mask[None], att, -np.inf)
    att = np.exp(att - att.max(-1, keepdims=True))
    att = att / att.sum(-1, keepdims=True)
    return np.einsum("hts,shd->thd", att, v)


def topk_stable(p, k):
    """Indices of the k largest entries of each row; ties to the lower index."""
    return np.argsort(-p, axis=-1, kind="stable")[:, :k]


# ----------------------------------------------------------------------------------------------
# the model


DEEPSEEK = ("DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM")


class Decoder:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.cfg = cfg
        self.arch = cfg["architectures"][0]
        self.deepseek = self.arch in DEEPSEEK
        quant = cfg.get("quantization_config") or {}
        st = SafeTensors(model_dir, quant.get("weight_block_size"))
        g = st.get
        opt = lambda n: st.get(n) if n in st else None
        self.D = int(cfg["hidden_size"])
        self.H = int(cfg["num_attention_heads"])
        self.KV = int(cfg.get("num_key_value_heads") or self.H)
        self.hd = int(cfg.get("head_dim") or self.D // self.H)
        self.L = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.window = None
        if self.arch in ("MixtralForCausalLM", "MistralForCausalLM"):
            self.window = cfg.get("sliding_window")
        self.embed = g("model.embed_tokens.weight")
        self.lm_head = g("lm_head.weight") if "lm_head.weight" in st else self.embed
        self.norm = g("model.norm.weight")
        if self.deepseek:
            self.nope = int(cfg["qk_nope_head_dim"])
            self.rope_dim = int(cfg["qk_rope_head_dim"])
            self.vd = int(cfg["v_head_dim"])
            self.r = int(cfg["kv_lora_rank"])
            self.interleave = bool(cfg.get("rope_interleave", True))
            self.inv_freq, self.rope_attention = rope_inv_freq(cfg, self.rope_dim)
            self.scale = (self.nope + self.rope_dim) ** -0.5
            rs = cfg.get("rope_scaling") or {}
            if rs.get("mscale_all_dim"):
                m = yarn_mscale(float(rs["factor"]), float(rs["mscale_all_dim"]))
                self.scale = self.scale * m * m
        else:
            self.inv_freq, self.rope_attention = rope_inv_freq(cfg, self.hd)
            self.scale = 1.0 / math.sqrt(self.hd)
        self.layers = []
        for l in range(self.L):
            p = f"model.layers.{l}."
            a = p + "self_attn."
            layer = dict(ln1=g(p + "input_layernorm.weight"),
                         ln2=g(p + "post_attention_layernorm.weight"))
            if self.deepseek:
                layer.update(
                    q_a=opt(a + "q_a_proj.weight"), q_a_ln=opt(a + "q_a_layernorm.weight"),
                    q_b=opt(a + "q_b_proj.weight"), wq=opt(a + "q_proj.weight"),
                    kv_a=g(a + "kv_a_proj_with_mqa.weight"), kv_a_ln=g(a + "kv_a_layernorm.weight"),
                    kv_b=g(a + "kv_b_proj.weight"), wo=g(a + "o_proj.weight"))
            else:
                layer.update(
                    wq=g(a + "q_proj.weight"), wk=g(a + "k_proj.weight"),
                    wv=g(a + "v_proj.weight"), wo=g(a + "o_proj.weight"),
                    bq=opt(a + "q_proj.bias"), bk=opt(a + "k_proj.bias"),
                    bv=opt(a + "v_proj.bias"), bo=opt(a + "o_proj.bias"),
                    qn=opt(a + "q_norm.weight"), kn=opt(a + "k_norm.weight"))
            layer["mlp"] = self.load_mlp(st, l, p)
            self.layers.append(layer)
        self.reset()

    def is_sparse(self, l):
        cfg = self.cfg
        if self.arch == "MixtralForCausalLM":
            return True
        if self.arch in ("Qwen3MoeForCausalLM", "Qwen2MoeForCausalLM"):
            step = int(cfg.get("decoder_sparse_step", 1))
            return (l not in cfg.get("mlp_only_layers", [])) and int(cfg["num_experts"]) > 0 and \
                (l + 1) % step == 0
        if self.deepseek:
            return bool(cfg.get("n_routed_experts")) and l >= int(cfg.get("first_k_dense_replace", 0)) \
                and l % int(cfg.get("moe_layer_freq", 1)) == 0
        return False

    def load_mlp(self, st, l, p):
        g = st.get
        cfg = self.cfg
        if not self.is_sparse(l):
            m = p + "mlp."
            return dict(kind="dense", wg=g(m + "gate_proj.weight"), wu=g(m + "up_proj.weight"),
                        wd=g(m + "down_proj.weight"))
        if self.arch == "MixtralForCausalLM":
            m = p + "block_sparse_moe."
            E = int(cfg["num_local_experts"])
            experts = [(g(f"{m}experts.{e}.w1.weight"), g(f"{m}experts.{e}.w3.weight"),
                        g(f"{m}experts.{e}.w2.weight")) for e in range(E)]
            return dict(kind="moe", router=g(m + "gate.weight"), experts=experts,
                        top_k=int(cfg["num_experts_per_tok"]), renorm=True, shared=None,
                        routing="softmax")
        m = p + "mlp."
        E = int(cfg["n_routed_experts"] if self.deepseek else cfg["num_experts"])
        experts = [(g(f"{m}experts.{e}.gate_proj.weight"), g(f"{m}experts.{e}.up_proj.weight"),
                    g(f"{m}experts.{e}.down_proj.weight")) for e in range(E)]
        shared = None
        if self.arch == "Qwen2MoeForCausalLM" and f"{m}shared_expert.gate_proj.weight" in st:
            s = m + "shared_expert."
            shared = dict(wg=g(s + "gate_proj.weight"), wu=g(s + "up_proj.weight"),
                          wd=g(s + "down_proj.weight"), gate=g(m + "shared_expert_gate.weight"))
        if self.deepseek and int(cfg.get("n_shared_experts") or 0) > 0:
            s = m + "shared_experts."
            shared = dict(wg=g(s + "gate_proj.weight"), wu=g(s + "up_proj.weight"),
                          wd=g(s + "down_proj.weight"), gate=None)
        moe = dict(kind="moe", router=g(m + "gate.weight"), experts=experts,
                   top_k=int(cfg["num_experts_per_tok"]),
                   renorm=bool(cfg.get("norm_topk_prob", False)), shared=shared, routing="softmax")
        if self.deepseek:
            moe.update(routing=cfg.get("scoring_func", "softmax"),
                       method=cfg.get("topk_method", "greedy"),
                       n_group=int(cfg.get("n_group") or 1), topk_group=int(cfg.get("topk_group") or 1),
                       scaling=float(cfg.get("routed_scaling_factor") or 1.0),
                       bias=st.get(m + "gate.e_score_correction_bias")
                       if m + "gate.e_score_correction_bias" in st else None)
        return moe

    def reset(self):
        self.kc = [None] * self.L
        self.vc = [None] * self.L
        self.pos = 0

    @staticmethod
    def swiglu(h, wg, wu, wd):
        return (silu(h @ wg.T) * (h @ wu.T)) @ wd.T

    def route(self, h, m):
        """(T, k) expert indices and weights."""
        logits = h.astype(np.float32) @ m["router"].T  # (T, E)
        if m["routing"] == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-logits.astype(np.float64))).astype(np.float32)
        else:
            scores = np.exp(logits - logits.max(-1, keepdims=True))
            scores = scores / scores.sum(-1, keepdims=True)
        k = m["top_k"]
        if not self.deepseek:
            sel = topk_stable(scores, k)
            w = np.take_along_axis(scores, sel, -1)
            if m["renorm"]:
                w = w / w.sum(-1, keepdims=True)
            return sel, w
        method = m["method"]
        choice = scores + (m["bias"] if method == "noaux_tc" and m["bias"] is not None else 0)
        if method in ("group_limited_greedy", "noaux_tc"):
            T, E = choice.shape
            grouped = choice.reshape(T, m["n_group"], E // m["n_group"])
            if method == "noaux_tc":
                group_score = np.sort(grouped, -1)[..., ::-1][..., :2].sum(-1)
            else:
                group_score = grouped.max(-1)
            keep = topk_stable(group_score, m["topk_group"])
            mask = np.zeros_like(group_score, dtype=bool)
            np.put_along_axis(mask, keep, True, -1)
            choice = np.where(np.repeat(mask, E // m["n_group"], -1), choice, 0.0)
        elif method not in ("greedy", "gready"):
            raise SystemExit(f"topk_method {method!r} is not supported by this reference")
        sel = topk_stable(choice, k)
        w = np.take_along_axis(scores, sel, -1)
        if k > 1 and m["renorm"]:
            w = w / (w.sum(-1, keepdims=True) + 1e-20)
            if self.arch == "DeepseekV3ForCausalLM":
                w = w * m["scaling"]
        else:
            w = w * m["scaling"]
        return sel, w

    def mlp(self, h, m):
        if m["kind"] == "dense":
            return self.swiglu(h, m["wg"], m["wu"], m["wd"])
        sel, w = self.route(h, m)
        out = np.zeros_like(h)
        for t in range(h.shape[0]):
            for j in range(sel.shape[1]):
                wg, wu, wd = m["experts"][sel[t, j]]
                out[t] += w[t, j] * self.swiglu(h[t:t + 1], wg, wu, wd)[0]
        if m["shared"] is not None:
            s = m["shared"]
            gate = 1.0 if s["gate"] is None else 1.0 / (1.0 + np.exp(-(h @ s["gate"].T)))
            out += gate * self.swiglu(h, s["wg"], s["wu"], s["wd"])
        return out

    def rope(self, x, positions):
        fn = rope_interleaved if self.deepseek and self.interleave else rope_half
        return fn(x, positions, self.inv_freq, self.rope_attention)

    def attention(self, l, w, h, positions):
        T = h.shape[0]
        if not self.deepseek:
            q, k, v = h @ w["wq"].T, h @ w["wk"].T, h @ w["wv"].T
            if w["bq"] is not None:
                q, k, v = q + w["bq"], k + w["bk"], v + w["bv"]
            q = q.reshape(T, self.H, self.hd)
            k = k.reshape(T, self.KV, self.hd)
            v = v.reshape(T, self.KV, self.hd)
            if w["qn"] is not None:
                q, k = rms_norm(q, w["qn"], self.eps), rms_norm(k, w["kn"], self.eps)
            q, k = self.rope(q, positions), self.rope(k, positions)
            rep = self.H // self.KV
            k, v = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
            o_dim = self.H * self.hd
        else:
            # Multi-head latent attention, expanded as transformers computes it.
            if w["q_a"] is not None:
                q = rms_norm(h @ w["q_a"].T, w["q_a_ln"], self.eps) @ w["q_b"].T
            else:
                q = h @ w["wq"].T
            q = q.reshape(T, self.H, self.nope + self.rope_dim)
            ckv = h @ w["kv_a"].T  # (T, r + rope)
            kv = (rms_norm(ckv[:, : self.r], w["kv_a_ln"], self.eps) @ w["kv_b"].T).reshape(
                T, self.H, self.nope + self.vd)
            k_rot = self.rope(ckv[:, None, self.r:], positions)  # one rope key for every head
            q = np.concatenate([q[..., : self.nope], self.rope(q[..., self.nope:], positions)], -1)
            k = np.concatenate([kv[..., : self.nope], np.repeat(k_rot, self.H, 1)], -1)
            v = kv[..., self.nope:]
            o_dim = self.H * self.vd
        self.kc[l] = k if self.kc[l] is None else np.concatenate([self.kc[l], k], 0)
        self.vc[l] = v if self.vc[l] is None else np.concatenate([self.vc[l], v], 0)
        o = attend(q, self.kc[l], self.vc[l], positions, self.window, self.scale)
        o = o.reshape(T, o_dim) @ w["wo"].T
        if not self.deepseek and w["bo"] is not None:
            o = o + w["bo"]
        return o

    def forward(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        T = len(ids)
        positions = np.arange(self.pos, self.pos + T)
        x = self.embed[ids]
        for l, w in enumerate(self.layers):
            x = x + self.attention(l, w, rms_norm(x, w["ln1"], self.eps), positions)
            x = x + self.mlp(rms_norm(x, w["ln2"], self.eps), w["mlp"])
        self.pos += T
        return (rms_norm(x, self.norm, self.eps) @ self.lm_head.T).astype(np.float64)
