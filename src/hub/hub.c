/*
 * hub.c - channels, publish, subscribe, catch-up and per-worker delivery.
 *
 * Locking: one mutex (the hub lock) guards the channel table, every
 * channel's history and counters, the engine, and the workers' inboxes.
 * It is held for the length of a publish (a hash lookup, an engine append,
 * a few pointer pushes) and of a catch-up batch collection; never while
 * calling into a transport. A worker's list of local subscribers on a
 * channel is touched only by that worker, so delivery runs without it.
 *
 * Channels are created on first publish or subscribe and kept for the
 * life of the process (bounded by --max-channels): messages in flight point
 * at their channel, and keeping channels makes that pointer always valid.
 */
#include "hub/hub.h"
#include "hub/stats.h"

#include "core/name.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "net/metrics.h"
#include "net/worker.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HUB_BATCH_MAX      1024  /* messages per catch-up step */
#define HUB_REAPED_SLOTS   16384 /* remembered reaped channels (256 KiB) */
#define HUB_LIVE_MARGIN_MS 100   /* clock slack between nodes, for a remote engine's live start */

/* A reaped channel's evicted_seq, so that re-creating the channel keeps
 * the gap contract: a resume from before its evicted messages is still
 * told. Direct-mapped by name hash; a displaced mark raises reap_floor,
 * which errs towards a gap notice, never towards a silent skip. */
struct hub_reaped {
	uint64_t hash;
	uint64_t seq;
};

enum hub_gap { HUB_GAP_EXPIRED = 0, HUB_GAP_EPOCH, HUB_GAP_UNKNOWN, HUB_GAP_N };
static const char *const hub_gap_names[HUB_GAP_N] = {"expired", "epoch", "unknown"};

/* A worker's hub state: its inbox and its counters (it is their only writer). */
struct hub_worker {
	struct hub *h;
	struct worker *w;
	uv_async_t wake;
	uv_timer_t tick;    /* worker 0 only: history TTL */
	struct msg **inbox; /* hub lock */
	size_t inbox_len, inbox_cap;
	struct msg **spare; /* drained without the lock */
	size_t spare_cap;
	metric_t deliveries;
	metric_t gaps[HUB_GAP_N];
	metric_t slow_disconnects, slow_catchups;
	struct list touched;        /* subscribers with a batch_end due */
	struct hub_channel **ready; /* channels whose waiting subscribers may start; hub lock */
	size_t ready_len, ready_cap;
};

struct hub {
	uv_mutex_t lock;
	struct hub_config cfg; /* hub lock */
	struct engine *eng;    /* hub lock */
	struct server *srv;
	uint32_t n_workers;
	struct hub_worker **workers;
	struct hub_channel **buckets; /* hub lock */
	uint32_t n_buckets, n_channels;
	uint64_t published;            /* hub lock */
	uint64_t reaped;               /* channels freed by the reaper; hub lock */
	uint32_t sweep_pos;            /* next bucket the reaper looks at; hub lock */
	struct hub_reaped *marks;      /* eviction marks of reaped channels, by name hash */
	uint64_t reap_floor;           /* marks displaced from marks[]: applies to every name */
	uint64_t channel_limit_hits;   /* hub lock */
	uint64_t stats_ms;             /* monotonic time of the previous hub_stats; hub lock */
	uint64_t stats_published;      /* published at that scan */
	uint64_t stats_deliveries;     /* deliveries at that scan */
	uint64_t bytes_evicted_logged; /* ENGINE_EVICT_BYTES count at the last warning */
	int64_t bytes_warned_s;
	struct hub_remote remote; /* interest is NULL with the memory engine */
	uint64_t remote_seq;      /* the remote sequence as last read (hub_sync); hub lock */
};

bool hub_channel_name_valid(const char *name, size_t len)
{
	return name_channel_valid(name, len);
}

static uint64_t hub_hash(const char *s, size_t len)
{
	uint64_t x = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++) {
		x ^= (unsigned char)s[i];
		x *= 1099511628211ull;
	}
	return x;
}

static struct hub_channel *hub_find(struct hub *h, const char *name, size_t len, uint64_t hash)
{
	for (struct hub_channel *c = h->buckets[hash & (h->n_buckets - 1)]; c; c = c->next)
		if (c->hash == hash && c->name_len == len && memcmp(c->name, name, len) == 0)
			return c;
	return NULL;
}

