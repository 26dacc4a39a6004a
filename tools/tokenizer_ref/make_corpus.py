#!/usr/bin/env python3
"""Builds the tokenizer test corpus (one JSON string per line) deterministically.

Usage: python3 make_corpus.py > ../../tests/tokenizer/data/corpus.jsonl

The corpus mixes many scripts, code, numbers, emoji (with ZWJ sequences and modifiers),
whitespace runs, U+FFFD, special-token look-alikes, contractions and mixed case, so that
every branch of the pre-tokenizer regexes, byte fallback and added-token matching is hit.
Lines are JSON strings because many texts contain newlines, tabs and control characters.
"""
import json
import random

SENTENCES = [
    # English, contractions, mixed case
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll love it; they've said it's the BEST they'd ever seen.",
    "DON'T SHOUT! We'RE not deaf, you'Ve been told. I'M fine, it'S OK.",
    "Hello world's   café 12345 naïve Ünïcödé",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    "HTTP/2 and TLSv1.3 are supported; see RFC 9113 §5.1 for details.",
    "camelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case PascalCase",
    "e.g. i.e. etc. Mr. Smith vs. Dr. Jones at 3:45 p.m. on Jan. 5th",
    "rock'n'roll o'clock y'all ma'am 'quoted' \"double quoted\" `backticks`",
    "Its 'ſ long s and the K Kelvin sign: 'ſ 'K 'S 'T 'RE 'LL",
    # French, German, Spanish, Portuguese, Italian, Polish, Turkish, Vietnamese
    "L'été dernier, nous sommes allés à la plage près de Cherbourg-en-Cotentin.",
    "Größenwahn ist keine Straße; Übermäßiger Genuß schadet. Fußgängerübergänge!",
    "¿Dónde está la biblioteca? ¡Qué día tan bonito! Mañana será otro día.",
    "Não há nada como o coração de mãe. Ação, emoção e informação.",
    "Perché l'università è così lontana? Più tardi andrò là.",
    "Zażółć gęślą jaźń. Łódź, Kraków, Wrocław i Gdańsk.",
    "İstanbul'da ılık bir gün; Ağaçlar yeşil, şehir çok güzel.",
    "Tiếng Việt có nhiều dấu: người, được, những, đường, nước.",
    # Cyrillic, Greek
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Привет, мир! Как дела? ЗАГЛАВНЫЕ буквы и строчные.",
    "Україна, Київ — їжак, ґанок, є, і.",
    "Τάχιστη αλώπηξ βαφής ψημένη γη, δρασκελίζει υπέρ νωθρού κυνός.",
    "Ελληνικά: ΑΒΓΔ αβγδ ς σ Σ ΐ ΰ",
    # CJK, Japanese, Korean
    "我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧！",
    "人工智能正在改变世界，大型语言模型的推理服务需要高效的分词器。",
    "繁體中文：臺灣的夜市很熱鬧，小籠包與珍珠奶茶。",
    "私はガラスを食べられます。それは私を傷つけません。",
    "カタカナとひらがなと漢字を混ぜた文章です。ｶﾀｶﾅ半角もあります。",
    "나는 유리를 먹을 수 있어요. 그래도 아프지 않아요.",
    "안녕하세요! 오늘 날씨가 정말 좋네요. 한국어 토크나이저 테스트입니다.",
    "𠀀𠀁𪚥 rare CJK extension B characters 𡨸",
    # Arabic, Hebrew, Persian, Urdu (RTL)
    "أنا قادر على أكل الزجاج و هذا لا يؤلمني.",
    "مرحبا بالعالم! اللغة العربية جميلة جدا. ١٢٣٤٥٦٧٨٩٠",
    "אני יכול לאכול זכוכית וזה לא מזיק לי.",
    "שָׁלוֹם עֲלֵיכֶם — Hebrew with niqqud",
    "من می‌توانم بدونِ احساس درد شیشه بخورم.",
    "میں کانچ کھا سکتا ہوں اور مجھے تکلیف نہیں ہوتی ۔",
    # Indic, Thai, Lao, Khmer, Myanmar, Georgian, Armenian, Amharic
    "मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती.",
    "नमस्ते दुनिया! हिन्दी में क्षत्रिय, त्र, ज्ञ, श्र जैसे संयुक्ताक्षर हैं। ०१२३४५६७८९",
    "আমি কাঁচ খেতে পারি, তাতে আমার কোনো ক্ষতি হয় না।",
    "நான் கண்ணாடி சாப்பிடுவேன், அதனால் எனக்கு ஒரு கேடும் வராது.",
    "నేను గాజు తినగలను మరియు అలా చేసినా నాకు ఏమి ఇబ్బంది లేదు",
    "ฉันกินกระจกได้ แต่มันไม่ทำให้ฉันเจ็บ ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "ຂອ້ຍກິນແກ້ວໄດ້ໂດຍທີ່ມັນບໍ່ໄດ້ເຮັດໃຫ້ຂອ້ຍເຈັບ",
    "ខ្ញុំអាចញុំកញ្ចក់បាន ដោយគ្មានបញ្ហារ",
    "ကျွန်တော် ကျွန်မ မှန်စားနိုင်တယ်။",
    "მინას ვჭამ და არა მტკივა.",
    "Կրնամ ապակի ուտել և ինծի անհանգիստ չըներ։",
    "ብርጭቆ መብላት እችላለሁ፣ አይጎዳኝም።",
    # Combining marks, NFC/NFD, compatibility forms
    "e\u0301 vs é, A\u030a vs Å, n\u0303 vs ñ, ﬁ ligature, ① circled, Ａ fullwidth",
    "Zalgo: Z\u0335\u0321a\u0336l\u0338g\u0337o\u0334 t\u0335e\u0336x\u0337t",
    "Hangul jamo: \u1100\u1161\u11a8 vs 각; \u2126 (ohm) vs Ω; \u212b (angstrom)",
    "ｆｕｌｌｗｉｄｔｈ　ｓｐａｃｅ　and ideographic　space",
    # Emoji, ZWJ sequences, flags, skin tones, keycaps, variation selectors
    "I love 🍕 and 🍺! 😀😃😄😁 🤖👾",
    "Family: 👨‍👩‍👧‍👦 couple: 👩‍❤️‍💋‍👨 technologist: 🧑🏽‍💻 rainbow flag: 🏳️‍🌈",
    "Flags: 🇯🇵 🇺🇸 🇩🇪 🇧🇷 🇮🇳 and keycaps 1️⃣ 2️⃣ #️⃣ ☺️ ✔︎",
    "Skin tones: 👋🏻 👋🏼 👋🏽 👋🏾 👋🏿 — hand waves",
    "Emoji at word boundaries:hello🙂world,🙃test🎉🎉🎉",
    # U+FFFD, BOM, NEL, zero-width and other odd whitespace / control characters
    "Broken bytes become \ufffd\ufffd replacement chars \ufffd.",
    "\ufeffBOM at start, and \u200b zero width space, \u200c ZWNJ \u200d ZWJ",
    "NEL\u0085next line, LINE SEP\u2028and PARA SEP\u2029done",
    "nbsp\u00a0here, narrow\u202fnbsp, em\u2003space, ogham\u1680mark, thin\u2009space",
    "control chars \x01\x02\x1b[31mred\x1b[0m and DEL\x7f and \x0bVT \x0cFF",
    # Numbers
    "3.14159265358979323846 2.718281828 1,234,567.89 1e-10 0xDEADBEEF 0b1010 0o777",
    "Phone: +1 (555) 123-4567; IBAN DE89 3704 0044 0532 0130 00; 12345678901234567890",
    "Dates: 2024-01-31T23:59:59Z, 31/12/1999, 12.05.2023; times 00:00 and 23:59:59.999",
    "Roman Ⅻ, fractions ½ ¾ ⅞, superscripts x² y³ ¹, Arabic-Indic ٣٤٥ and Devanagari ४५६",
    "Prices: $19.99, €5,00, £100, ¥1000, ₹500, ₿0.001 — 50% off!!!",
    # Special-token look-alikes
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<s>[INST] What is 2+2? [/INST] 4</s>",
    "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>",
    "<|endoftext|> <|endofprompt|> <|fim_prefix|><|fim_middle|><|fim_suffix|>",
    "partial tokens: <|im_start <|im_end| |im_start|> <s <s> </s </s> <unk> <pad> <eos> <mask>",
    "nested <<s>> and <|<|im_start|>|> and <s><s></s></s> and <|im_start|><|im_start|>",
    "<think>\nreasoning here\n</think>\n\n<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
    "<unused0> <unused99> <start_of_image> <image_soft_token> [multimodal] <0x41> <0xZZ>",
]

