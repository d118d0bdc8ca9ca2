/* SPDX-License-Identifier: MIT */
/*
 * fuzz_profile.c - the device-profile parser (sched/profile.h): sched_profile_parse() on the
 * input as the text of a .prof file. Profiles come from the user (--profile FILE), so any
 * text must give a profile or a message, and an accepted profile must satisfy what the cost
 * model relies on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched/profile.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the parser takes a C string: a NUL inside the input ends the text early, as in a file */
	char *text = malloc(size + 1);
	struct sched_profile *p = malloc(sizeof(*p));
	char err[256] = "";

	if (!text || !p)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (sched_profile_parse(text, "fuzz.prof", p, err, sizeof(err)) == SCHED_OK) {
		FUZZ_CHECK(p->n_dev <= SCHED_MAX_DEVS, "%u devices", p->n_dev);
		for (uint32_t d = 0; d < p->n_dev; d++)
			FUZZ_CHECK(p->dev[d].n_opp >= 1 && p->dev[d].n_opp <= SCHED_MAX_OPPS,
				   "device %u: %u OPPs", d, p->dev[d].n_opp);
	} else {
		FUZZ_CHECK(err[0], "refused without a message");
	}
	free(p);
	free(text);
	return 0;
}