static void hub_rehash(struct hub *h)
{
	uint32_t nb = h->n_buckets * 2;
	struct hub_channel **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the smaller table: slower, still correct */
	for (uint32_t i = 0; i < h->n_buckets; i++) {
		struct hub_channel *c = h->buckets[i];
		while (c) {
			struct hub_channel *next = c->next;
			c->next = b[c->hash & (nb - 1)];
			b[c->hash & (nb - 1)] = c;
			c = next;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->n_buckets = nb;
}

/* Finds or creates a channel; hub lock held. NULL with *err set on failure. */
static struct hub_channel *hub_channel_get(struct hub *h, const char *name, size_t len, int *err)
{
	uint64_t hash = hub_hash(name, len);
	struct hub_channel *c = hub_find(h, name, len, hash);
	if (c)
		return c;
	/* Reserved channels are outside --max-channels: the dashboard must
	 * work on a full hub, and there are only a fixed few of them. */
	if (h->n_channels >= h->cfg.max_channels && !name_reserved(name, len)) {
		h->channel_limit_hits++;
		*err = CRIER_EOVERLOAD;
		return NULL;
	}
	c = calloc(1, sizeof(*c) + h->n_workers * sizeof(c->local[0]));
	if (!c) {
		*err = CRIER_ENOMEM;
		return NULL;
	}
	c->hash = hash;
	const struct hub_reaped *r = &h->marks[hash & (HUB_REAPED_SLOTS - 1)];
	c->hist.evicted_seq = r->seq && r->hash == hash ? r->seq : 0;
	if (h->reap_floor > c->hist.evicted_seq)
		c->hist.evicted_seq = h->reap_floor;
	c->last_seq = 0;
	c->name_len = (uint8_t)len;
	memcpy(c->name, name, len);
	for (uint32_t i = 0; i < h->n_workers; i++)
		list_init(&c->local[i].subs);
	c->next = h->buckets[hash & (h->n_buckets - 1)];
	h->buckets[hash & (h->n_buckets - 1)] = c;
	if (++h->n_channels > h->n_buckets)
		hub_rehash(h);
	/* A replica's channel is empty until the engine has loaded it. */
	atomic_init(&c->ready, h->remote.interest == NULL);
	if (h->remote.interest)
		h->remote.interest(h->remote.ctx, c->name, c->name_len, HUB_INTEREST_ON);
	return c;
}

/* Pushes a reference to m on worker i's inbox; hub lock held. */
static bool hub_inbox_push(struct hub_worker *hw, struct msg *m)
{
	if (hw->inbox_len == hw->inbox_cap) {
		size_t cap = hw->inbox_cap ? hw->inbox_cap * 2 : 64;
		struct msg **p = realloc(hw->inbox, cap * sizeof(*p));
		if (!p)
			return false;
		hw->inbox = p;
		hw->inbox_cap = cap;
	}
	hw->inbox[hw->inbox_len++] = msg_ref(m);
	return hw->inbox_len == 1; /* the first entry needs a wake-up */
}

/* Warns (at most every 10 s) that the byte cap is evicting history. */
static void hub_warn_full(struct hub *h)
{
	uint64_t ev = h->eng->evicted[ENGINE_EVICT_BYTES];
	int64_t now = clock_wall_s();
	if (ev == h->bytes_evicted_logged || now - h->bytes_warned_s < 10)
		return;
	h->bytes_evicted_logged = ev;
	h->bytes_warned_s = now;
	log_warn("history byte cap reached: evicting the oldest messages",
	         "history_max_bytes=%" PRIu64 " evicted_total=%" PRIu64,
	         h->cfg.limits.history_max_bytes, ev);
}

/* Appends m to ch through the engine and puts it in the inbox of every
 * worker with subscribers on ch, marking in wake the workers to wake
 * (hub_wake, after the lock is released); hub lock held. */
static int hub_append(struct hub *h, struct hub_channel *ch, struct msg *m, bool *wake)
{
	m->ch = ch;
	atomic_fetch_add_explicit(&ch->live_msgs, 1, memory_order_relaxed);
	int err = h->eng->ops->append(h->eng, &ch->hist, m, &h->cfg.limits, clock_mono_ms());
	if (err)
		return err;
	ch->last_seq = m->id.seq;
	ch->published++;
	h->published++;
	for (uint32_t i = 0; i < h->n_workers; i++)
		if (ch->local[i].count)
			wake[i] = hub_inbox_push(h->workers[i], m);
	hub_warn_full(h);
	return 0;
}

static void hub_wake(struct hub *h, const bool *wake)
{
	for (uint32_t i = 0; i < h->n_workers; i++)
		if (wake[i])
			uv_async_send(&h->workers[i]->wake);
}

int hub_publish(struct hub *h, const char *name, size_t name_len, struct msg *m,
                uint32_t *subscribers)
{
	if (!hub_channel_name_valid(name, name_len))
		return CRIER_EINVAL;
	if (h->remote.interest) {
		if (!name_reserved(name, name_len) || !h->remote.publish_own)
			return CRIER_EREMOTE;
		*subscribers = hub_channel_subs(h, name, name_len);
		return h->remote.publish_own(h->remote.ctx, name, name_len, m);
	}
	bool wake[256] = {false};
	int err = 0;
	uv_mutex_lock(&h->lock);
	struct hub_channel *ch = hub_channel_get(h, name, name_len, &err);
	if (ch) {
		err = hub_append(h, ch, m, wake);
		if (!err)
			*subscribers = ch->subs_total;
	}
	uv_mutex_unlock(&h->lock);
	hub_wake(h, wake);
	return err;
}

/* The gap notice: {"from":"<position>","to":"<first id>"|null,"reason":...}. */
static void hub_gap_json(struct buf *j, const char *from, size_t from_len, const char *to,
                         enum hub_gap why)
{
	buf_puts(j, "{\"from\":\"");
	for (size_t i = 0; i < from_len; i++) {
		unsigned char c = (unsigned char)from[i];
		if (c == '"' || c == '\\')
			buf_printf(j, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			buf_printf(j, "\\u%04x", c); /* the raw id was not ours: keep it ASCII */
		else
			buf_append(j, &c, 1);
	}
	if (to)
		buf_printf(j, "\",\"to\":\"%s\",\"reason\":\"%s\"}", to, hub_gap_names[why]);
	else
		buf_printf(j, "\",\"to\":null,\"reason\":\"%s\"}", hub_gap_names[why]);
}

/* Builds the gap notice and hands it to the subscriber. */
static void hub_send_gap(struct hub_sub *s, const char *from, size_t from_len, const char *to,
                         enum hub_gap why)
{
	struct buf j = {0};
	hub_gap_json(&j, from, from_len, to, why);
	struct hub_worker *hw = s->w->ext[WORKER_EXT_HUB];
	metric_inc(&hw->gaps[why]);
	if (j.data)
		s->ops->gap(s, j.data, j.len);
	if (s->ops->batch_end && !list_linked(&s->touched))
		list_push(&hw->touched, &s->touched); /* a notice alone is news too */
	buf_free(&j);
}

/* Queues m on s; applies the slow policy when s goes over its budget. */
static void hub_sub_queue(struct hub_sub *s, struct hub_worker *hw, struct msg *m)
{
	if (s->ops->deliver(s, m) != 0) {
		s->dead = true;
		return;
	}
	s->cursor = m->id.seq;
	metric_inc(&hw->deliveries);
	if (s->ops->batch_end && !list_linked(&s->touched))
		list_push(&hw->touched, &s->touched);
	/* Slow means the peer is not taking bytes: over budget while the kernel
	 * pushes back. A burst queued in one loop turn is flushed at its end,
	 * so it only counts beyond a hard cap of 8 budgets. */
	uint64_t q = s->ops->queued(s);
	if (q <= s->budget || (q <= 8 * s->budget && !s->ops->pushback(s)))
		return;
	if (s->hub->cfg.slow_policy == HUB_SLOW_CATCHUP) {
		/* Stop taking live messages; the queue's drain resumes from history. */
		s->live = false;
		metric_inc(&hw->slow_catchups);
	} else {
		/* Out of the channels at once: its connection may take a while to
		 * go (a WebSocket's close), but it counts and receives no more. */
		metric_inc(&hw->slow_disconnects);
		s->ops->slow(s);
		hub_unsubscribe(s);
	}
}

/* Ends the delivery run for every subscriber that asked to know. */
static void hub_batch_end(struct hub_worker *hw)
{
	while (!list_empty(&hw->touched)) {
		struct hub_sub *s = container_of(list_first(&hw->touched), struct hub_sub, touched);
		list_unlink(&s->touched);
		s->ops->batch_end(s);
	}
}

/*
 * Hands a run of messages of one channel (ms[0..n), in id order) to the
 * worker's subscribers of that channel. Subscriber by subscriber, each
 * taking the whole run: a subscriber's state is brought into the cache
 * once per run, not once per message, which is what a burst to tens of
 * thousands of subscribers is bound by. Each subscriber still gets the
 * messages in id order, and one that stops being live (over its budget)
 * part-way gets none of the rest.
 */
static void hub_deliver_local(struct hub_worker *hw, struct msg *const *ms, size_t n)
{
	struct list *head = &ms[0]->ch->local[hw->w->id].subs;
	for (struct list *l = head->next, *next; l != head; l = next) {
		next = l->next; /* a transport never unsubscribes during delivery, but be safe */
		struct hub_sub *s = container_of(l, struct hub_sub_chan, node)->sub;
		for (size_t i = 0; i < n && !s->dead && s->live; i++) {
			struct msg *m = ms[i];
			if (m->id.epoch != s->epoch) {
				/* The remote engine lost its history (a new epoch): say
				 * so before the first message of the new life. */
				char from[ID_STR_MAX];
				struct id cur = {.epoch = s->epoch, .seq = s->cursor};
				size_t from_len = id_format(&cur, from);
				s->epoch = m->id.epoch;
				s->cursor = 0;
				hub_send_gap(s, from, from_len, m->id_str, HUB_GAP_EPOCH);
			}
			if (m->id.seq > s->cursor)
				hub_sub_queue(s, hw, m);
		}
	}
}

static void hub_unwait_channel(struct hub_worker *hw, struct hub_channel *ch);

static void hub_on_wake(uv_async_t *a)
{
	struct hub_worker *hw = a->data;
	struct hub *h = hw->h;
	uv_mutex_lock(&h->lock);
	struct msg **batch = hw->inbox;
	size_t n = hw->inbox_len, cap = hw->inbox_cap;
	hw->inbox = hw->spare;
	hw->inbox_cap = hw->spare_cap;
	hw->inbox_len = 0;
	struct hub_channel **ready = hw->ready;
	size_t n_ready = hw->ready_len;
	hw->ready = NULL;
	hw->ready_len = hw->ready_cap = 0;
	uv_mutex_unlock(&h->lock);
	/* Ready channels first: their subscribers start from history, which
	 * already holds what the inbox brings along with them. */
	for (size_t i = 0; i < n_ready; i++) {
		hub_unwait_channel(hw, ready[i]);
		/* The pin taken by hub_channel_ready: the reaper may have it now. */
		atomic_fetch_sub_explicit(&ready[i]->live_msgs, 1, memory_order_release);
	}
	free(ready);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && batch[j]->ch == batch[i]->ch; j++)
			;
		hub_deliver_local(hw, batch + i, j - i);
	}
	for (size_t i = 0; i < n; i++)
		msg_unref(batch[i]);
	hub_batch_end(hw);
	hw->spare = batch;
	hw->spare_cap = cap;
}

/*
 * Collects the next batch for a catching-up subscriber under the lock:
 * messages of its channels after its cursor, merged in seq order (each
 * channel's history is already sorted: a k-way merge, k <= 64), up to half
 * its budget and HUB_BATCH_MAX messages. Sets *lost when history no longer
 * holds some of them, and makes the subscriber live when the batch reaches
 * the end of history (under the lock, so nothing published afterwards can
 * be missed).
 */
static size_t hub_collect(struct hub_sub *s, struct msg **out, bool *lost)
{
	struct hub *h = s->hub;
	uint32_t next[HUB_SUB_CHANNELS_MAX];
	if (s->epoch != h->eng->epoch && !s->gap_pending) {
		/* History was lost under it (a remote engine's new epoch). */
		char from[ID_STR_MAX];
		struct id cur = {.epoch = s->epoch, .seq = s->cursor};
		s->gap_from_len = (uint8_t)id_format(&cur, from);
		memcpy(s->gap_from, from, s->gap_from_len);
		s->gap_why = HUB_GAP_EPOCH;
		s->gap_pending = true;
		s->from_oldest = true;
		s->cursor = 0;
		s->epoch = h->eng->epoch;
	}
	for (uint32_t i = 0; i < s->n_chans; i++) {
		struct history *hist = &s->chans[i].ch->hist;
		if (!s->from_oldest && hist->evicted_seq > s->cursor)
			*lost = true;
		next[i] = history_after(hist, s->cursor);
	}
	size_t n = 0;
	uint64_t bytes = 0;
	bool more = false;
	for (;;) {
		int best = -1;
		for (uint32_t i = 0; i < s->n_chans; i++) {
			const struct history *hist = &s->chans[i].ch->hist;
			if (next[i] < hist->len &&
			    (best < 0 ||
			     history_at(hist, next[i])->id.seq <
			             history_at(&s->chans[best].ch->hist, next[best])->id.seq))
				best = (int)i;
		}
		if (best < 0)
			break;
		struct msg *m = history_at(&s->chans[best].ch->hist, next[best]);
		if (n == HUB_BATCH_MAX || (n > 0 && bytes + m->data_len > s->budget / 2)) {
			more = true;
			break;
		}
		out[n++] = msg_ref(m);
		bytes += m->data_len;
		next[best]++;
	}
	if (!more) {
		s->live = true;
		if (n == 0)
			s->cursor = h->eng->seq; /* nothing to replay: now is the position */
	}
	return n;
}

static void hub_catchup(struct hub_sub *s)
{
	struct hub *h = s->hub;
	struct hub_worker *hw = s->w->ext[WORKER_EXT_HUB];
	struct msg **batch = malloc(HUB_BATCH_MAX * sizeof(*batch));
	if (!batch) {
		s->dead = true;
		s->ops->slow(s);
		return;
	}
	bool lost = false;
	uv_mutex_lock(&h->lock);
	size_t n = hub_collect(s, batch, &lost);
	uv_mutex_unlock(&h->lock);
	if (lost && !s->gap_pending) {
		char from[ID_STR_MAX];
		struct id cur = {.epoch = s->epoch, .seq = s->cursor};
		s->gap_from_len = (uint8_t)id_format(&cur, from);
		memcpy(s->gap_from, from, s->gap_from_len);
		s->gap_why = HUB_GAP_EXPIRED;
		s->gap_pending = true;
	}
	if (s->gap_pending) {
		s->gap_pending = false;
		hub_send_gap(s, s->gap_from, s->gap_from_len, n ? batch[0]->id_str : NULL,
		             (enum hub_gap)s->gap_why);
	}
	s->from_oldest = false;
	for (size_t i = 0; i < n; i++) {
		if (!s->dead)
			hub_sub_queue(s, hw, batch[i]);
		msg_unref(batch[i]);
	}
	free(batch);
	hub_batch_end(hw);
}

void hub_sub_drained(struct hub_sub *s)
{
	if (s->subscribed && !s->dead && !s->live && !s->waiting)
		hub_catchup(s);
}

/* An id, or "<epoch>-0": the position before the epoch's first message,
 * which a long-poll hands out as its cursor when nothing was published. */
static int hub_parse_position(const char *s, size_t len, struct id *out)
{
	if (len == 10 && s[8] == '-' && s[9] == '0') {
		char one[10];
		memcpy(one, s, 9);
		one[9] = '1';
		if (id_parse(one, 10, out) != 0)
			return CRIER_EINVAL;
		out->seq = 0;
		return 0;
	}
	return id_parse(s, len, out);
}

/* Decides where a subscription starts from the client's resume id. */
static void hub_resume_point(struct hub *h, struct hub_sub *s, const char *since, size_t len)
{
	struct id id;
	int why = -1;
	if (hub_parse_position(since, len, &id) != 0)
		why = HUB_GAP_UNKNOWN;
	else if (id.epoch != h->eng->epoch)
		why = HUB_GAP_EPOCH;
	else if (id.seq > h->eng->seq && id.seq > h->remote_seq)
		why = HUB_GAP_UNKNOWN; /* from the future: not a position we gave out */
	s->live = false;
	if (why < 0) {
		s->cursor = id.seq;
		return;
	}
	/* Never trusted as a position: say so, then start from the oldest. */
	s->cursor = 0;
	s->from_oldest = true;
	s->gap_pending = true;
	s->gap_why = (uint8_t)why;
	s->gap_from_len = (uint8_t)(len < sizeof(s->gap_from) ? len : sizeof(s->gap_from));
	memcpy(s->gap_from, since, s->gap_from_len);
}

/* Splits "a,b,c" into s->chans (validated, duplicates dropped). */
static int hub_parse_names(struct hub_sub *s, const char *names, size_t len, const char **starts,
                           size_t *lens)
{
	uint32_t n = 0;
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && names[j] != ',')
			j++;
		if (!hub_channel_name_valid(names + i, j - i) || n == HUB_SUB_CHANNELS_MAX)
			return CRIER_EINVAL;
		bool dup = false;
		for (uint32_t k = 0; k < n && !dup; k++)
			dup = lens[k] == j - i && memcmp(starts[k], names + i, j - i) == 0;
		if (!dup) {
			starts[n] = names + i;
			lens[n++] = j - i;
		}
		i = j + 1;
	}
	s->n_chans = n;
	return 0;
}

