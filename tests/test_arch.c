/* SPDX-License-Identifier: MIT */
/*
 * test_arch.c - the model families beside llama (qwen2, phi3, gemma, gemma2) and Llama-3's
 * rope scaling: their ops' new attributes against formulas computed here in double, each
 * layout loaded and run on every device this machine has against the reference backend,
 * and files that are wrong refused with the key or tensor named.
 *
 * Tolerances. Ops: cpu-ref against the double formulas within 2e-5 relative (float rounding
 * of a handful of operations, tanh/exp/sin/cos included); cpu and gpu against cpu-ref within
 * 1e-5 of the largest magnitude (their float operations are the reference's but for the order
 * of sums). Models (dim 128, 2 layers, 4 heads, Q8_0 weights, F32 KV cache): every device
 * against cpu-ref after a prefill of 8 and 3 decode steps; measured (2026-12-05, AVX-512
 * host, PoCL, the in-process NPU) at most 1.2e-7 of the largest logit for every layout (the
 * integer dot products are exact everywhere, only float sums differ in order); bound 1e-4 of
 * the largest logit and cosine >= 0.999999. Agreement with llama.cpp itself is the
 * cross-check's (tests/crosscheck/README.md).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_npu.h"
#include "hal/hal.h"
#include "mkmodel.h"
#include "sched/graph.h"
#include "testutil.h"

/* ---- ops ------------------------------------------------------------------------------- */

/* The reference backend, the fast CPU one and the OpenCL one when this machine has it. */
static uint32_t open_devices(struct hal_device *dev[3])
{
	const struct hal_backend *b;
	char err[256];
	uint32_t n = 0;

	ck_assert_int_eq(hal_cpu_ref_create(&dev[n++]), HAL_OK);
	b = hal_backend_find("cpu");
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->create(NULL, &dev[n++], err, sizeof(err)), HAL_OK);
	b = hal_backend_find("gpu");
	if (b && b->create(NULL, &dev[n], err, sizeof(err)) == HAL_OK)
		n++;
	return n;
}

static void close_devices(struct hal_device **dev, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		hal_device_destroy(dev[i]);
}

/* Runs op on dev after restoring its in-place operand (dst) from init when given. */
static void run_on(struct hal_device *dev, const struct hal_op *op, const float *init)
{
	if (init)
		memcpy(op->dst->data, init, hal_tensor_bytes(op->dst));
	if (!dev->vt->supports(dev, op)) {
		printf("%s: %s variant left to the CPU (supports() says no)\n", dev->name,
		       hal_op_name(op->kind));
		return;
	}
	ck_assert_msg(dev->vt->run(dev, op) == HAL_OK, "%s: %s", dev->name, dev->error);
}

/* out within rel * max|want| of want, element by element. */
static void expect_close(const char *what, const float *got, const double *want, size_t n,
			 double rel)
{
	double top = 1e-30;

	for (size_t i = 0; i < n; i++)
		top = fmax(top, fabs(want[i]));
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(fabs(got[i] - want[i]) <= rel * top, "%s[%zu]: %.8g, expected %.8g",
			      what, i, (double)got[i], want[i]);
}

/* Every device's dst against the double formula want, in turn. */
static void check_devices(const char *what, const struct hal_op *op, const float *init,
			  const double *want, double rel)
{
	struct hal_device *dev[3];
	const uint32_t n = open_devices(dev);
	const size_t ne = (size_t)op->dst->ne[0] * op->dst->ne[1];
	char name[96];

	for (uint32_t i = 0; i < n; i++) {
		memset(op->dst->data, 0xff, hal_tensor_bytes(op->dst));
		run_on(dev[i], op, init);
		if (!dev[i]->vt->supports(dev[i], op))
			continue;
		snprintf(name, sizeof(name), "%s on %s", what, dev[i]->name);
		expect_close(name, op->dst->data, want, ne, i ? 1e-5 + rel : rel);
	}
	close_devices(dev, n);
}

