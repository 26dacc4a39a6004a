#!/usr/bin/env python3
"""Rewrites a decoded-fixture file in place: a line whose decoded text equals the corpus line
becomes `null`, so the fixtures stay small (most texts round-trip exactly).

Usage: python3 compact_decoded.py corpus.jsonl name.decoded.jsonl
"""
import json
import sys

corpus = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
path = sys.argv[2]
decoded = [json.loads(line) for line in open(path, encoding="utf-8")]
with open(path, "w", encoding="utf-8") as out:
    for i, text in enumerate(decoded):
        same = i < len(corpus) and text == corpus[i]
        out.write("null\n" if same else json.dumps(text, ensure_ascii=True) + "\n")