/* A resume on a replica: the position is judged once the engine has
 * brought the sequence up to date (hub_unwait); hub lock held. */
static void hub_wait_sync(struct hub *h, struct hub_sub *s, const char *since, size_t len)
{
	s->waiting = true;
	s->live = false;
	s->resume_pending = true;
	s->gap_from_len = (uint8_t)(len < sizeof(s->gap_from) ? len : sizeof(s->gap_from));
	memcpy(s->gap_from, since, s->gap_from_len);
	for (uint32_t i = 0; i < s->n_chans; i++)
		if (atomic_load(&s->chans[i].ch->ready))
			h->remote.interest(h->remote.ctx, s->chans[i].ch->name,
			                   s->chans[i].ch->name_len, HUB_INTEREST_SYNC);
}

/* Starts a waiting subscriber once all its channels are ready: live from
 * now, or from its resume position. Worker thread of s. */
static void hub_unwait(struct hub_sub *s)
{
	struct hub *h = s->hub;
	for (uint32_t i = 0; i < s->n_chans; i++)
		if (!atomic_load(&s->chans[i].ch->ready))
			return;
	s->waiting = false;
	uv_mutex_lock(&h->lock);
	s->epoch = h->eng->epoch;
	s->cursor = h->eng->seq;
	s->live = true;
	if (!s->resume_pending) {
		/* Live from when it subscribed, not from now: what was published
		 * while the channel loaded is in history, after the newest
		 * message older than the subscription. Times come from the
		 * publishing node's clock (to the ms): a margin makes a message
		 * published as it subscribed arrive, rather than be skipped. */
		uint64_t since =
		        s->waited_ms > HUB_LIVE_MARGIN_MS ? s->waited_ms - HUB_LIVE_MARGIN_MS : 0;
		uint64_t cur = 0;
		for (uint32_t i = 0; i < s->n_chans; i++) {
			const struct history *hist = &s->chans[i].ch->hist;
			for (uint32_t k = hist->len; k-- > 0;) {
				const struct msg *m = history_at(hist, k);
				if (m->time_ms < since) {
					cur = m->id.seq > cur ? m->id.seq : cur;
					break;
				}
			}
		}
		s->cursor = cur;
		s->live = false;
		s->from_oldest = true; /* older messages are not owed: no gap notice */
	} else {
		char since[sizeof(s->gap_from)];
		size_t len = s->gap_from_len;
		memcpy(since, s->gap_from, len);
		s->resume_pending = false;
		hub_resume_point(h, s, since, len);
	}
	uv_mutex_unlock(&h->lock);
	if (s->ops->started)
		s->ops->started(s);
	if (!s->live && !s->dead)
		hub_catchup(s);
}

