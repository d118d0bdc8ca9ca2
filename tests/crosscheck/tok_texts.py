#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes N random texts (seeded) in the vocabulary-test format to stdout: mixes of ASCII
letters and digits, contractions in both cases, spaces, tabs and line breaks, Latin, Greek
and Cyrillic letters, CJK, Hangul and half-width kana, other digits, punctuation of several
scripts, non-ASCII spaces, combining marks, emoji, letter-like symbols.
usage: tok_texts.py SEED N"""
import random
import sys

POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", " ", "  ",
    "\t", "\n", "\r\n", "\r", "'s 'S 't 're 'RE 've 'm 'll 'LL 'd 'D 'x",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "éèàüöñçßÀÉÖØøæœ", "αβγδΩλμπσ", "абвгдЖЗИЙ",
    "日本語中文字漢字", "한국어", "ﾊﾝｶｸ", "١٢٣٤", "²³¹½⅓", "Ⅻⅻ", "\u00a0", "\u3000", "\u2009",
    "\u0085", "\u200b", "\u0301\u0308", "🦙😀👍🏽", "…。，、।۔،", "！？（）：；", "‘’“”", "µ",
    "\u1680", "\x0b\x0c", "ℂℍℕ", "\U00010400\U00010401", "ｱｲｳ", "\u0800\u0900\u0e01", "﷽",
    "\u2028", "ＡＢＣａｂｃ", "\ufffd",
]


def main():
    rng = random.Random(int(sys.argv[1]))
    out = []
    for _ in range(int(sys.argv[2])):
        n = rng.randint(1, 30)
        out.append(''.join(rng.choice(rng.choice(POOLS)) if rng.random() < 0.7
                           else rng.choice(POOLS) for _ in range(n)))
    sys.stdout.write(''.join(t + "\n__ggml_vocab_test__\n" for t in out))


main()