CODE = [
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "#include <iostream>\n\nint main() {\n\tstd::cout << \"Hello, world!\" << std::endl;\n\treturn 0;\n}\n",
    "for (let i = 0; i < arr.length; ++i) { sum += arr[i] ** 2; } // square sum",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son' ORDER BY id DESC;",
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{:?}\", v);\n}",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true, \"c\": \"\\u00e9\"}}",
    "<html><head><title>Test</title></head><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "$ git commit -m 'fix: handle CRLF\\r\\n' && echo $?  # exit status",
    "    indented with spaces\n\tindented with tab\n  \t mixed\n",
    "x+=1;y-=2;z*=3;w/=4;a%=5;b&=6;c|=7;d^=8;e<<=9;f>>=10;g>>>=11",
    "Array<Map<String, List<Integer>>> m = new HashMap<>();",
    "regex: ^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
    "path/to/file.txt C:\\Users\\name\\Documents https://example.com/a?b=c&d=e#frag",
    "#!/bin/bash\nset -euo pipefail\nfor f in *.txt; do\n  wc -l \"$f\"\ndone\n",
    "// TODO(user): 修复这个问题 — fix the bug before v2.0.0-rc.1",
]

WHITESPACE = [
    " ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n",
    " \n", "\n ", "  \n\n  ", "\t \t", " \t\n\r ", "\u3000", "\u00a0", "\n\t\t",
]

