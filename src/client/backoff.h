/*
 * backoff.h - reconnect delays: exponential backoff with full jitter.
 *
 * Pure: libc only, no state, no clock and no random source of its own; the
 * caller passes one random word per call, so a test can pin every delay.
 * "Full jitter" (each delay uniform in [0, cap]) spreads a herd of clients
 * that lost the same server at the same instant across the whole window
 * instead of bunching them at its edges.
 */
#ifndef CRIER_CLIENT_BACKOFF_H
#define CRIER_CLIENT_BACKOFF_H

#include <stdint.h>

/*
 * The window for a retry: min(max_eff, base * 2^attempt) where base is
 * retry_ms when the server sent a `retry:` (retry_ms > 0), else min_ms, and
 * max_eff is max(max_ms, base) so that a server asking for a longer pause
 * than the client's cap is still honoured. attempt counts from 0 (the first
 * retry after a failure). A base of 0 gives a cap of 0.
 */
uint64_t backoff_cap_ms(uint32_t attempt, uint64_t min_ms, uint64_t max_ms, uint64_t retry_ms);

/*
 * One delay, uniform in [0, backoff_cap_ms(...)] (both ends reachable):
 * rnd is a uniformly random 32-bit word from the caller's source; rnd 0
 * gives 0 and UINT32_MAX gives the cap.
 */
uint64_t backoff_delay_ms(uint32_t attempt, uint64_t min_ms, uint64_t max_ms, uint64_t retry_ms,
                          uint32_t rnd);

#endif
