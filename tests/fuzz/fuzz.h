/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - the contract of a fuzz target (tests/fuzz/fuzz_<target>.c).
 *
 * Each target defines LLVMFuzzerTestOneInput() and, when it needs set-up that is too slow per
 * input (a vocabulary, a device context), LLVMFuzzerInitialize(). The same source links two
 * ways: with clang's -fsanitize=fuzzer, where libFuzzer's main() mutates inputs (tests/fuzz/
 * run.sh), and with replay.c, a plain main() that feeds the corpus and the regression inputs
 * once each, so the normal and sanitizer test suites replay every input with gcc.
 *
 * A target must be deterministic (the same input takes the same path) and must leave no state
 * behind between inputs except what its initializer sets up once: otherwise a crash found by
 * the fuzzer does not reproduce from its minimised input alone. Bad input is the point: a
 * target returns 0 on every input, and only a crash, a hang, a leak or a sanitizer report is
 * a finding (abort() in a target is for an invariant of the code under test that broke).
 */
#ifndef EDGE_NPU_FUZZ_H
#define EDGE_NPU_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Stops the run with the reason when an invariant of the code under test does not hold. */
#define FUZZ_CHECK(cond, ...)                                                                \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz invariant %s failed at %s:%d: ", #cond, __FILE__,  \
				__LINE__);                                                   \
			fprintf(stderr, __VA_ARGS__);                                        \
			fputc('\n', stderr);                                                 \
			abort();                                                             \
		}                                                                            \
	} while (0)

#endif
