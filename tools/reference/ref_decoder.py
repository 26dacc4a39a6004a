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

_DTYPES = {"F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": (None, 2)}


class SafeTensors:
    def __init__(self, model_dir):
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
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[dt][0])
        return arr.astype(np.float32).reshape(shape)


# ----------------------------------------------------------------------------------------------
# building blocks


def rms_norm(x, w, eps):
    var = np.mean(x.astype(np.float32) ** 2, axis=-1, keepdims=True)
    return (x / np.sqrt(var + eps)).astype(np.float32) * w


def silu(x):
    return x / (1.0 + np.exp(-x.astype(np.float64))).astype(np.float32)


def rope_inv_freq(cfg, head_dim):
    theta = float(cfg.get("rope_theta", 10000.0))
    inv = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "linear":
            inv = inv / float(rs["factor"])
        elif kind not in (None, "default"):
            raise SystemExit(f"rope_scaling {kind!r} is not supported by this reference")
    return inv


def rope_half(x, positions, inv_freq):
    """HF rotate_half layout; x: (T, heads, d)."""
    ang = np.outer(positions, inv_freq)
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1).astype(np.float32)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1).astype(np.float32)[:, None, :]
    h = x.shape[-1] // 2
    rot = np.concatenate([-x[..., h:], x[..., :h]], -1)
    return x * cos + rot * sin


def attend(q, k, v, q_pos, window):
    """q: (T, H, d); k, v: (S, H, d) for positions 0..S-1; causal, optional sliding window."""
    S = k.shape[0]
    att = np.einsum("thd,shd->hts", q, k) / math.sqrt(q.shape[-1])
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


class Decoder:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.cfg = cfg
        self.arch = cfg["architectures"][0]
        st = SafeTensors(model_dir)
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
        self.inv_freq = rope_inv_freq(cfg, self.hd)
        self.layers = []
        for l in range(self.L):
            p = f"model.layers.{l}."
            a = p + "self_attn."
            layer = dict(
                ln1=g(p + "input_layernorm.weight"), ln2=g(p + "post_attention_layernorm.weight"),
                wq=g(a + "q_proj.weight"), wk=g(a + "k_proj.weight"), wv=g(a + "v_proj.weight"),
                wo=g(a + "o_proj.weight"), bq=opt(a + "q_proj.bias"), bk=opt(a + "k_proj.bias"),
                bv=opt(a + "v_proj.bias"), bo=opt(a + "o_proj.bias"), qn=opt(a + "q_norm.weight"),
                kn=opt(a + "k_norm.weight"))
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
                        top_k=int(cfg["num_experts_per_tok"]), renorm=True, shared=None)
        m = p + "mlp."
        E = int(cfg["num_experts"])
        experts = [(g(f"{m}experts.{e}.gate_proj.weight"), g(f"{m}experts.{e}.up_proj.weight"),
                    g(f"{m}experts.{e}.down_proj.weight")) for e in range(E)]
        shared = None
        if self.arch == "Qwen2MoeForCausalLM" and f"{m}shared_expert.gate_proj.weight" in st:
            s = m + "shared_expert."
            shared = dict(wg=g(s + "gate_proj.weight"), wu=g(s + "up_proj.weight"),
                          wd=g(s + "down_proj.weight"), gate=g(m + "shared_expert_gate.weight"))
        return dict(kind="moe", router=g(m + "gate.weight"), experts=experts,
                    top_k=int(cfg["num_experts_per_tok"]),
                    renorm=bool(cfg.get("norm_topk_prob", False)), shared=shared)

    def reset(self):
        self.kc = [np.zeros((0, self.KV, self.hd), np.float32) for _ in range(self.L)]
        self.vc = [np.zeros((0, self.KV, self.hd), np.float32) for _ in range(self.L)]
        self.pos = 0

    @staticmethod
    def swiglu(h, wg, wu, wd):
        return (silu(h @ wg.T) * (h @ wu.T)) @ wd.T

    def mlp(self, h, m):
        if m["kind"] == "dense":
            return self.swiglu(h, m["wg"], m["wu"], m["wd"])
        logits = h.astype(np.float32) @ m["router"].T  # (T, E)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs = probs / probs.sum(-1, keepdims=True)
        sel = topk_stable(probs, m["top_k"])
        w = np.take_along_axis(probs, sel, -1)
        if m["renorm"]:
            w = w / w.sum(-1, keepdims=True)
        out = np.zeros_like(h)
        for t in range(h.shape[0]):
            for j in range(sel.shape[1]):
                wg, wu, wd = m["experts"][sel[t, j]]
                out[t] += w[t, j] * self.swiglu(h[t:t + 1], wg, wu, wd)[0]
        if m["shared"] is not None:
            s = m["shared"]
            gate = 1.0 / (1.0 + np.exp(-(h @ s["gate"].T)))  # (T, 1)
            out += gate * self.swiglu(h, s["wg"], s["wu"], s["wd"])
        return out

    def forward(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        T = len(ids)
        positions = np.arange(self.pos, self.pos + T)
        x = self.embed[ids]
        rep = self.H // self.KV
        for l, w in enumerate(self.layers):
            h = rms_norm(x, w["ln1"], self.eps)
            q, k, v = h @ w["wq"].T, h @ w["wk"].T, h @ w["wv"].T
            if w["bq"] is not None:
                q, k, v = q + w["bq"], k + w["bk"], v + w["bv"]
            q = q.reshape(T, self.H, self.hd)
            k = k.reshape(T, self.KV, self.hd)
            v = v.reshape(T, self.KV, self.hd)
            if w["qn"] is not None:
                q, k = rms_norm(q, w["qn"], self.eps), rms_norm(k, w["kn"], self.eps)
            q, k = rope_half(q, positions, self.inv_freq), rope_half(k, positions, self.inv_freq)
            self.kc[l] = np.concatenate([self.kc[l], k], 0)
            self.vc[l] = np.concatenate([self.vc[l], v], 0)
            o = attend(q, np.repeat(self.kc[l], rep, 1), np.repeat(self.vc[l], rep, 1), positions,
                       self.window).reshape(T, self.H * self.hd) @ w["wo"].T
            if w["bo"] is not None:
                o = o + w["bo"]
            x = x + o
            x = x + self.mlp(rms_norm(x, w["ln2"], self.eps), w["mlp"])
        self.pos += T
        return (rms_norm(x, self.norm, self.eps) @ self.lm_head.T).astype(np.float64)
