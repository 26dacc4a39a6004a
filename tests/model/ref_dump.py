#!/usr/bin/env python3
"""Dumps full float32 logits from the shared numpy reference (ref_llama.py) for the model tests.

usage: ref_dump.py SHARED_DIR MODEL_DIR --ids 1,2,3 --out FILE [--greedy N]

Writes FILE as raw little-endian float32: the logits after every prompt position
([len(ids)][vocab]), then, with --greedy N, N-1 more rows: row i is the logits after feeding
generated token i (i = 0 .. N-2). Prints JSON {"vocab": V, "generated": [...]} on stdout;
generated[0] is the argmax of the prompt's last row, generated[i+1] the argmax of row i.
"""
import argparse
import json
import os
import sys

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shared_dir")
    ap.add_argument("model_dir")
    ap.add_argument("--ids", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--greedy", type=int, default=0)
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.shared_dir, "tools"))
    import ref_llama  # noqa: E402

    ids = [int(x) for x in args.ids.split(",") if x]
    m = ref_llama.Model(args.model_dir, np.float32)
    logits = m.forward(ids)
    rows = [logits.astype(np.float32)]
    generated = []
    last = logits[-1]
    for step in range(args.greedy):
        tok = int(np.argmax(last))
        generated.append(tok)
        if step + 1 == args.greedy:
            break
        last = m.forward([tok])[-1]
        rows.append(last.astype(np.float32)[None, :])
    np.concatenate(rows, 0).astype("<f4").tofile(args.out)
    json.dump({"vocab": int(logits.shape[1]), "generated": generated}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
