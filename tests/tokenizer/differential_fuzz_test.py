#!/usr/bin/env python3
"""Differential fuzz: wick's tokenizers against Hugging Face's `tokenizers` library.

For every tokenizer.json in the test data (Llama 3, Mistral, Qwen2, DeepSeek-V3, TinyStories),
seeded random and adversarial strings are encoded by `tokenizers` and by `wick tokenize --jsonl`
(one process per tokenizer and mode), with and without the special tokens the post-processor
adds (or, where tokenizer_config.json sets add_bos_token / add_eos_token, those transformers'
LlamaTokenizerFast adds); the ids must be identical. The strings mix what breaks tokenizers: whitespace runs of
every kind, CRLF, digit runs, contractions in both cases, combining marks, NFKC-sensitive
characters, CJK, scripts without spaces, emoji ZWJ sequences and flags, Lean's symbols, control
and zero-width characters, private-use and astral code points, special-token text glued to
words, and raw random code points. A failure prints the string (repr) and both id lists.

Usage: differential_fuzz_test.py WICK_BINARY [--cases N] [--seed S] --testdata DIR   (exit 77: skipped)
The CI run uses the default --cases (bounded, seconds); pass a larger one for a long local run,
or set WICK_TOKENIZER_FUZZ_CASES.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys

PIECES = [
    # whitespace of every kind
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009", "\u200b", "\ufeff", "\x0b", "\x0c",
    # ASCII words, casing, contractions, numbers, punctuation, code
    "hello", "Hello", "HELLO", "world", "the", "The", "a", "I", "don't", "DON'T", "it's", "we'll", "They'VE", "'s", "'S",
    "'ll", "'d", "'m", "'re", "0", "7", "42", "1234", "123456789012", "3.14159", "1,000,000", "-1", "1e-5", "0x1F",
    ".", ",", "!", "?", "...", "--", "—", "–", "(", ")", "[", "]", "{", "}", "<", ">", "</s>", "<s>", "<|", "|>",
    "def f(x):", "    return x + 1", "#include <vector>", "a_b_c", "camelCaseWord", "snake_case", "https://example.com/a?b=c",
    "user@example.com", "$HOME", "\\n", "\"quoted\"", "'single'", "`tick`", "~/.bashrc", "a/b/c", "::", "->", "=>",
    # Lean and mathematics
    "theorem foo (n : ℕ) : n + 0 = n := by", "⊢", "∀", "∃", "ℕ", "ℤ", "ℝ", "→", "↔", "¬", "∧", "∨", "≤", "≥", "≠", "∈",
    "∑", "∫", "λ", "⟨", "⟩", "⁻¹", "·", "∘", "simp [Nat.add_zero]", "intro h", "exact ⟨_, rfl⟩", "𝔸", "𝟙", "ℵ₀",
    # Latin with accents, precomposed and combining; NFKC-sensitive characters
    "café", "cafe\u0301", "naïve", "Ångström", "Å", "A\u030a", "straße", "ﬁ", "ﬀ", "Ⅻ", "²", "½", "ｆｕｌｌ", "ＡＢ１", "™",
    "ǅ", "İ", "ı", "ς", "Σ",
    # other scripts
    "Привет", "мир", "Γειά σου", "שלום", "مرحبا", "नमस्ते", "สวัสดี", "こんにちは", "カタカナ", "你好", "世界",
    "中文分词测试", "한국어", "안녕하세요", "ᄀᄁ", "ܐܒ", "ሰላም", "ꯑ",
    # emoji, ZWJ sequences, skin tones, flags, variation selectors
    "😀", "🦜", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "☺︎", "🫠",
    # assigned after Unicode 14.0 (PCRE2 10.42's tables): CJK Ext H/I, Kawi letter and digit, Garay, Ol Onal digit
    "\U00031350\U00031351", "\U0002ebf0", "\U00011f04", "\U00011f50", "\U00010d50", "\U0001e5f1", "_\U0002ecc8_u",
    # control, private use, noncharacters, astral
    "\x00", "\x01", "\x1b[0m", "\x7f", "\u0085", "\ue000", "\U000f0000", "\ufffd", "\ufffe", "\U0001d400", "\U00020000",
]


def special_texts(tok):
    return [t.content for t in tok.get_added_tokens_decoder().values()][:64]


def llama_fast_special_ids(tok, path):
    """(prefix, suffix) ids when tokenizer_config.json sets add_bos_token / add_eos_token, else None.

    The tokenizers library reads only tokenizer.json; transformers' LlamaTokenizerFast (4.x)
    replaces the post-processor by one built from these flags (update_post_processor), and wick
    follows them (DeepSeek-V3 ships a ByteLevel post-processor without BOS and add_bos_token=true).
    """
    cfg_path = os.path.join(os.path.dirname(path), "tokenizer_config.json")
    if not os.path.exists(cfg_path):
        return None
    cfg = json.load(open(cfg_path, encoding="utf-8"))
    if "add_bos_token" not in cfg and "add_eos_token" not in cfg:
        return None

    def token_id(key):
        t = cfg.get(key)
        content = t.get("content") if isinstance(t, dict) else t
        return tok.token_to_id(content) if content else None

    prefix = [token_id("bos_token")] if cfg.get("add_bos_token") else []
    suffix = [token_id("eos_token")] if cfg.get("add_eos_token") else []
    return prefix, suffix


def random_string(rng, specials):
    kind = rng.random()
    if kind < 0.15:  # raw random code points (no surrogates: not encodable as UTF-8)
        out = []
        for _ in range(rng.randint(1, 24)):
            cp = rng.choice([rng.randint(0x20, 0x7e), rng.randint(0, 0x2fff), rng.randint(0x3000, 0xd7ff),
                             rng.randint(0xe000, 0xffff), rng.randint(0x10000, 0x10ffff)])
            out.append(chr(cp))
        return "".join(out)
    pool = PIECES + specials if kind < 0.6 else PIECES
    n = rng.randint(1, 30)
    parts = []
    for _ in range(n):
        p = rng.choice(pool)
        if rng.random() < 0.1:
            p = p * rng.randint(2, 6)  # runs: spaces, newlines, digits, emoji
        parts.append(p)
        if rng.random() < 0.35:
            parts.append(rng.choice([" ", "", "\n", "  "]))
    return "".join(parts)


def wick_encode(wick, tokenizer_path, texts, add_special):
    cmd = [wick, "tokenize", "--tokenizer", tokenizer_path, "--jsonl"] + (["--add-special"] if add_special else [])
    stdin = "".join(json.dumps(t) + "\n" for t in texts)
    got = subprocess.run(cmd, input=stdin.encode("utf-8"), capture_output=True)
    lines = got.stdout.decode("utf-8").splitlines()
    if len(lines) != len(texts):
        raise RuntimeError("wick tokenize --jsonl printed %d lines for %d texts (exit %d): %s" %
                           (len(lines), len(texts), got.returncode, got.stderr.decode("utf-8", "replace")[-2000:]))
    out = []
    for line in lines:
        j = json.loads(line)
        out.append(j.get("ids", "error: " + j.get("error", "?")))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("wick")
    ap.add_argument("--cases", type=int, default=int(os.environ.get("WICK_TOKENIZER_FUZZ_CASES", "1500")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("WICK_TOKENIZER_FUZZ_SEED", "20261201")))
    ap.add_argument("--testdata", required=True)
    args = ap.parse_args()
    missing = int(os.environ.get("WICK_MISSING_STATUS", "77"))
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        print("*** SKIPPED: the tokenizers library is not installed (scripts/setup.sh makes .venv): %s ***" % e)
        return missing
    paths = sorted(glob.glob(os.path.join(args.testdata, "**", "tokenizer.json"), recursive=True))
    if not paths:
        print("*** SKIPPED: no tokenizer.json under %s ***" % args.testdata)
        return missing
    failures = 0
    for path in paths:
        name = os.path.relpath(path, args.testdata)
        tok = Tokenizer.from_file(path)
        rng = random.Random("%d:%s" % (args.seed, name))
        specials = special_texts(tok)
        texts = [random_string(rng, specials) for _ in range(args.cases)]
        for add_special in (False, True):
            flags = llama_fast_special_ids(tok, path) if add_special else None
            if flags is None:
                want = [e.ids for e in tok.encode_batch(texts, add_special_tokens=add_special)]
            else:
                want = [flags[0] + e.ids + flags[1] for e in tok.encode_batch(texts, add_special_tokens=False)]
            got = wick_encode(args.wick, path, texts, add_special)
            bad = [i for i in range(len(texts)) if want[i] != got[i]]
            tokens = sum(len(w) for w in want)
            print("%-48s add_special=%-5s %5d strings, %7d tokens: %d differ" %
                  (name, add_special, len(texts), tokens, len(bad)))
            for i in bad[:5]:
                print("  text %r\n    tokenizers %s\n    wick       %s" % (texts[i], want[i], got[i]))
            failures += len(bad)
    print("seed %d, %d cases per tokenizer and mode" % (args.seed, args.cases))
    if failures:
        print("%d FAILURES" % failures)
        return 1
    print("all identical to the tokenizers library")
    return 0


if __name__ == "__main__":
    sys.exit(main())