/* NeoX rope with Llama-3 frequency factors and with none, a partial rotation (n_rot < hd). */
START_TEST(rope_neox_and_factors)
{
	enum { n_head = 3, hd = 16, n_rot = 12, T = 3 };
	const int32_t pos[T] = { 0, 7, 1000 };
	uint64_t rng = 11;
	struct hal_tensor *x = tu_tensor_rand("x", n_head * hd, T, &rng, 1.0f);
	struct hal_tensor *p = tu_tensor_i32("pos", pos, T);
	struct hal_tensor *ff = tu_tensor_new("ff", HAL_TYPE_F32, n_rot / 2, 1);
	float *init = tu_talloc(hal_tensor_bytes(x));
	double *want = tu_talloc(sizeof(double) * n_head * hd * T);

	memcpy(init, x->data, hal_tensor_bytes(x));
	sched_rope_llama3_factors(10000.0f, n_rot, 8.0f, 1.0f, 4.0f, 64, ff->data);
	for (int with_ff = 0; with_ff < 2; with_ff++) {
		struct hal_op op = { .kind = HAL_OP_ROPE, .src = { x, p, with_ff ? ff : NULL },
				     .dst = x };

		op.p.rope = (typeof(op.p.rope)){ n_head, hd, n_rot, 10000.0f, 0.5f, HAL_ROPE_NEOX };
		for (uint32_t t = 0; t < T; t++)
			for (uint32_t h = 0; h < n_head; h++) {
				const float *in = init + (size_t)t * n_head * hd + h * hd;
				double *out = want + (size_t)t * n_head * hd + h * hd;

				for (uint32_t i = 0; i < hd; i++)
					out[i] = in[i];
				for (uint32_t i = 0; i < n_rot / 2; i++) {
					double th = 0.5 * pos[t] * pow(10000.0, -2.0 * i / n_rot);
					if (with_ff)
						th /= ((float *)ff->data)[i];
					out[i] = in[i] * cos(th) - in[i + n_rot / 2] * sin(th);
					out[i + n_rot / 2] = in[i] * sin(th) + in[i + n_rot / 2] * cos(th);
				}
			}
		/* angles of ~1000 radians: float's rounding of the angle dominates */
		check_devices(with_ff ? "rope neox+factors" : "rope neox", &op, init, want, 5e-4);
	}
	/* the factors ramp from 1 (short waves) to 8 (long ones) */
	ck_assert_float_eq(((float *)ff->data)[0], 1.0f);
	ck_assert_float_eq(((float *)ff->data)[n_rot / 2 - 1], 8.0f);
}
END_TEST

/* GeGLU, a bias row added to every row, the embedding scale. */
START_TEST(geglu_bias_embed_scale)
{
	const uint32_t D = 40, T = 3;
	uint64_t rng = 12;
	struct hal_tensor *g = tu_tensor_rand("g", D, T, &rng, 4.0f);
	struct hal_tensor *u = tu_tensor_rand("u", D, T, &rng, 1.0f);
	struct hal_tensor *bias = tu_tensor_rand("b", D, 1, &rng, 1.0f);
	struct hal_tensor *y = tu_tensor_new("y", HAL_TYPE_F32, D, T);
	double *want = tu_talloc(sizeof(double) * D * T);
	const float *gf = g->data, *uf = u->data, *bf = bias->data;

	struct hal_op glu = { .kind = HAL_OP_SWIGLU, .src = { g, u }, .dst = y };
	glu.glu.act = HAL_GLU_GELU;
	for (uint32_t i = 0; i < D * T; i++)
		want[i] = 0.5 * gf[i] * (1 + tanh(sqrt(2 / M_PI) * (gf[i] + 0.044715 * pow(gf[i], 3)))) *
			  uf[i];
	check_devices("geglu", &glu, NULL, want, 2e-5);

	struct hal_op add = { .kind = HAL_OP_ADD, .src = { g, bias }, .dst = y };
	for (uint32_t i = 0; i < D * T; i++)
		want[i] = (double)gf[i] + bf[i % D];
	check_devices("bias add", &add, NULL, want, 1e-6);

	const int32_t ids[2] = { 2, 0 };
	struct hal_tensor *tab = tu_tensor_rand("table", D, 3, &rng, 1.0f);
	struct hal_tensor *e = tu_tensor_new("e", HAL_TYPE_F32, D, 2);
	struct hal_op embed = { .kind = HAL_OP_EMBED, .src = { tab, tu_tensor_i32("ids", ids, 2) },
				.dst = e };
	embed.embed.scale = sqrtf((float)D);
	for (uint32_t t = 0; t < 2; t++)
		for (uint32_t i = 0; i < D; i++)
			want[t * D + i] = ((float *)tab->data)[ids[t] * D + i] * sqrt((double)D);
	check_devices("embed scale", &embed, NULL, want, 1e-6);

	/* a bias is one row: two rows of a three-row input are refused */
	char msg[256];
	add.src[1] = tu_tensor_new("b2", HAL_TYPE_F32, D, 2);
	ck_assert_int_eq(hal_op_check(&add, msg, sizeof(msg)), HAL_ERR_INVALID);
	glu.glu.act = 7;
	ck_assert_int_eq(hal_op_check(&glu, msg, sizeof(msg)), HAL_ERR_INVALID);
	ck_assert_msg(strstr(msg, "glu.act 7"), "%s", msg);
}
END_TEST