/* A channel was (re)loaded: its waiting subscribers start, and live ones
 * that may have missed messages (the remote history moved past them while
 * this node was not listening, or was lost) catch up from history, which
 * tells them of the gap. */
static void hub_unwait_channel(struct hub_worker *hw, struct hub_channel *ch)
{
	struct hub *h = hw->h;
	uv_mutex_lock(&h->lock);
	uint32_t epoch = h->eng->epoch;
	uint64_t evicted = ch->hist.evicted_seq;
	uv_mutex_unlock(&h->lock);
	struct list *head = &ch->local[hw->w->id].subs;
	for (struct list *n = head->next, *next; n != head; n = next) {
		next = n->next;
		struct hub_sub *s = container_of(n, struct hub_sub_chan, node)->sub;
		if (s->dead)
			continue;
		if (s->waiting) {
			hub_unwait(s);
		} else if (s->live && (s->epoch != epoch || s->cursor < evicted)) {
			s->live = false;
			hub_catchup(s);
		}
	}
}

int hub_subscribe(struct hub *h, struct hub_sub *s, struct worker *w, const char *names,
                  size_t names_len, const char *since, size_t since_len)
{
	const char *starts[HUB_SUB_CHANNELS_MAX];
	size_t lens[HUB_SUB_CHANNELS_MAX];
	/* The caller set ops and budget; the rest is the hub's, and these bytes
	 * may still hold an ended subscription (a keep-alive connection that
	 * long-polled before it asked for a stream): start from nothing. */
	*s = (struct hub_sub){.ops = s->ops, .budget = s->budget};
	int rc = hub_parse_names(s, names, names_len, starts, lens);
	if (rc)
		return rc;
	s->hub = h;
	s->w = w;
	s->chans = calloc(s->n_chans, sizeof(*s->chans));
	if (!s->chans)
		return CRIER_ENOMEM;
	uv_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < s->n_chans && !rc; i++) {
		struct hub_channel *ch = hub_channel_get(h, starts[i], lens[i], &rc);
		s->chans[i] = (struct hub_sub_chan){.ch = ch, .sub = s};
	}
	if (!rc) {
		for (uint32_t i = 0; i < s->n_chans; i++) {
			s->chans[i].ch->subs_total++;
			s->chans[i].ch->local[w->id].count++;
			if (!atomic_load(&s->chans[i].ch->ready))
				s->waiting = true;
		}
		s->epoch = h->eng->epoch;
		s->cursor = h->eng->seq;
		s->live = true;
		if (h->remote.interest && since)
			hub_wait_sync(h, s, since, since_len);
		else if (s->waiting) {
			s->live = false;
			s->waited_ms = clock_mono_ms();
		} else if (since)
			hub_resume_point(h, s, since, since_len);
	}
	uv_mutex_unlock(&h->lock);
	if (rc) {
		free(s->chans);
		s->chans = NULL;
		return rc;
	}
	for (uint32_t i = 0; i < s->n_chans; i++)
		list_push(&s->chans[i].ch->local[w->id].subs, &s->chans[i].node);
	s->subscribed = true;
	return 0;
}

