/* SPDX-License-Identifier: MIT */
/*
 * tokenizer_pretok.c - the pre-tokenizers of byte-level BPE vocabularies.
 *
 * A rule is a sequence of passes. The text starts as one word; each pass cuts every word
 * further, the way the reference runtime applies its list of regular expressions: inside a
 * word it finds the leftmost match, keeps the text before it (if any) as a word, keeps the
 * match as a word, and goes on after the match. Each pass below is one of those expressions,
 * written as a matcher that returns the length of the match starting at a position (0: none),
 * with the regex's first-alternative-wins order. The classes follow the runtime: \p{L} etc.
 * are the general categories of tokenizer_unicode.h, \s is White_Space, and a character class
 * written with literal code points never contains a white-space character (the runtime swaps
 * those for U+000B before matching).
 */
#include "tokenizer_pretok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_unicode.h"

#define L UNI_LETTER
#define N UNI_NUMBER
#define P UNI_PUNCT
#define WS UNI_WHITESPACE
#define NO_CP UINT32_MAX

enum pass {
	PASS_END = 0,
	/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
	PASS_GPT2,
	/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
	 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
	PASS_LLAMA3,
	PASS_QWEN2,        /* the Llama-3 expression with \p{N} for \p{N}{1,3} */
	PASS_QWEN35,       /* Qwen2's with [\p{L}\p{M}]+ for \p{L}+ (marks join letters) */
	PASS_NEWLINE,      /* [\r\n] */
	PASS_DS_LETTERS,   /* \s?[A-Za-zµÀ-ÖØ-ö... (DeepSeek's cased letters)]+ */
	PASS_DS_PUNCT,     /* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
	PASS_TRAILING_WS,  /* \s+$ */
	PASS_CJK,          /* [一-龥ࠀ-一가-퟿]+ */
	PASS_NUMBERS,      /* \p{N}+ */
	PASS_NUMBER,       /* \p{N} */
	PASS_WS_LETTERS,   /* \s?\p{L}+ */
	PASS_WS_PUNCT,     /* \s?\p{P}+ */
	PASS_PUNCT_SYM,    /* [\p{P}\$\+<=>\^~\|]+ */
	PASS_PUNCT_SYM_BT, /* [\p{P}\$\+<=>\^~\|`]+ */
	PASS_DIGITS3,      /* [0-9][0-9][0-9] */
	PASS_BLOOM,        /*  ?[^(\s|.,!?…。，、।۔،)]+ */
};

#define MAX_PASSES 6
#define MAX_NAMES 12

struct pretok {
	const char *names[MAX_NAMES]; /* the first is the canonical one */
	enum pass passes[MAX_PASSES + 1];
	bool ignore_merges;
	bool add_bos;
};

/* The runtime's tokenizer.ggml.pre values, grouped by the expressions they share. */
static const struct pretok rules[] = {
	{ { "default" }, { PASS_PUNCT_SYM, PASS_GPT2, PASS_NUMBERS, PASS_DIGITS3 }, false, false },
	{ { "gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4",
	    "gigachat", "a.x-4.0", "mellum" },
	  { PASS_GPT2 }, false, false },
	{ { "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
	    "lfm2" },
	  { PASS_LLAMA3 }, true, true },
	{ { "dbrx", "smaug-bpe" }, { PASS_LLAMA3 }, false, false },
	{ { "qwen2", "deepseek-r1-qwen", "megrez", "stablelm2", "hunyuan", "solar-open", "kormo" },
	  { PASS_QWEN2 }, false, false },
	{ { "qwen35" }, { PASS_QWEN35 }, false, false },
	{ { "deepseek-llm" },
	  { PASS_NEWLINE, PASS_DS_LETTERS, PASS_DS_PUNCT, PASS_TRAILING_WS, PASS_CJK,
	    PASS_NUMBERS },
	  false, false },
	{ { "deepseek-coder" },
	  { PASS_NEWLINE, PASS_WS_LETTERS, PASS_WS_PUNCT, PASS_CJK, PASS_NUMBER }, false, false },
	{ { "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b",
	    "mellum2" },
	  { PASS_NUMBER, PASS_GPT2 }, false, false },
	{ { "falcon" }, { PASS_PUNCT_SYM_BT, PASS_GPT2, PASS_DIGITS3 }, false, false },
	{ { "bloom", "poro-chat", "gpt3-finnish" }, { PASS_BLOOM }, false, false },
	{ { "viking" }, { PASS_BLOOM, PASS_NUMBER }, false, false },
};

