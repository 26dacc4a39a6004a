#!/usr/bin/env python3
"""Dumps full float32 logits from a numpy reference for the model tests.

usage: ref_dump.py SHARED_DIR MODEL_DIR --ids 1,2,3 --out FILE [--greedy N] [--ref llama|decoder]

--ref llama (default): the shared LLaMA reference, SHARED_DIR/tools/ref_llama.py.
--ref decoder: the repository's own reference for the MoE architectures,
tools/reference/ref_decoder.py.

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
    ap.add_argument("--ref", choices=["llama", "decoder"], default="llama")
    args = ap.parse_args()
    ids = [int(x) for x in args.ids.split(",") if x]
    if args.ref == "llama":
        sys.path.insert(0, os.path.join(args.shared_dir, "tools"))
        import ref_llama  # noqa: E402

        m = ref_llama.Model(args.model_dir, np.float32)
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "tools", "reference"))
        import ref_decoder  # noqa: E402

        m = ref_decoder.Decoder(args.model_dir)
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
