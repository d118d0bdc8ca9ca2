/* SPDX-License-Identifier: MIT */
/* npu-mkmodel - writes a GGUF model (llama, qwen2, phi3, gemma) with seeded random weights. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "edge_npu.h"
#include "hal/files.h"
#include "mkmodel.h"
#include "vocab.h"

static void usage(FILE *f)
{
	const struct mkmodel_params *d = &mkmodel_default;

	fprintf(f,
		"usage: npu-mkmodel -o FILE [options]\n"
		"Writes a GGUF model with seeded random weights, for tests, demos and benchmarks, in\n"
		"the layout llama.cpp's converter writes for the architecture. Its tokenizer is\n"
		"edge-npu's own English vocabulary (%u pieces at most, with byte fallback), or that\n"
		"of the vocabulary GGUF --vocab names.\n\n"
		"  -o, --output FILE   where to write the model (required)\n"
		"      --arch A        llama (default), qwen2 (Q, K, V biases), phi3 (fused attn_qkv,\n"
		"                      ffn_up holding gate and up) or gemma (GeGLU, scaled and tied\n"
		"                      embeddings; implies --tied) or gemma2 (gemma's, with\n"
		"                      post-norms, soft-capped scores and logits, sliding windows)\n"
		"      --head-dim N    gemma, gemma2: attention head size other than dim / heads\n"
		"      --sliding-window N  gemma2: the window of every other layer (default 4096)\n"
		"      --rope-scaling S  none (the default), linear:FACTOR, or llama3 (rope_freqs.weight\n"
		"                      as the converter writes it for Llama-3.1: factor 8, low 1,\n"
		"                      high 4, context 8192)\n"
		"      --dim N         embedding size (default %u)\n"
		"      --layers N      transformer blocks (default %u)\n"
		"      --heads N       attention heads (default %u)\n"
		"      --kv-heads N    key/value heads, dividing --heads (default: --heads)\n"
		"      --ffn N         feed-forward size (default %u)\n"
		"      --ctx N         context length (default %u)\n"
		"  -t, --type T        weight type: f32, f16, q8_0, q4_0, q4_k, q5_k, q6_k (llama.cpp's\n"
		"                      K-quants: dim and ffn multiples of 256), or q4_k_m (llama.cpp's\n"
		"                      Q4_K_M mix: Q4_K, with output, and attn_v and ffn_down of some\n"
		"                      layers, in Q6_K) (default q8_0); norms are f32\n"
		"      --tied          no output.weight: the embedding is the output projection\n"
		"      --output-q6k    output.weight in Q6_K, as llama.cpp's quantizer writes it in\n"
		"                      Q4_0 files\n"
		"      --seed N        random seed (default %llu)\n"
		"      --vocab FILE    GGUF whose tokenizer is used (default: the built-in one)\n"
		"      --name TEXT     general.name\n"
		"  -h, --help          this help\n"
		"      --version       the version\n\n"
		"The ~130 M-parameter model of the benchmarks:\n"
		"  npu-mkmodel -o m.gguf --dim 768 --layers 12 --heads 12 --kv-heads 12 --ffn 2048\n",
		VOCAB_MAX_TOKENS, d->dim, d->layers, d->heads, d->ffn, d->ctx,
		(unsigned long long)d->seed);
}

static int parse_u32(const char *opt, const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v > 0xffffffffull || s[0] == '-') {
		fprintf(stderr, "npu-mkmodel: %s expects a non-negative integer, got '%s'\n", opt, s);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { O_DIM = 256, O_LAYERS, O_HEADS, O_KV, O_FFN, O_CTX, O_TIED, O_SEED, O_VOCAB, O_NAME,
	       O_OUT_Q6K, O_VERSION, O_ARCH, O_HEAD_DIM, O_ROPE, O_SWA };
	static const struct option opts[] = {
		{ "output", required_argument, 0, 'o' }, { "type", required_argument, 0, 't' },
		{ "dim", required_argument, 0, O_DIM }, { "layers", required_argument, 0, O_LAYERS },
		{ "heads", required_argument, 0, O_HEADS }, { "kv-heads", required_argument, 0, O_KV },
		{ "ffn", required_argument, 0, O_FFN }, { "ctx", required_argument, 0, O_CTX },
		{ "tied", no_argument, 0, O_TIED }, { "seed", required_argument, 0, O_SEED },
		{ "vocab", required_argument, 0, O_VOCAB }, { "name", required_argument, 0, O_NAME },
		{ "output-q6k", no_argument, 0, O_OUT_Q6K },
		{ "arch", required_argument, 0, O_ARCH }, { "head-dim", required_argument, 0, O_HEAD_DIM },
		{ "rope-scaling", required_argument, 0, O_ROPE },
		{ "sliding-window", required_argument, 0, O_SWA },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, O_VERSION },
		{ 0, 0, 0, 0 },
	};
	struct mkmodel_params p = mkmodel_default;
	const char *out = NULL;
	bool kv_set = false;
	uint32_t seed32;
	int c, bad = 0;
	char err[512];

	hal_file_clean_on_end_signals(); /* no half-written model left beside -o */
	p.name = "edge-npu random llama";
	while ((c = getopt_long(argc, argv, "o:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 't':
			p.q4_k_m = !strcasecmp(optarg, "q4_k_m");
			if (p.q4_k_m) {
				p.type = HAL_TYPE_Q4_K;
			} else if (!mkmodel_parse_type(optarg, &p.type)) {
				fprintf(stderr, "npu-mkmodel: unknown --type '%s' (f32, f16, q8_0, q4_0, "
					"q4_k, q5_k, q6_k, q4_k_m)\n", optarg);
				return 2;
			}
			break;
		case O_DIM: bad |= parse_u32("--dim", optarg, &p.dim); break;
		case O_LAYERS: bad |= parse_u32("--layers", optarg, &p.layers); break;
		case O_HEADS: bad |= parse_u32("--heads", optarg, &p.heads); break;
		case O_KV: bad |= parse_u32("--kv-heads", optarg, &p.kv_heads); kv_set = true; break;
		case O_FFN: bad |= parse_u32("--ffn", optarg, &p.ffn); break;
		case O_CTX: bad |= parse_u32("--ctx", optarg, &p.ctx); break;
		case O_TIED: p.tied = true; break;
		case O_OUT_Q6K: p.output_q6_k = true; break;
		case O_SEED: bad |= parse_u32("--seed", optarg, &seed32); p.seed = seed32; break;
		case O_VOCAB: p.vocab = optarg; break;
		case O_NAME: p.name = optarg; break;
		case O_ARCH: p.arch = optarg; break;
		case O_HEAD_DIM: bad |= parse_u32("--head-dim", optarg, &p.head_dim); break;
		case O_SWA: bad |= parse_u32("--sliding-window", optarg, &p.swa_window); break;
		case O_ROPE: {
			char *colon = strchr(optarg, ':'), *end = NULL;

			p.rope_scaling = optarg;
			if (colon) {
				*colon = 0;
				p.rope_factor = strtof(colon + 1, &end);
			}
			if (colon && strcmp(optarg, "linear")) {
				fprintf(stderr, "npu-mkmodel: --rope-scaling %s takes no ':' value (only "
					"linear:FACTOR does)\n", optarg);
				return 2;
			}
			/* a decimal factor: strtof would read hex (0x10) and inf too */
			if (!strcmp(optarg, "linear") &&
			    (!colon || *end || end == colon + 1 || strpbrk(colon + 1, "xXnN"))) {
				fprintf(stderr, "npu-mkmodel: --rope-scaling linear:FACTOR needs a "
					"number, got '%s'\n", colon ? colon + 1 : "");
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		case O_VERSION: printf("npu-mkmodel (edge-npu) %s\n", enpu_version()); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (bad)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "npu-mkmodel: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!out || !*out) {
		fprintf(stderr, "npu-mkmodel: -o FILE is required (see --help)\n");
		return 2;
	}
	if (!kv_set)
		p.kv_heads = p.heads; /* plain multi-head attention unless asked for GQA */
	if (p.arch && !strncmp(p.arch, "gemma", 5))
		p.tied = true; /* Gemma has no output.weight */
	if (mkmodel_check(&p, err, sizeof(err))) { /* a bad combination of options: usage */
		fprintf(stderr, "npu-mkmodel: %s\n", err);
		return 2;
	}
	if (mkmodel_write(&p, out, err, sizeof(err))) {
		fprintf(stderr, "npu-mkmodel: %s\n", err);
		return 1;
	}
	return 0;
}
