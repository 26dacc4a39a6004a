#!/usr/bin/env python3
"""Writes a variant tokenizer (see tests/tokenizer/data/variants.json) into a directory.

Usage: python3 make_variant.py variants.json NAME BASE_DIR OUT_DIR
"""
import json
import os
import shutil
import sys

variants = json.load(open(sys.argv[1], encoding="utf-8"))
name, base_dir, out_dir = sys.argv[2], sys.argv[3], sys.argv[4]
tok = json.load(open(os.path.join(base_dir, "tokenizer.json"), encoding="utf-8"))
for key, value in variants[name]["set"].items():
    tok[key] = value
os.makedirs(out_dir, exist_ok=True)
with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False)
for extra in ("tokenizer_config.json", "generation_config.json"):
    if os.path.exists(os.path.join(base_dir, extra)):
        shutil.copy(os.path.join(base_dir, extra), os.path.join(out_dir, extra))