bool hub_sub_has(const struct hub_sub *s, const char *name, size_t len)
{
	for (uint32_t i = 0; i < s->n_chans; i++) {
		const struct hub_channel *ch = s->chans[i].ch;
		if (ch->name_len == len && memcmp(ch->name, name, len) == 0)
			return true;
	}
	return false;
}

int hub_sub_drop(struct hub_sub *s, const char *name, size_t len)
{
	uint32_t i = 0;
	while (i < s->n_chans &&
	       !(s->chans[i].ch->name_len == len && memcmp(s->chans[i].ch->name, name, len) == 0))
		i++;
	if (i == s->n_chans)
		return CRIER_EINVAL;
	struct hub_channel *ch = s->chans[i].ch;
	list_unlink(&s->chans[i].node);
	uv_mutex_lock(&s->hub->lock);
	ch->subs_total--;
	ch->local[s->w->id].count--;
	uv_mutex_unlock(&s->hub->lock);
	/* Move the last entry into the hole; its list node moves with it. */
	uint32_t last = --s->n_chans;
	if (i != last) {
		list_unlink(&s->chans[last].node);
		s->chans[i] = s->chans[last];
		s->chans[i].node.next = s->chans[i].node.prev = NULL;
		list_push(&s->chans[i].ch->local[s->w->id].subs, &s->chans[i].node);
	}
	return 0;
}

uint32_t hub_sub_preview(struct hub_sub *s, struct buf *gap)
{
	struct hub *h = s->hub;
	uint32_t n = 0;
	uint64_t first = UINT64_MAX;
	const char *first_id = NULL;
	bool lost = false;
	uv_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < s->n_chans && !s->live; i++) {
		struct history *hist = &s->chans[i].ch->hist;
		uint32_t k = history_after(hist, s->cursor);
		n += hist->len - k;
		lost |= !s->from_oldest && hist->evicted_seq > s->cursor;
		if (k < hist->len && history_at(hist, k)->id.seq < first) {
			first = history_at(hist, k)->id.seq;
			first_id = history_at(hist, k)->id_str;
		}
	}
	char to[ID_STR_MAX];
	if (first_id)
		memcpy(to, first_id, ID_STR_MAX);
	uv_mutex_unlock(&h->lock);
	if (s->gap_pending || lost) {
		char from[ID_STR_MAX];
		struct id cur = {.epoch = s->epoch, .seq = s->cursor};
		size_t from_len = s->gap_pending ? s->gap_from_len : id_format(&cur, from);
		hub_gap_json(gap, s->gap_pending ? s->gap_from : from, from_len,
		             first_id ? to : NULL,
		             s->gap_pending ? (enum hub_gap)s->gap_why : HUB_GAP_EXPIRED);
	}
	return n;
}

void hub_sub_start(struct hub_sub *s)
{
	if (s->subscribed && !s->live && !s->dead && !s->waiting)
		hub_catchup(s);
}