/* Gemma-2's attention: soft-capped scores, a sliding window; and its capped logits. */
START_TEST(softcap_and_window)
{
	enum { n_head = 2, n_kv = 1, hd = 32, n_ctx = 12, T = 10, win = 3 };
	const float cap = 2.0f, scale = 0.7f;
	int32_t pos[T];
	uint64_t rng = 13;

	for (uint32_t t = 0; t < T; t++)
		pos[t] = (int32_t)t;
	struct hal_tensor *q = tu_tensor_rand("q", n_head * hd, T, &rng, 1.0f);
	struct hal_tensor *k = tu_tensor_rand("k", n_kv * hd, T, &rng, 1.0f);
	struct hal_tensor *v = tu_tensor_rand("v", n_kv * hd, T, &rng, 1.0f);
	struct hal_tensor *kc = tu_tensor_new("kc", HAL_TYPE_F32, n_kv * hd, n_ctx);
	struct hal_tensor *vc = tu_tensor_new("vc", HAL_TYPE_F32, n_kv * hd, n_ctx);
	struct hal_tensor *out = tu_tensor_new("out", HAL_TYPE_F32, n_head * hd, T);
	double *want = tu_talloc(sizeof(double) * n_head * hd * T);
	const float *qf = q->data, *kf = k->data, *vf = v->data;

	struct hal_op op = { .kind = HAL_OP_ATTENTION,
			     .src = { q, k, v, kc, vc, tu_tensor_i32("pos", pos, T) }, .dst = out };
	op.p.attn = (typeof(op.p.attn)){ n_head, n_kv, hd, scale, cap, win, false };
	for (uint32_t t = 0; t < T; t++)
		for (uint32_t h = 0; h < n_head; h++) {
			const uint32_t first = t + 1 > win ? t + 1 - win : 0;
			double s[T], sum = 0, mx = -INFINITY;

			for (uint32_t j = first; j <= t; j++) {
				double dot = 0;
				for (uint32_t i = 0; i < hd; i++)
					dot += (double)qf[t * n_head * hd + h * hd + i] * kf[j * hd + i];
				s[j] = cap * tanh(scale * dot / cap);
				mx = fmax(mx, s[j]);
			}
			for (uint32_t j = first; j <= t; j++)
				sum += s[j] = exp(s[j] - mx);
			for (uint32_t i = 0; i < hd; i++) {
				double acc = 0;
				for (uint32_t j = first; j <= t; j++)
					acc += s[j] / sum * vf[j * hd + i];
				want[t * n_head * hd + h * hd + i] = acc;
			}
		}
	check_devices("attention softcap+window", &op, NULL, want, 2e-5);

	/* the logits' cap on a matmul */
	struct hal_tensor *w = tu_tensor_rand("w", hd, 5, &rng, 2.0f);
	struct hal_tensor *y = tu_tensor_new("y", HAL_TYPE_F32, 5, 2);
	struct hal_op mm = { .kind = HAL_OP_MATMUL, .src = { w, q }, .dst = y };
	struct hal_tensor *x2 = tu_tensor_rand("x2", hd, 2, &rng, 2.0f);
	mm.src[1] = x2;
	mm.matmul.softcap = cap;
	for (uint32_t t = 0; t < 2; t++)
		for (uint32_t n = 0; n < 5; n++) {
			double dot = 0;
			for (uint32_t i = 0; i < hd; i++)
				dot += (double)((float *)w->data)[n * hd + i] *
				       ((float *)x2->data)[t * hd + i];
			want[t * 5 + n] = cap * tanh(dot / cap);
		}
	check_devices("matmul softcap", &mm, NULL, want, 2e-5);
	/* a capped accumulating matmul is not a form hal.h has */
	char msg[256];
	mm.matmul.accumulate = true;
	ck_assert_int_eq(hal_op_check(&mm, msg, sizeof(msg)), HAL_ERR_INVALID);
}
END_TEST