#define N_RULES (sizeof(rules) / sizeof(rules[0]))

const struct pretok *pretok_find(const char *name, size_t len)
{
	for (size_t r = 0; r < N_RULES; r++) {
		for (size_t i = 0; i < MAX_NAMES && rules[r].names[i]; i++) {
			if (strlen(rules[r].names[i]) == len && memcmp(rules[r].names[i], name, len) == 0)
				return &rules[r];
		}
	}
	return NULL;
}

const struct pretok *pretok_default(void)
{
	return &rules[0];
}

void pretok_known_names(char *buf, size_t cap)
{
	size_t n = 0;

	if (!cap)
		return;
	buf[0] = '\0';
	for (size_t r = 0; r < N_RULES; r++) {
		for (size_t i = 0; i < MAX_NAMES && rules[r].names[i]; i++) {
			int k = snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", rules[r].names[i]);

			if (k < 0 || (size_t)k >= cap - n)
				return; /* cut short: snprintf ended it */
			n += (size_t)k;
		}
	}
}

const char *pretok_name(const struct pretok *p)
{
	return p->names[0];
}

bool pretok_ignore_merges(const struct pretok *p)
{
	return p->ignore_merges;
}

bool pretok_add_bos(const struct pretok *p)
{
	return p->add_bos;
}

/* ---- classes ---- */

struct cp_range {
	uint32_t lo, hi;
};

static bool in_ranges(uint32_t cp, const struct cp_range *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (cp >= r[i].lo && cp <= r[i].hi)
			return true;
	}
	return false;
}

/* DeepSeek-LLM's letter class (its tokenizer.json): the cased letters of Unicode. */
static const struct cp_range ds_letters[] = {
	{ 0x41, 0x5A }, { 0x61, 0x7A }, { 0xB5, 0xB5 }, { 0xC0, 0xD6 }, { 0xD8, 0xF6 },
	{ 0xF8, 0x1BA }, { 0x1BC, 0x1BF }, { 0x1C4, 0x293 }, { 0x295, 0x2AF }, { 0x370, 0x373 },
	{ 0x376, 0x377 }, { 0x37B, 0x37D }, { 0x37F, 0x37F }, { 0x386, 0x386 }, { 0x388, 0x38A },
	{ 0x38C, 0x38C }, { 0x38E, 0x3A1 }, { 0x3A3, 0x3F5 }, { 0x3F7, 0x481 }, { 0x48A, 0x52F },
	{ 0x531, 0x556 }, { 0x10A0, 0x10C5 }, { 0x13A0, 0x13F5 }, { 0x13F8, 0x13FD },
	{ 0x1C90, 0x1CBA }, { 0x1CBD, 0x1CBF }, { 0x1D00, 0x1D2B }, { 0x1D6B, 0x1D77 },
	{ 0x1D79, 0x1D9A }, { 0x1E00, 0x1F15 }, { 0x1F18, 0x1F1D }, { 0x1F20, 0x1F45 },
	{ 0x1F48, 0x1F4D }, { 0x1F50, 0x1F57 }, { 0x1F59, 0x1F59 }, { 0x1F5B, 0x1F5B },
	{ 0x1F5D, 0x1F5D }, { 0x1F5F, 0x1F7D }, { 0x1F80, 0x1FB4 }, { 0x1FB6, 0x1FBC },
	{ 0x1FBE, 0x1FBE }, { 0x1FC2, 0x1FC4 }, { 0x1FC6, 0x1FCC }, { 0x1FD0, 0x1FD3 },
	{ 0x1FD6, 0x1FDB }, { 0x1FE0, 0x1FEC }, { 0x1FF2, 0x1FF4 }, { 0x1FF6, 0x1FFC },
	{ 0x2102, 0x2102 }, { 0x2107, 0x2107 }, { 0x210A, 0x2113 }, { 0x2115, 0x2115 },
	{ 0x2119, 0x211D }, { 0x2124, 0x2124 }, { 0x2126, 0x2126 }, { 0x2128, 0x2128 },
	{ 0x212A, 0x212D }, { 0x212F, 0x2134 }, { 0x2139, 0x2139 }, { 0x213C, 0x213F },
	{ 0x2145, 0x2149 }, { 0x214E, 0x214E }, { 0x2183, 0x2184 }, { 0x2C00, 0x2C7B },
	{ 0x2C7E, 0x2CE4 }, { 0x2CEB, 0x2CEE }, { 0x2CF2, 0x2CF3 }, { 0xA640, 0xA66D },
	{ 0xA680, 0xA69B }, { 0xA722, 0xA76F }, { 0xA771, 0xA787 }, { 0xA78B, 0xA78E },
	{ 0xAB70, 0xABBF }, { 0xFB00, 0xFB06 }, { 0xFB13, 0xFB17 }, { 0xFF21, 0xFF3A },
	{ 0xFF41, 0xFF5A }, { 0x10400, 0x1044F }, { 0x104B0, 0x104D3 }, { 0x104D8, 0x104FB },
	{ 0x10C80, 0x10CB2 }, { 0x10CC0, 0x10CF2 }, { 0x118A0, 0x118DF }, { 0x1E900, 0x1E943 },
};