EMOJI = ["😀", "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", "👍🏽", "❤️", "🧑‍🚀", "🫠", "✨", "🔥", "💯"]

WORDS = [
    "the", "of", "and", "to", "in", "is", "you", "that", "it", "he", "was", "for", "on", "are",
    "with", "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had",
    "Tokenizer", "tokenization", "inference", "MindIE", "Hugging", "Face", "transformers",
    "antidisestablishmentarianism", "supercalifragilisticexpialidocious", "pneumonoultramicroscopic",
    "données", "straße", "东京", "서울", "موسكو", "מוסקבה", "мосвка", "Αθήνα", "दिल्ली", "กรุงเทพ",
    "can't", "won't", "shouldn't", "I've", "we'd", "they'll", "it's", "Y'ALL", "O'Neil",
    "42", "007", "1234567", "3.5", "-17", "1/2", "99%", "#1", "v1.2.3", "2^10",
]


def build():
    rng = random.Random(20240531)
    lines = []
    # 1. Every base text verbatim, and a few transformations of each.
    for s in SENTENCES + CODE:
        lines.append(s)
        lines.append(s.upper())
        lines.append(s.lower())
        lines.append("  " + s + "  ")
        lines.append(s.replace(" ", "\t"))
        lines.append(s.replace(" ", "  "))
        lines.append(s + "\n")
        lines.append(" " + s)
    # 2. Single whitespace strings and emoji alone (edge cases of leading-space rules).
    lines.extend(WHITESPACE)
    lines.extend(EMOJI)
    lines.extend(["a", "A", " a", "a ", "I", "1", "12", "123", "1234", "12345", "'s", "'", "''", "\ufffd",
                  "<s>", "</s>", "<|im_start|>", "<|endoftext|>", "<bos>", "<eos>", " <s>", "<s> ",
                  "\n<s>\n", "▁", "▁▁", "▁hello", "Ġ", "Ċ", "<0x0A>", "<unk>"])
    # 3. Random mixtures: sentences, words, whitespace, emoji, numbers glued together.
    pools = [SENTENCES, CODE, WHITESPACE, EMOJI, WORDS]
    weights = [30, 8, 20, 8, 34]
    while len(lines) < 2400:
        n = rng.randint(1, 12)
        parts = []
        for _ in range(n):
            pool = rng.choices(pools, weights)[0]
            item = rng.choice(pool)
            if pool is SENTENCES and rng.random() < 0.3:
                # A slice of a sentence: cuts inside words and before combining marks.
                a = rng.randrange(len(item))
                item = item[a:a + rng.randint(1, 40)]
            parts.append(item)
            sep = rng.choice(["", " ", " ", " ", "  ", "\n", "\t"])
            parts.append(sep)
        line = "".join(parts)
        if rng.random() < 0.1:
            line = line.upper()
        if rng.random() < 0.05:
            line = str(rng.randint(0, 10**rng.randint(1, 30)))
        lines.append(line)
    # 4. A few long lines (cache and long-word paths: runs of one char, long digits, no spaces).
    lines.append("a" * 300)
    lines.append(" " * 200 + "x")
    lines.append("\n" * 50)
    lines.append("1234567890" * 30)
    lines.append("".join(SENTENCES[20:28]).replace(" ", ""))
    lines.append("🍕" * 60)
    lines.append("ab" * 150)
    return lines


if __name__ == "__main__":
    for line in build():
        # Escape the line breaks Node's readline or editors might split on.
        text = json.dumps(line, ensure_ascii=False)
        for ch in ("\u0085", "\u2028", "\u2029"):
            text = text.replace(ch, "\\u%04x" % ord(ch))
        print(text)