void hub_unsubscribe(struct hub_sub *s)
{
	if (!s->subscribed)
		return;
	s->subscribed = false;
	s->dead = true;
	list_unlink(&s->touched);
	for (uint32_t i = 0; i < s->n_chans; i++)
		list_unlink(&s->chans[i].node);
	uv_mutex_lock(&s->hub->lock);
	for (uint32_t i = 0; i < s->n_chans; i++) {
		s->chans[i].ch->subs_total--;
		s->chans[i].ch->local[s->w->id].count--;
	}
	uv_mutex_unlock(&s->hub->lock);
	free(s->chans);
	s->chans = NULL;
}

void hub_set_remote(struct hub *h, const struct hub_remote *r)
{
	h->remote = *r;
}

bool hub_is_remote(const struct hub *h)
{
	return h->remote.interest != NULL;
}

/* The remote history was lost: drop the local replica and forget every
 * position of the old epoch; hub lock held. */
static void hub_new_epoch(struct hub *h, uint32_t epoch)
{
	if (h->eng->seq) /* not at start-up, when the first sync names the epoch */
		log_warn("the Redis engine's history was lost: new epoch, subscribers get a gap "
		         "notice",
		         "old_epoch=%08x new_epoch=%08x", h->eng->epoch, epoch);
	h->eng->ops->reset(h->eng);
	for (uint32_t i = 0; i < h->n_buckets; i++)
		for (struct hub_channel *c = h->buckets[i]; c; c = c->next) {
			c->last_seq = 0;
			c->hist.evicted_seq = 0;
		}
	memset(h->marks, 0, HUB_REAPED_SLOTS * sizeof(*h->marks));
	h->reap_floor = 0;
	h->eng->epoch = epoch;
	h->eng->seq = 0;
	h->remote_seq = 0;
}

int hub_deliver(struct hub *h, const char *name, size_t len, struct msg *m)
{
	bool wake[256] = {false};
	int err = 0;
	uv_mutex_lock(&h->lock);
	if (m->id.epoch != h->eng->epoch)
		hub_new_epoch(h, m->id.epoch);
	struct hub_channel *ch = hub_find(h, name, len, hub_hash(name, len));
	if (!ch || m->id.seq <= ch->last_seq) {
		uv_mutex_unlock(&h->lock);
		return 0; /* not wanted here any more, or already held */
	}
	err = hub_append(h, ch, m, wake);
	uv_mutex_unlock(&h->lock);
	hub_wake(h, wake);
	return err;
}

void hub_sync(struct hub *h, uint32_t epoch, uint64_t seq)
{
	uv_mutex_lock(&h->lock);
	if (epoch != h->eng->epoch)
		hub_new_epoch(h, epoch);
	/* Not the hub's own seq: that one says what was delivered here, and a
	 * subscriber with nothing to replay starts from it. */
	if (seq > h->remote_seq)
		h->remote_seq = seq;
	uv_mutex_unlock(&h->lock);
}

void hub_channel_ready(struct hub *h, const char *name, size_t len, uint64_t evicted_seq)
{
	bool wake[256] = {false};
	uv_mutex_lock(&h->lock);
	struct hub_channel *ch = hub_find(h, name, len, hub_hash(name, len));
	if (ch) {
		if (evicted_seq > ch->hist.evicted_seq)
			ch->hist.evicted_seq = evicted_seq;
		atomic_store(&ch->ready, true);
		for (uint32_t i = 0; i < h->n_workers; i++) {
			struct hub_worker *hw = h->workers[i];
			if (!ch->local[i].count)
				continue;
			if (hw->ready_len == hw->ready_cap) {
				size_t cap = hw->ready_cap ? hw->ready_cap * 2 : 16;
				struct hub_channel **p = realloc(hw->ready, cap * sizeof(*p));
				if (!p)
					continue; /* its waiting subscribers start at the next ready */
				hw->ready = p;
				hw->ready_cap = cap;
			}
			/* Pinned until the worker has looked at it (hub_reap). */
			atomic_fetch_add_explicit(&ch->live_msgs, 1, memory_order_relaxed);
			hw->ready[hw->ready_len++] = ch;
			wake[i] = true;
		}
	}
	uv_mutex_unlock(&h->lock);
	for (uint32_t i = 0; i < h->n_workers; i++)
		if (wake[i])
			uv_async_send(&h->workers[i]->wake);
}

uint32_t hub_channel_subs(struct hub *h, const char *name, size_t len)
{
	uv_mutex_lock(&h->lock);
	struct hub_channel *c = hub_find(h, name, len, hub_hash(name, len));
	uint32_t n = c ? c->subs_total : 0;
	uv_mutex_unlock(&h->lock);
	return n;
}

int hub_channel_json(struct hub *h, const char *name, size_t len, struct buf *out)
{
	if (!hub_channel_name_valid(name, len))
		return CRIER_EINVAL;
	uv_mutex_lock(&h->lock);
	struct hub_channel *c = hub_find(h, name, len, hub_hash(name, len));
	int rc = c ? 0 : CRIER_EINVAL;
	if (c) {
		char last[ID_STR_MAX] = "";
		if (c->hist.len)
			memcpy(last, history_at(&c->hist, c->hist.len - 1)->id_str, ID_STR_MAX);
		buf_printf(
		        out,
		        "{\"channel\":\"%.*s\",\"subscribers\":%u,\"published\":%" PRIu64
		        ",\"last_id\":%s%s%s,\"history\":{\"length\":%u,\"bytes\":%" PRIu64 "}}\n",
		        (int)len, name, c->subs_total, c->published, last[0] ? "\"" : "",
		        last[0] ? last : "null", last[0] ? "\"" : "", c->hist.len, c->hist.bytes);
	}
	uv_mutex_unlock(&h->lock);
	return rc;
}

void hub_last_id(struct hub *h, char out[ID_STR_MAX])
{
	uv_mutex_lock(&h->lock);
	struct id id = {.epoch = h->eng->epoch, .seq = h->eng->seq};
	if (id.seq)
		id_format(&id, out);
	else
		out[0] = '\0';
	uv_mutex_unlock(&h->lock);
}