/* DeepSeek-LLM's punctuation class: ASCII (with the letters), full-width forms, quotes. */
static const struct cp_range ds_punct[] = {
	{ 0x21, 0x2F }, { 0x3A, 0x7E }, { 0xFF01, 0xFF0F }, { 0xFF1A, 0xFF5E }, { 0x2018, 0x201F },
	{ 0x3000, 0x3002 },
};

/* CJK ideographs, U+0800..U+4E00 and Hangul, as DeepSeek writes them. */
static const struct cp_range cjk[] = {
	{ 0x4E00, 0x9FA5 }, { 0x0800, 0x4E00 }, { 0xAC00, 0xD7FF },
};

/* What BLOOM's expression excludes besides \s. */
static const struct cp_range bloom_stops[] = {
	{ '(', '(' }, { ')', ')' }, { '|', '|' }, { '.', '.' }, { ',', ',' }, { '!', '!' },
	{ '?', '?' }, { 0x2026, 0x2026 }, { 0x3002, 0x3002 }, { 0xFF0C, 0xFF0C },
	{ 0x3001, 0x3001 }, { 0x0964, 0x0964 }, { 0x06D4, 0x06D4 }, { 0x060C, 0x060C },
};

#define IN(cp, table) in_ranges(cp, table, sizeof(table) / sizeof(table[0]))

/* ---- matching inside one word ---- */

/* The characters of the word being cut; past its end there is nothing (flags 0). */
struct span {
	const uint32_t *cp;
	const uint16_t *fl;
	size_t end;
};

static uint16_t F(const struct span *s, size_t i)
{
	return i < s->end ? s->fl[i] : 0;
}

static uint32_t C(const struct span *s, size_t i)
{
	return i < s->end ? s->cp[i] : NO_CP;
}

typedef bool (*cp_class)(uint32_t cp, uint16_t fl);

static bool cls_ds_letter(uint32_t cp, uint16_t fl)
{
	/* below U+00B5 the class is A-Z and a-z: most text never scans the table */
	if (cp < 0xB5)
		return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
	return !(fl & WS) && IN(cp, ds_letters);
}

static bool cls_ds_punct(uint32_t cp, uint16_t fl)
{
	return !(fl & WS) && IN(cp, ds_punct);
}

static bool cls_cjk(uint32_t cp, uint16_t fl)
{
	return !(fl & WS) && IN(cp, cjk);
}

static bool cls_letter(uint32_t cp, uint16_t fl)
{
	(void)cp;
	return fl & L;
}

static bool cls_punct(uint32_t cp, uint16_t fl)
{
	(void)cp;
	return fl & P;
}

static bool cls_number(uint32_t cp, uint16_t fl)
{
	(void)cp;
	return fl & N;
}

static bool cls_punct_sym(uint32_t cp, uint16_t fl)
{
	return (fl & P) || (cp && cp < 0x80 && strchr("$+<=>^~|", (int)cp));
}

static bool cls_punct_sym_bt(uint32_t cp, uint16_t fl)
{
	return cls_punct_sym(cp, fl) || cp == '`';
}

static bool cls_bloom(uint32_t cp, uint16_t fl)
{
	return !(fl & WS) && !IN(cp, bloom_stops);
}

static bool has(const struct span *s, size_t i, cp_class cls)
{
	return i < s->end && cls(s->cp[i], s->fl[i]);
}

/* The number of characters of class cls from pos on. */
static size_t run(const struct span *s, size_t pos, cp_class cls)
{
	size_t p = pos;

	while (has(s, p, cls))
		p++;
	return p - pos;
}

/* \s?[cls]+ (first the form with the white-space character, then the one without). */
static size_t ws_opt_run(const struct span *s, size_t pos, cp_class cls)
{
	size_t p = pos;

	if ((F(s, p) & WS) && has(s, p + 1, cls))
		p++;
	if (!has(s, p, cls))
		return 0;
	return p - pos + run(s, p, cls);
}

