/*
 * clock.h - monotonic and wall-clock time in the units crier uses.
 *
 * Timeouts and latencies use the monotonic clock (never jumps); the wall
 * clock is only for Date headers, logs and ids that humans read.
 */
#ifndef CRIER_CORE_CLOCK_H
#define CRIER_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic milliseconds since an arbitrary start. */
static inline uint64_t clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Monotonic microseconds since an arbitrary start. */
static inline uint64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wall-clock seconds since the Unix epoch. */
static inline int64_t clock_wall_s(void)
{
	return (int64_t)time(NULL);
}

/* Wall-clock milliseconds since the Unix epoch. */
static inline int64_t clock_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