#define HUB_SWEEP_BUCKETS 4096 /* buckets the reaper visits per tick */

static void hub_remember(struct hub *h, const struct hub_channel *c)
{
	if (c->hist.evicted_seq == 0)
		return; /* nothing was ever lost here: nothing to remember */
	struct hub_reaped *r = &h->marks[c->hash & (HUB_REAPED_SLOTS - 1)];
	if (r->seq && r->hash != c->hash && r->seq > h->reap_floor)
		h->reap_floor = r->seq;
	r->hash = c->hash;
	r->seq = c->hist.evicted_seq;
}

/* A replica's history is a cache of the remote one: a channel nobody here
 * wants may go with it, if nothing but its history holds its messages
 * (references are only taken under the hub lock, which we hold), so that
 * it is freed at once and never seen ready with its history dropped. */
static bool hub_replica_idle(const struct hub_channel *c)
{
	if (c->subs_total || !c->hist.len ||
	    atomic_load_explicit(&c->live_msgs, memory_order_acquire) != c->hist.len)
		return false;
	for (uint32_t i = 0; i < c->hist.len; i++)
		if (atomic_load_explicit(&history_at(&c->hist, i)->refs, memory_order_acquire) != 1)
			return false;
	return true;
}

/* Frees idle channels in part of the table; hub lock held. A channel with
 * no subscriber and no history can only be reached again through the
 * table (which we hold) or a message still alive: live_msgs == 0 read
 * under the lock means no message can point at it any more. */
static void hub_reap(struct hub *h)
{
	uint32_t n = h->n_buckets < HUB_SWEEP_BUCKETS ? h->n_buckets : HUB_SWEEP_BUCKETS;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t b = h->sweep_pos++ & (h->n_buckets - 1);
		for (struct hub_channel **pp = &h->buckets[b]; *pp;) {
			struct hub_channel *c = *pp;
			if (h->remote.interest && hub_replica_idle(c))
				h->eng->ops->drop(h->eng, &c->hist); /* then freed just below */
			if (c->subs_total || c->hist.len ||
			    atomic_load_explicit(&c->live_msgs, memory_order_acquire)) {
				pp = &c->next;
				continue;
			}
			*pp = c->next;
			if (h->remote.interest)
				h->remote.interest(h->remote.ctx, c->name, c->name_len,
				                   HUB_INTEREST_OFF);
			if (!h->remote.interest) /* a replica's positions come from Redis */
				hub_remember(h, c);
			history_clear(&c->hist);
			free(c);
			h->n_channels--;
			h->reaped++;
		}
	}
}

void hub_tick(struct hub *h)
{
	uv_mutex_lock(&h->lock);
	h->eng->ops->expire(h->eng, &h->cfg.limits, clock_mono_ms());
	hub_reap(h);
	uv_mutex_unlock(&h->lock);
}

void hub_set_config(struct hub *h, const struct hub_config *cfg)
{
	uv_mutex_lock(&h->lock);
	h->cfg = *cfg;
	uv_mutex_unlock(&h->lock);
}

static uint64_t hub_sum(struct hub *h, size_t offset)
{
	uint64_t t = 0;
	for (uint32_t i = 0; i < h->n_workers; i++)
		t += metric_get(
		        (const metric_t *)(const void *)((const char *)h->workers[i] + offset));
	return t;
}

#define HUB_SUM(h, field) hub_sum(h, offsetof(struct hub_worker, field))

int hub_metrics(struct hub *h, struct buf *out)
{
	uv_mutex_lock(&h->lock);
	struct engine e = *h->eng;
	uint64_t published = h->published, limit_hits = h->channel_limit_hits, reaped = h->reaped;
	uint32_t channels = h->n_channels;
	uv_mutex_unlock(&h->lock);
	static const char *const evict[ENGINE_EVICT_N] = {"count", "ttl", "bytes"};
	buf_printf(
	        out,
	        "# HELP crier_hub_channels Channels known to the hub.\n"
	        "# TYPE crier_hub_channels gauge\ncrier_hub_channels %u\n"
	        "# HELP crier_hub_channel_limit_total Publishes or subscribes refused at "
	        "--max-channels.\n# TYPE crier_hub_channel_limit_total counter\n"
	        "crier_hub_channel_limit_total %" PRIu64 "\n"
	        "# HELP crier_hub_channels_reaped_total Idle channels freed (no subscriber, no "
	        "history).\n# TYPE crier_hub_channels_reaped_total counter\n"
	        "crier_hub_channels_reaped_total %" PRIu64 "\n"
	        "# HELP crier_hub_published_total Messages published.\n"
	        "# TYPE crier_hub_published_total counter\ncrier_hub_published_total %" PRIu64 "\n"
	        "# HELP crier_hub_history_messages Messages held in history.\n"
	        "# TYPE crier_hub_history_messages gauge\ncrier_hub_history_messages %" PRIu64 "\n"
	        "# HELP crier_hub_history_bytes Payload bytes held in history.\n"
	        "# TYPE crier_hub_history_bytes gauge\ncrier_hub_history_bytes %" PRIu64 "\n"
	        "# HELP crier_hub_history_evictions_total Messages dropped from history, by "
	        "limit.\n# TYPE crier_hub_history_evictions_total counter\n",
	        channels, limit_hits, reaped, published, e.count, e.bytes);
	for (int i = 0; i < ENGINE_EVICT_N; i++)
		buf_printf(out, "crier_hub_history_evictions_total{reason=\"%s\"} %" PRIu64 "\n",
		           evict[i], e.evicted[i]);
	buf_printf(out,
	           "# HELP crier_hub_deliveries_total Messages queued to subscribers.\n"
	           "# TYPE crier_hub_deliveries_total counter\ncrier_hub_deliveries_total %" PRIu64
	           "\n# HELP crier_hub_gaps_total Gap notices sent, by reason.\n"
	           "# TYPE crier_hub_gaps_total counter\n",
	           HUB_SUM(h, deliveries));
	for (int i = 0; i < HUB_GAP_N; i++)
		buf_printf(out, "crier_hub_gaps_total{reason=\"%s\"} %" PRIu64 "\n",
		           hub_gap_names[i],
		           hub_sum(h, offsetof(struct hub_worker, gaps) +
		                              sizeof(metric_t) * (size_t)i));
	return buf_printf(
	        out,
	        "# HELP crier_hub_slow_consumers_total Subscribers over their outbound "
	        "budget, by --slow-policy.\n# TYPE crier_hub_slow_consumers_total counter\n"
	        "crier_hub_slow_consumers_total{policy=\"disconnect\"} %" PRIu64 "\n"
	        "crier_hub_slow_consumers_total{policy=\"catchup\"} %" PRIu64 "\n",
	        HUB_SUM(h, slow_disconnects), HUB_SUM(h, slow_catchups));
}