/* ---- models ---------------------------------------------------------------------------- */

struct layout {
	const char *what, *arch, *rope;
	uint32_t head_dim, swa;
	float rope_factor;
};

static const struct layout layouts[] = {
	{ "llama", "llama", NULL, 0, 0, 0 },
	{ "llama, llama3 rope scaling", "llama", "llama3", 0, 0, 0 },
	{ "llama, linear rope scaling", "llama", "linear", 0, 0, 4.0f },
	{ "qwen2", "qwen2", NULL, 0, 0, 0 },
	{ "phi3", "phi3", NULL, 0, 0, 0 },
	{ "gemma", "gemma", NULL, 48, 0, 0 },
	{ "gemma2", "gemma2", NULL, 48, 4, 0 },
};

static char *layout_model(const struct layout *l, enum hal_type type)
{
	struct mkmodel_params p;

	tu_small_params(&p, 128, 256, 64, type, 1234, NULL);
	p.arch = l->arch;
	p.head_dim = l->head_dim;
	p.swa_window = l->swa;
	p.rope_scaling = l->rope;
	p.rope_factor = l->rope_factor;
	p.tied = !strncmp(l->arch, "gemma", 5);
	return tu_model_of(&p);
}

/* every device is compared with an F32 KV cache: the weights' and ops' numerics alone */
static bool open_run(struct tu_session *r, const char *path, const char *device)
{
	return tu_session_open(r, path, device, ENPU_CACHE_F32);
}

static const float *eval(struct tu_session *r, const enpu_token *t, size_t n, size_t *nv)
{
	const float *l;

	ck_assert_msg(enpu_session_eval(r->sess, t, n) == ENPU_OK, "%s", enpu_last_error(r->ctx));
	ck_assert_int_eq(enpu_session_logits(r->sess, &l, nv), ENPU_OK);
	return l;
}

/* Each layout on every device against cpu-ref: prefill of 8, then 3 decode steps. */
START_TEST(layouts_agree_on_every_device)
{
	static const char *const devices[] = { "cpu", "gpu", "npu" };
	static const enpu_token toks[11] = { 1, 45, 96, 54, 71, 43, 99, 120, 77, 31, 64 };
	const struct layout *l = &layouts[_i];
	char *path = layout_model(l, HAL_TYPE_Q8_0);
	struct tu_session ref;
	struct enpu_model_info mi = { .struct_size = sizeof(mi) };

	ck_assert(open_run(&ref, path, "cpu-ref"));
	ck_assert_int_eq(enpu_model_info(ref.model, &mi), ENPU_OK);
	ck_assert_str_eq(mi.architecture, l->arch);
	for (size_t d = 0; d < sizeof(devices) / sizeof(devices[0]); d++) {
		struct tu_session r;
		double worst = 0, worst_cos = 1;

		if (!open_run(&r, path, devices[d])) {
			printf("%s: %s not available here, skipped\n", l->what, devices[d]);
			continue;
		}
		ck_assert_int_eq(enpu_session_reset(ref.sess), ENPU_OK);
		for (int step = 0; step <= 3; step++) {
			const size_t n = step ? 1 : 8;
			const enpu_token *t = step ? &toks[7 + step] : toks;
			size_t nv, nv2;
			const float *want = eval(&ref, t, n, &nv), *got = eval(&r, t, n, &nv2);
			double dot = 0, na = 0, nb = 0, mx = 0, top = 0;

			ck_assert_uint_eq(nv, nv2);
			for (size_t i = 0; i < nv; i++) {
				top = fmax(top, fabs((double)want[i]));
				dot += (double)got[i] * want[i];
				na += (double)got[i] * got[i];
				nb += (double)want[i] * want[i];
				mx = fmax(mx, fabs((double)got[i] - want[i]));
			}
			const double cos = dot / sqrt(na * nb);
			ck_assert_msg(mx <= 1e-4 * top && cos >= 0.999999,
				      "%s on %s, step %d: max |diff| %g of max |logit| %g, cosine %.7f",
				      l->what, devices[d], step, mx, top, cos);
			worst = fmax(worst, mx / top);
			worst_cos = fmin(worst_cos, cos);
		}
		printf("%s on %s vs cpu-ref: max |diff| %.2e of max |logit|, cosine >= %.7f\n",
		       l->what, devices[d], worst, worst_cos);
		tu_session_close(&r);
	}
	tu_session_close(&ref);
	free(path);
}
END_TEST

