/*
 * bench_hist.c - the log-linear latency histogram (see bench_hist.h).
 *
 * Owns bucket arithmetic and the quantile scan; recording is inline in
 * the header because it runs once per delivery. Never allocates. The one
 * choice worth a word: a quantile reports a bucket's midpoint rather than
 * its lower bound, which halves the worst error (1/128 instead of 1/64)
 * and keeps the estimate unbiased for values spread across the bucket.
 */
#include "bench/bench_hist.h"

#include <assert.h>
#include <string.h>

static_assert(BENCH_HIST_LEN == 3776, "128 exact buckets + 57 powers of two x 64");

void bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	for (unsigned i = 0; i < BENCH_HIST_LEN; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Bucket idx >= 128 covers [(SUB + k) << shift, (SUB + k + 1) << shift). */
static unsigned bench_hist_shift(unsigned idx)
{
	return (idx - 2u * BENCH_HIST_SUB) / BENCH_HIST_SUB + 1u;
}

uint64_t bench_hist_bucket_low(unsigned idx)
{
	assert(idx < BENCH_HIST_LEN);
	if (idx < 2u * BENCH_HIST_SUB)
		return idx;
	unsigned shift = bench_hist_shift(idx);
	uint64_t k = (idx - 2u * BENCH_HIST_SUB) % BENCH_HIST_SUB;
	return (BENCH_HIST_SUB + k) << shift;
}

uint64_t bench_hist_bucket_mid(unsigned idx)
{
	if (idx < 2u * BENCH_HIST_SUB)
		return idx;
	/* Half the width, 2^(shift-1): no overflow even in the top bucket. */
	return bench_hist_bucket_low(idx) + ((uint64_t)1 << (bench_hist_shift(idx) - 1u));
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	/* The rank (0-based) of the value wanted. */
	uint64_t want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	uint64_t seen = 0, v = h->max;
	for (unsigned i = 0; i < BENCH_HIST_LEN; i++) {
		seen += h->buckets[i];
		if (seen > want) {
			v = bench_hist_bucket_mid(i);
			break;
		}
	}
	if (v < h->min)
		return h->min;
	return v > h->max ? h->max : v;
}

double bench_hist_mean(const struct bench_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}