/* Keeps s->top sorted by subscribers (most first), at most HUB_STATS_TOP. */
static void hub_stats_rank(struct hub_stats *s, const struct hub_channel *c, double rate)
{
	uint32_t n = s->n_top;
	if (n == HUB_STATS_TOP && s->top[n - 1].subscribers >= c->subs_total)
		return;
	uint32_t i = n < HUB_STATS_TOP ? n : n - 1;
	while (i > 0 && s->top[i - 1].subscribers < c->subs_total) {
		s->top[i] = s->top[i - 1];
		i--;
	}
	struct hub_stats_chan *e = &s->top[i];
	memcpy(e->name, c->name, c->name_len);
	e->name[c->name_len] = '\0';
	e->subscribers = c->subs_total;
	e->published = c->published;
	e->rate_per_s = rate;
	if (n < HUB_STATS_TOP)
		s->n_top++;
}

static double hub_rate(uint64_t now, uint64_t then, uint64_t ms)
{
	return ms ? (double)(now - then) * 1000.0 / (double)ms : 0.0;
}

void hub_stats(struct hub *h, struct hub_stats *s)
{
	*s = (struct hub_stats){0};
	s->deliveries = HUB_SUM(h, deliveries);
	s->slow_disconnects = HUB_SUM(h, slow_disconnects);
	s->slow_catchups = HUB_SUM(h, slow_catchups);
	for (int i = 0; i < HUB_GAP_N; i++)
		s->gaps += hub_sum(h, offsetof(struct hub_worker, gaps) +
		                              sizeof(metric_t) * (size_t)i);
	uint64_t now = clock_mono_ms();
	uv_mutex_lock(&h->lock);
	uint64_t ms = h->stats_ms && now > h->stats_ms ? now - h->stats_ms : 0;
	s->interval_ms = ms;
	s->channels = h->n_channels;
	s->published = h->published;
	s->published_per_s = hub_rate(h->published, h->stats_published, ms);
	s->deliveries_per_s = s->deliveries >= h->stats_deliveries
	                              ? hub_rate(s->deliveries, h->stats_deliveries, ms)
	                              : 0.0;
	for (uint32_t b = 0; b < h->n_buckets; b++) {
		for (struct hub_channel *c = h->buckets[b]; c; c = c->next) {
			hub_stats_rank(s, c, hub_rate(c->published, c->stats_mark, ms));
			c->stats_mark = c->published;
		}
	}
	h->stats_ms = now;
	h->stats_published = h->published;
	h->stats_deliveries = s->deliveries;
	uv_mutex_unlock(&h->lock);
}

static void hub_on_tick(uv_timer_t *t)
{
	struct hub_worker *hw = t->data;
	hub_tick(hw->h);
	stats_tick(hw->h, hw->h->srv);
}

struct hub *hub_new(struct server *srv, const struct hub_config *cfg)
{
	struct hub *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->cfg = *cfg;
	h->srv = srv;
	h->n_workers = srv->n_workers;
	h->n_buckets = 64;
	h->buckets = calloc(h->n_buckets, sizeof(*h->buckets));
	h->workers = calloc(h->n_workers, sizeof(*h->workers));
	h->eng = engine_memory_new();
	h->marks = calloc(HUB_REAPED_SLOTS, sizeof(*h->marks));
	if (!h->buckets || !h->workers || !h->eng || !h->marks || uv_mutex_init(&h->lock) != 0) {
		free(h->buckets);
		free(h->workers);
		free(h->marks);
		free(h);
		return NULL;
	}
	for (uint32_t i = 0; i < h->n_workers; i++) {
		struct worker *w = &srv->workers[i];
		struct hub_worker *hw = calloc(1, sizeof(*hw));
		if (!hw)
			return NULL; /* start-up: the process exits */
		hw->h = h;
		hw->w = w;
		list_init(&hw->touched);
		uv_async_init(&w->loop, &hw->wake, hub_on_wake);
		hw->wake.data = hw;
		if (i == 0) {
			uv_timer_init(&w->loop, &hw->tick);
			hw->tick.data = hw;
			uv_timer_start(&hw->tick, hub_on_tick, 1000, 1000);
		}
		w->ext[WORKER_EXT_HUB] = hw;
		h->workers[i] = hw;
	}
	return h;
}

void hub_worker_exit(struct worker *w)
{
	struct hub_worker *hw = w->ext[WORKER_EXT_HUB];
	if (!hw)
		return;
	/* Handles were closed with the loop; drop what is still queued. */
	for (size_t i = 0; i < hw->inbox_len; i++)
		msg_unref(hw->inbox[i]);
	hw->inbox_len = 0;
	for (size_t i = 0; i < hw->ready_len; i++)
		atomic_fetch_sub_explicit(&hw->ready[i]->live_msgs, 1, memory_order_release);
	free(hw->ready);
	hw->ready = NULL;
	hw->ready_len = hw->ready_cap = 0;
}

void hub_free(struct hub *h)
{
	if (!h)
		return;
	for (uint32_t i = 0; i < h->n_buckets; i++) {
		struct hub_channel *c = h->buckets[i];
		while (c) {
			struct hub_channel *next = c->next;
			history_clear(&c->hist);
			free(c);
			c = next;
		}
	}
	for (uint32_t i = 0; i < h->n_workers; i++) {
		if (!h->workers[i])
			continue;
		free(h->workers[i]->inbox);
		free(h->workers[i]->spare);
		free(h->workers[i]);
	}
	h->eng->ops->free(h->eng);
	uv_mutex_destroy(&h->lock);
	free(h->marks);
	free(h->buckets);
	free(h->workers);
	free(h);
}
