/*
 * backoff.c - exponential backoff with full jitter (see backoff.h).
 *
 * Owns only arithmetic. The doubling stops as soon as it reaches the cap,
 * so a large attempt count never shifts a 64-bit value out of range, and
 * the jitter scales the cap by rnd / 2^32 in 128-bit-free arithmetic: the
 * cap is at most 2^32 ms after clamping (about 50 days), which keeps
 * rnd * (cap + 1) inside 64 bits.
 */
#include "client/backoff.h"

#define BACKOFF_CAP_LIMIT_MS ((uint64_t)UINT32_MAX) /* keeps the jitter product in 64 bits */

uint64_t backoff_cap_ms(uint32_t attempt, uint64_t min_ms, uint64_t max_ms, uint64_t retry_ms)
{
	uint64_t base = retry_ms > 0 ? retry_ms : min_ms;
	uint64_t max = max_ms > base ? max_ms : base;
	if (max > BACKOFF_CAP_LIMIT_MS)
		max = BACKOFF_CAP_LIMIT_MS;
	uint64_t cap = base < max ? base : max;
	for (uint32_t i = 0; i < attempt && cap < max; i++)
		cap = cap > max / 2 ? max : cap * 2;
	return cap;
}

uint64_t backoff_delay_ms(uint32_t attempt, uint64_t min_ms, uint64_t max_ms, uint64_t retry_ms,
                          uint32_t rnd)
{
	uint64_t cap = backoff_cap_ms(attempt, min_ms, max_ms, retry_ms);
	/* floor(rnd * (cap + 1) / 2^32) lies in [0, cap]; UINT32_MAX maps to cap
	 * exactly when rounded up, which the final clamp provides. */
	uint64_t d = ((uint64_t)rnd * (cap + 1)) >> 32;
	if (rnd == UINT32_MAX)
		d = cap;
	return d;
}