/* Linear rope scaling reaches the rotation: the same weights give other logits. */
START_TEST(linear_scaling_changes_logits)
{
	static const enpu_token toks[6] = { 1, 45, 96, 54, 71, 43 };
	char *base = layout_model(&layouts[0], HAL_TYPE_F32);
	char *scaled = layout_model(&layouts[2], HAL_TYPE_F32);
	struct tu_session a, b;
	size_t na, nb;

	/* same weights (the seeds do not depend on the keys), linear scaling 4: other angles */
	ck_assert(open_run(&a, base, "cpu"));
	ck_assert(open_run(&b, scaled, "cpu"));
	const float *la = eval(&a, toks, 6, &na), *lb = eval(&b, toks, 6, &nb);
	double mx = 0;
	for (size_t i = 0; i < na; i++)
		mx = fmax(mx, fabs((double)la[i] - lb[i]));
	ck_assert_msg(mx > 1e-3, "linear rope scaling changed no logit (max diff %g)", mx);
	tu_session_close(&a);
	tu_session_close(&b);
	free(base);
	free(scaled);
}
END_TEST



/* Unknown architectures, missing, misshapen or unused tensors, unsupported scaling: named. */
START_TEST(bad_files_named)
{
	char *qwen2 = layout_model(&layouts[3], HAL_TYPE_Q8_0);
	char *phi3 = layout_model(&layouts[4], HAL_TYPE_Q8_0);
	char *gemma = layout_model(&layouts[5], HAL_TYPE_Q8_0);
	char *gemma2 = layout_model(&layouts[6], HAL_TYPE_Q8_0);
	char *llama3 = layout_model(&layouts[1], HAL_TYPE_Q8_0);
	const uint32_t v_len = 32;
	const float nan_cap = NAN;
	const struct {
		const char *src;
		struct tu_edit e;
		enpu_status st;
		const char *needle;
	} bad[] = {
		{ qwen2, { .key = "general.architecture", .str = "gemma3" }, ENPU_ERR_UNSUPPORTED,
		  "general.architecture is 'gemma3'" },
		{ qwen2, { .drop = "blk.1.attn_k.weight" }, ENPU_ERR_FORMAT,
		  "tensor 'blk.1.attn_k.weight' is missing" },
		{ qwen2, { .from = "blk.0.attn_v.bias", .to = "blk.0.attn_q.bias",
			   .drop = "blk.0.attn_q.bias" }, ENPU_ERR_FORMAT,
		  "tensor 'blk.0.attn_q.bias' has shape [64], expected [128]" },
		{ qwen2, { .from = "blk.0.attn_q.bias", .to = "output.bias" }, ENPU_ERR_UNSUPPORTED,
		  "tensor 'output.bias' is not part of a qwen2 model" },
		{ phi3, { .drop = "blk.0.ffn_up.weight" }, ENPU_ERR_FORMAT,
		  "'blk.0.ffn_up.weight' are missing" },
		{ phi3, { .from = "blk.1.attn_qkv.weight", .to = "blk.1.attn_q.weight" },
		  ENPU_ERR_FORMAT, "tensor 'blk.1.attn_q.weight' has shape [128 x 256]" },
		{ phi3, { .key = "phi3.rope.scaling.type", .str = "yarn" }, ENPU_ERR_UNSUPPORTED,
		  "phi3.rope.scaling.type 'yarn' is not supported" },
		{ gemma, { .key = "gemma.attention.value_length", .u32 = &v_len },
		  ENPU_ERR_UNSUPPORTED, "gemma.attention.value_length 32 differs from the key length 48" },
		{ gemma, { .drop = "blk.1.ffn_down.weight" }, ENPU_ERR_FORMAT,
		  "tensor 'blk.1.ffn_down.weight' is missing" },
		/* tensors the architecture has in every layer, not only where a file has them */
		{ qwen2, { .drop = "blk.1.attn_k.bias" }, ENPU_ERR_FORMAT,
		  "tensor 'blk.1.attn_k.bias' is missing (a qwen2 model has Q, K and V biases)" },
		{ gemma2, { .drop = "blk.1.post_ffw_norm.weight" }, ENPU_ERR_FORMAT,
		  "tensor 'blk.1.post_ffw_norm.weight' is missing (a gemma2 model has post-norms)" },
		{ gemma2, { .key = "gemma2.final_logit_softcapping", .f32 = &nan_cap },
		  ENPU_ERR_FORMAT, "final_logit_softcapping nan" },
		{ llama3, { .from = "rope_freqs.weight", .to = "rope_factors_long.weight" },
		  ENPU_ERR_UNSUPPORTED, "tensor 'rope_factors_long.weight' (LongRoPE scaling)" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *path = tu_model_edited(bad[i].src, &bad[i].e);

		tu_expect_load_error(path, bad[i].st, bad[i].needle);
		free(path);
	}
	free(qwen2);
	free(phi3);
	free(gemma);
	free(gemma2);
	free(llama3);
}
END_TEST

/* Llama-3 scaling by keys (no rope_freqs.weight) computes the tensor the converter writes. */
START_TEST(llama3_keys_equal_tensor)
{
	static const enpu_token toks[6] = { 1, 45, 96, 54, 71, 43 };
	char *tensor = layout_model(&layouts[1], HAL_TYPE_F32);
	char *keys0 = tu_model_edited(tensor, &(struct tu_edit){ .key = "llama.rope.scaling.type",
						     .str = "llama3" });
	char *keys = tu_model_edited(keys0, &(struct tu_edit){ .drop = "rope_freqs.weight" });
	struct tu_session a, b;
	size_t na, nb;

	ck_assert(open_run(&a, tensor, "cpu-ref"));
	ck_assert(open_run(&b, keys, "cpu-ref"));
	const float *la = eval(&a, toks, 6, &na), *lb = eval(&b, toks, 6, &nb);
	ck_assert_uint_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		ck_assert_msg(la[i] == lb[i], "logit %zu: %g (tensor) vs %g (keys)", i, la[i], lb[i]);
	tu_session_close(&a);
	tu_session_close(&b);
	free(tensor);
	free(keys0);
	free(keys);
}
END_TEST

static Suite *arch_suite(void)
{
	Suite *s = suite_create("arch");
	TCase *ops = tcase_create("ops"), *models = tcase_create("models");

	tcase_add_checked_fixture(ops, NULL, tu_pool_free);
	tcase_set_timeout(ops, 300); /* each check opens the OpenCL device (slow under ASan) */
	tcase_add_test(ops, rope_neox_and_factors);
	tcase_add_test(ops, geglu_bias_embed_scale);
	tcase_add_test(ops, softcap_and_window);
	suite_add_tcase(s, ops);
	tcase_set_timeout(models, 600);
	tcase_add_loop_test(models, layouts_agree_on_every_device, 0,
			    sizeof(layouts) / sizeof(layouts[0]));
	tcase_add_test(models, linear_scaling_changes_logits);
	tcase_add_test(models, bad_files_named);
	tcase_add_test(models, llama3_keys_equal_tensor);
	suite_add_tcase(s, models);
	return s;
}

int main(void)
{
	return tu_run_suite(arch_suite());
}
