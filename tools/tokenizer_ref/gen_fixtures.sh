#!/usr/bin/env bash
# Regenerates the tokenizer test fixtures with the reference implementation
# (@huggingface/tokenizers 0.2.0 through /work/shared/tools/hf_tokenize.mjs).
#   cd tools/tokenizer_ref && npm ci && ./gen_fixtures.sh
# Writes, for every tokenizer under shared/tokenizers/ and shared/models/stories260K, and for
# the variants in tests/tokenizer/data/variants.json:
#   <name>.ids.jsonl           encode(line, add_special_tokens=true) for every corpus line
#   <name>.ids_nospecial.jsonl encode(line, add_special_tokens=false) for the first 400 lines
#   <name>.decoded_skip.jsonl  decode(ids, skip_special_tokens=true) of every line of <name>.ids.jsonl,
#                              `null` where it equals the corpus line (see compact_decoded.py)
#   <name>.decoded.jsonl       decode(ids) (special tokens kept) for the first 400 lines
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
shared="${MIES_SHARED_DIR:-$repo/../shared}"
data="$repo/tests/tokenizer/data"
tool="$shared/tools/hf_tokenize.mjs"
export TOKENIZERS_JS_DIR="$here"
python3 "$here/make_corpus.py" > "$data/corpus.jsonl"
head -n 400 "$data/corpus.jsonl" > "$data/corpus_head.tmp"
variants_dir="$(mktemp -d)"
trap 'rm -rf "$variants_dir"' EXIT
for name in $(python3 -c 'import json,sys; print(" ".join(k for k in json.load(open(sys.argv[1])) if not k.startswith("_")))' "$data/variants.json"); do
  base="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["base"])' "$data/variants.json" "$name")"
  python3 "$here/make_variant.py" "$data/variants.json" "$name" "$shared/tokenizers/$base" "$variants_dir/$name"
done
for dir in "$shared"/tokenizers/*/ "$shared/models/stories260K/" "$variants_dir"/*/; do
  name="$(basename "$dir")"
  echo "fixtures: $name" >&2
  node "$tool" "$dir" --backend=hf --jsonl < "$data/corpus.jsonl" > "$data/$name.ids.jsonl"
  node "$tool" "$dir" --backend=hf --jsonl --no-special < "$data/corpus_head.tmp" > "$data/$name.ids_nospecial.jsonl"
  node "$tool" "$dir" --backend=hf --decode --skip-special < "$data/$name.ids.jsonl" > "$data/$name.decoded_skip.jsonl"
  python3 "$here/compact_decoded.py" "$data/corpus.jsonl" "$data/$name.decoded_skip.jsonl"
  head -n 400 "$data/$name.ids.jsonl" | node "$tool" "$dir" --backend=hf --decode > "$data/$name.decoded.jsonl"
done
rm -f "$data/corpus_head.tmp"
