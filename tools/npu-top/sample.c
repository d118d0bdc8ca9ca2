/* SPDX-License-Identifier: MIT */
/*
 * sample.c - one sample: every source in turn, and the device and client tables they fill.
 */
#include <string.h>

#include "hal/hal.h"
#include "sample.h"

void take_sample(struct sample *s)
{
	memset(s, 0, offsetof(struct sample, devs));
	scan_kernel(s);
	scan_genl(s);
	scan_sim_devfreq(s);
	scan_fdinfo(s);
	scan_shm(s);
	s->t_ns = hal_now_ns();
}

struct dev *find_dev(const struct sample *s, const char *id)
{
	for (int i = 0; i < s->n_devs; i++)
		if (!strcmp(s->devs[i].id, id))
			return (struct dev *)&s->devs[i];
	return NULL;
}

const struct client *find_client(const struct sample *s, const char *key)
{
	for (int i = 0; i < s->n_clients; i++)
		if (!strcmp(s->clients[i].key, key))
			return &s->clients[i];
	return NULL;
}

struct dev *add_dev(struct sample *s, const char *id)
{
	struct dev *d = find_dev(s, id);

	if (d)
		return d;
	if (s->n_devs == MAX_DEVS)
		return NULL;
	d = &s->devs[s->n_devs++];
	memset(d, 0, sizeof(*d));
	strf(d->id, sizeof(d->id), "%s", id);
	return d;
}

struct client *add_client(struct sample *s)
{
	struct client *c;

	if (s->n_clients == MAX_CLIENTS)
		return NULL;
	c = &s->clients[s->n_clients++];
	memset(c, 0, sizeof(*c));
	return c;
}

const char *thermal_name(uint32_t thermal_state)
{
	static const char *const names[] = { "normal", "passive", "critical" };

	return thermal_state < 3 ? names[thermal_state] : "?";
}
