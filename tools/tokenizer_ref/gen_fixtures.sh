#!/usr/bin/env bash
# Regenerates the tokenizer test fixtures with the reference implementation
# (@huggingface/tokenizers 0.2.0 through /work/shared/tools/hf_tokenize.mjs).
#   cd tools/tokenizer_ref && npm ci && ./gen_fixtures.sh
# Writes, for every tokenizer under shared/tokenizers/ and shared/models/stories260K:
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
for dir in "$shared"/tokenizers/*/ "$shared/models/stories260K/"; do
  name="$(basename "$dir")"
  echo "fixtures: $name" >&2
  node "$tool" "$dir" --backend=hf --jsonl < "$data/corpus.jsonl" > "$data/$name.ids.jsonl"
  node "$tool" "$dir" --backend=hf --jsonl --no-special < "$data/corpus_head.tmp" > "$data/$name.ids_nospecial.jsonl"
  node "$tool" "$dir" --backend=hf --decode --skip-special < "$data/$name.ids.jsonl" > "$data/$name.decoded_skip.jsonl"
  python3 "$here/compact_decoded.py" "$data/corpus.jsonl" "$data/$name.decoded_skip.jsonl"
  head -n 400 "$data/$name.ids.jsonl" | node "$tool" "$dir" --backend=hf --decode > "$data/$name.decoded.jsonl"
done
rm -f "$data/corpus_head.tmp"
