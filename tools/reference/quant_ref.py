#!/usr/bin/env python3
"""Numpy reference for 4-bit checkpoints: dequantizes a GPTQ or AWQ model directory into a
float32 one, written from the formats as AutoGPTQ and AutoAWQ publish them (independently of
mies' C++ loader, which the model tests then compare against it).

usage: quant_ref.py SRC_DIR DST_DIR

GPTQ (quant_method "gptq", desc_act false): qweight int32 [in/8][out], input i in bits
4*(i%8) of row i//8; qzeros int32 [groups][out/8], output o in bits 4*(o%8), stored as
zero - 1; scales f16 [groups][out]; g_idx int32 [in] (= i // group_size).
  w[o][i] = (q - (zero_stored + 1)) * scales[g_idx[i]][o]
AWQ (quant_method "awq", version gemm): qweight int32 [in][out/8] and qzeros int32
[groups][out/8], nibble j of a word holding column 8*(o//8) + [0, 2, 4, 6, 1, 3, 5, 7][j];
scales f16 [groups][out].
  w[o][i] = (q - zero) * scales[i // group_size][o]
Other tensors are copied as float32; config.json loses quantization_config.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "I32": np.int32}
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        raw = data[b:en]
        if e["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=DTYPES[e["dtype"]])
        out[name] = arr.reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def nibbles(words, count):
    """[..., n] int32 -> [..., n, count] values of the count 4-bit fields, low bits first."""
    w = words.astype(np.uint32)[..., None]
    return ((w >> (4 * np.arange(count, dtype=np.uint32))) & 15).astype(np.int32)


def dequant_gptq(qweight, qzeros, scales, g_idx):
    inp, out = qweight.shape[0] * 8, qweight.shape[1]
    q = nibbles(qweight.T, 8).reshape(out, inp)             # [out][in]
    z = nibbles(qzeros, 8).reshape(qzeros.shape[0], out) + 1  # [groups][out]
    s = scales.astype(np.float32)
    g = g_idx.astype(np.int64)
    return (q - z[g].T) * s[g].T


def dequant_awq(qweight, qzeros, scales, group):
    inp, out = qweight.shape[0], qweight.shape[1] * 8
    inverse = np.argsort(AWQ_ORDER)  # nibble that holds column slot k
    q = nibbles(qweight, 8)[:, :, inverse].reshape(inp, out)  # [in][out]
    z = nibbles(qzeros, 8)[:, :, inverse].reshape(qzeros.shape[0], out)
    s = scales.astype(np.float32)
    g = np.arange(inp) // group
    return ((q - z[g]) * s[g]).T


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    qc = cfg.pop("quantization_config")
    cfg["torch_dtype"] = "float32"
    method, group = qc["quant_method"], qc["group_size"]
    os.makedirs(dst, exist_ok=True)
    tensors = {}
    for fn in sorted(os.listdir(src)):
        if fn.endswith(".safetensors"):
            tensors.update(read_safetensors(os.path.join(src, fn)))
    out = {}
    for name, arr in tensors.items():
        if name.endswith(".qweight"):
            base = name[: -len(".qweight")]
            qz, sc = tensors[base + ".qzeros"], tensors[base + ".scales"]
            if method == "gptq":
                gi = tensors.get(base + ".g_idx")
                if gi is None:
                    gi = np.arange(arr.shape[0] * 8) // group
                out[base + ".weight"] = dequant_gptq(arr, qz, sc, gi)
            else:
                out[base + ".weight"] = dequant_awq(arr, qz, sc, group)
        elif not name.endswith((".qzeros", ".scales", ".g_idx")):
            out[name] = arr.astype(np.float32)
    write_safetensors(os.path.join(dst, "model.safetensors"), out)
    for fn in ("generation_config.json", "tokenizer.json"):
        if os.path.exists(os.path.join(src, fn)):
            shutil.copy(os.path.join(src, fn), os.path.join(dst, fn))
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    for fn in os.listdir(dst):
        os.chmod(os.path.join(dst, fn), 0o640)
    print(json.dumps({"method": method, "matrices": sum(n.endswith(".qweight") for n in tensors)}))


if __name__ == "__main__":
    main()
