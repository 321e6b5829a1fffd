/*
 * bench_hist.h - the latency histogram of `crier bench`: log-linear
 * buckets over the whole uint64_t range, fixed size, no allocation.
 *
 * Values below 2 * 64 have a bucket each (exact). Above, every power of
 * two [2^e, 2^(e+1)) is cut into 64 equal buckets of width 2^(e-6), so a
 * bucket's midpoint is within 1/128 (0.79 %) of any value in it, at every
 * scale from nanoseconds to centuries. That is HdrHistogram's idea with
 * two significant digits fixed: 3,776 counters (30 KiB), recording is a
 * count-leading-zeros and an increment, percentiles are one scan.
 *
 * The unit is the caller's (the modes record nanoseconds). The exact
 * minimum and maximum are kept beside the buckets, and every quantile is
 * clamped to them, so p100 is the true maximum and a one-value histogram
 * answers that value for every q.
 *
 * Thread: none. A histogram belongs to one thread; threads keep their own
 * and the owner merges them (bench_hist_merge) once they are done.
 */
#ifndef CRIER_BENCH_BENCH_HIST_H
#define CRIER_BENCH_BENCH_HIST_H

#include <stdint.h>

#define BENCH_HIST_SUB_BITS 6u                          /* 64 buckets per power of two */
#define BENCH_HIST_SUB      (1u << BENCH_HIST_SUB_BITS) /* 64 */
/* 128 exact buckets, then 64 per power of two for exponents 7..63. */
#define BENCH_HIST_LEN (2u * BENCH_HIST_SUB + (63u - BENCH_HIST_SUB_BITS) * BENCH_HIST_SUB)

struct bench_hist {
	uint64_t count; /* values recorded */
	uint64_t min;   /* smallest value recorded; UINT64_MAX while count is 0 */
	uint64_t max;   /* largest value recorded; 0 while count is 0 */
	double sum;     /* of the values, for the mean (a double: no overflow) */
	uint64_t buckets[BENCH_HIST_LEN];
};

/* The bucket of v. Monotonic in v; BENCH_HIST_LEN - 1 for UINT64_MAX. */
static inline unsigned bench_hist_index(uint64_t v)
{
	if (v < 2u * BENCH_HIST_SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS + 1 */
	unsigned shift = e - BENCH_HIST_SUB_BITS;
	return 2u * BENCH_HIST_SUB + (shift - 1u) * BENCH_HIST_SUB +
	       (unsigned)((v >> shift) - BENCH_HIST_SUB);
}

/* Empties h (min = UINT64_MAX, everything else 0). */
void bench_hist_init(struct bench_hist *h);

/* Counts one value. */
static inline void bench_hist_record(struct bench_hist *h, uint64_t v)
{
	h->buckets[bench_hist_index(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Adds every count of src to dst: the histogram of both sets of values. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/* The lowest value of bucket idx, and the midpoint reported for it (exact
 * for the first 128 buckets). idx < BENCH_HIST_LEN. */
uint64_t bench_hist_bucket_low(unsigned idx);
uint64_t bench_hist_bucket_mid(unsigned idx);

/* The value at quantile q (0..1; 0.99 is p99): the midpoint of the bucket
 * holding the (q * count)-th smallest value, clamped to [min, max]. 0 for
 * an empty histogram. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/* The arithmetic mean; 0 for an empty histogram. */
double bench_hist_mean(const struct bench_hist *h);

#endif