/* Only ASCII letters lower-case to the letters of the contractions. */
static uint32_t ascii_lower(uint32_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 's|'t|'re|'ve|'m|'ll|'d, case-insensitive or not. */
static size_t contraction(const struct span *s, size_t pos, bool icase)
{
	uint32_t c1, c2;

	if (C(s, pos) != '\'' || pos + 1 >= s->end)
		return 0;
	c1 = icase ? ascii_lower(C(s, pos + 1)) : C(s, pos + 1);
	if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
		return 2;
	if (pos + 2 >= s->end)
		return 0;
	c2 = icase ? ascii_lower(C(s, pos + 2)) : C(s, pos + 2);
	if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
		return 3;
	return 0;
}

/*
 * The white-space alternatives: with crlf, \s*[\r\n]+ first (up to the last line break of
 * the run); then \s+(?!\S) (all but the last when a non-space follows); then \s+. A character
 * no alternative takes stands alone, as in the runtime.
 */
static size_t ws_tail(const struct span *s, size_t pos, bool crlf)
{
	size_t n = 0, last_nl = 0;

	while (F(s, pos + n) & WS) {
		uint32_t c = C(s, pos + n);

		if (crlf && (c == '\r' || c == '\n'))
			last_nl = n + 1;
		n++;
	}
	if (last_nl)
		return last_nl;
	if (n > 1 && pos + n < s->end)
		return n - 1;
	return n ? n : 1;
}

/*
 * [^\s\p{L}\p{N}]+ (or [^\s\p{L}\p{M}\p{N}]+ with letters = L | M) from p on; unassigned
 * code points included, as in the runtime.
 */
static size_t run_other(const struct span *s, size_t p, uint16_t letters)
{
	size_t start = p;

	while (F(s, p) && !(F(s, p) & (WS | letters | N)))
		p++;
	return p - start;
}

static bool cls_letter_mark(uint32_t cp, uint16_t fl)
{
	(void)cp;
	return fl & (L | UNI_MARK);
}

static size_t match_gpt2(const struct span *s, size_t pos)
{
	size_t n = contraction(s, pos, false);
	size_t sp = C(s, pos) == ' ';
	uint16_t f2 = F(s, pos + sp); /* the class after an optional leading space */

	if (n)
		return n;
	if (f2 & L)
		return sp + run(s, pos + sp, cls_letter);
	if (f2 & N)
		return sp + run(s, pos + sp, cls_number);
	if (f2 && !(f2 & (WS | L | N)))
		return sp + run_other(s, pos + sp, L);
	return ws_tail(s, pos, false);
}

/* Llama 3 (max_digits 3), Qwen2 (1), Qwen3.5 (1, marks: letters are [\p{L}\p{M}]). */
static size_t match_llama3(const struct span *s, size_t pos, size_t max_digits, bool marks)
{
	const uint16_t letters = marks ? L | UNI_MARK : L;
	size_t n = contraction(s, pos, true);
	uint32_t c = C(s, pos);
	uint16_t f = F(s, pos);
	size_t sp = c == ' ';
	uint16_t f2 = F(s, pos + sp);

	if (n)
		return n;
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (c != '\r' && c != '\n' && !(f & N) && ((f & letters) || (F(s, pos + 1) & letters)))
		return 1 + run(s, pos + 1, marks ? cls_letter_mark : cls_letter);
	/* \p{N}{1,max_digits} */
	if (f & N) {
		n = run(s, pos, cls_number);
		return n < max_digits ? n : max_digits;
	}
	/*  ?[^\s\p{L}\p{N}]+[\r\n]* ; a lone ' ' at the end of the word is taken here too */
	if (!(f2 & (WS | letters | N)) && f) {
		size_t p = pos + sp;

		p += run_other(s, p, letters);
		while (C(s, p) == '\r' || C(s, p) == '\n')
			p++;
		return p - pos;
	}
	return ws_tail(s, pos, true);
}

static size_t match_digits3(const struct span *s, size_t pos)
{
	for (size_t i = 0; i < 3; i++) {
		uint32_t c = C(s, pos + i);

		if (c < '0' || c > '9')
			return 0;
	}
	return 3;
}

static size_t match(enum pass pass, const struct span *s, size_t pos)
{
	switch (pass) {
	case PASS_GPT2:
		return match_gpt2(s, pos);
	case PASS_LLAMA3:
		return match_llama3(s, pos, 3, false);
	case PASS_QWEN2:
		return match_llama3(s, pos, 1, false);
	case PASS_QWEN35:
		return match_llama3(s, pos, 1, true);
	case PASS_NEWLINE:
		return C(s, pos) == '\r' || C(s, pos) == '\n';
	case PASS_DS_LETTERS:
		return ws_opt_run(s, pos, cls_ds_letter);
	case PASS_DS_PUNCT:
		return ws_opt_run(s, pos, cls_ds_punct);
	case PASS_CJK:
		return run(s, pos, cls_cjk);
	case PASS_NUMBERS:
		return run(s, pos, cls_number);
	case PASS_NUMBER:
		return has(s, pos, cls_number);
	case PASS_WS_LETTERS:
		return ws_opt_run(s, pos, cls_letter);
	case PASS_WS_PUNCT:
		return ws_opt_run(s, pos, cls_punct);
	case PASS_PUNCT_SYM:
		return run(s, pos, cls_punct_sym);
	case PASS_PUNCT_SYM_BT:
		return run(s, pos, cls_punct_sym_bt);
	case PASS_DIGITS3:
		return match_digits3(s, pos);
	case PASS_BLOOM: {
		size_t sp = C(s, pos) == ' ' && has(s, pos + 1, cls_bloom);

		return has(s, pos + sp, cls_bloom) ? sp + run(s, pos + sp, cls_bloom) : 0;
	}
	case PASS_TRAILING_WS:
	case PASS_END:
		break;
	}
	return 0;
}

/* Cuts the word [a, b) with one pass, appending the end of each piece to out[*n]. */
static void cut_word(enum pass pass, const struct pretok_work *w, size_t a, size_t b,
		     size_t *out, size_t *n)
{
	const struct span s = { .cp = w->cp, .fl = w->fl, .end = b };
	size_t pos = a, gap = a;

	if (pass == PASS_TRAILING_WS) {
		/* \s+$: only the white space that reaches the end of the word */
		size_t t = b;

		while (t > a && (w->fl[t - 1] & WS))
			t--;
		if (t > a && t < b)
			out[(*n)++] = t;
		out[(*n)++] = b;
		return;
	}
	while (pos < b) {
		size_t len = match(pass, &s, pos);

		if (!len) {
			pos++;
			continue;
		}
		if (pos > gap)
			out[(*n)++] = pos;
		pos += len;
		out[(*n)++] = pos;
		gap = pos;
	}
	if (gap < b)
		out[(*n)++] = b;
}

static bool reserve(struct pretok_work *w, size_t n)
{
	void *p;

	if (n <= w->cap_chars)
		return true;
	/* each array is reallocated on its own: a failure leaves the others valid for _free */
	if (!(p = realloc(w->cp, n * sizeof(*w->cp))))
		return false;
	w->cp = p;
	if (!(p = realloc(w->fl, n * sizeof(*w->fl))))
		return false;
	w->fl = p;
	if (!(p = realloc(w->off, (n + 1) * sizeof(*w->off))))
		return false;
	w->off = p;
	if (!(p = realloc(w->ends, n * sizeof(*w->ends))))
		return false;
	w->ends = p;
	if (!(p = realloc(w->tmp, n * sizeof(*w->tmp))))
		return false;
	w->tmp = p;
	w->cap_chars = n;
	return true;
}

bool pretok_split(const struct pretok *p, struct pretok_work *w, const char *text, size_t len)
{
	size_t n = 0;

	w->n_chars = w->n_words = 0;
	if (!len)
		return true;
	/* no more characters than bytes, no more words than characters */
	if (!reserve(w, len))
		return false;
	for (size_t off = 0; off < len; n++) {
		uint32_t cp;

		w->off[n] = off;
		off += uni_decode(text + off, len - off, &cp);
		w->cp[n] = cp;
		w->fl[n] = uni_flags(cp);
	}
	w->off[n] = len;
	w->n_chars = n;
	w->ends[0] = n;
	w->n_words = 1;
	for (size_t k = 0; k < MAX_PASSES && p->passes[k] != PASS_END; k++) {
		size_t n_out = 0, a = 0, *swap;

		for (size_t i = 0; i < w->n_words; i++) {
			cut_word(p->passes[k], w, a, w->ends[i], w->tmp, &n_out);
			a = w->ends[i];
		}
		swap = w->ends;
		w->ends = w->tmp;
		w->tmp = swap;
		w->n_words = n_out;
	}
	return true;
}

void pretok_work_free(struct pretok_work *w)
{
	free(w->cp);
	free(w->fl);
	free(w->off);
	free(w->ends);
	free(w->tmp);
	memset(w, 0, sizeof(*w));
}
