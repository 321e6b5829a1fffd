/*
 * bench_fanout.c - `crier bench fanout`: the phases of a run and its
 * report.
 *
 *   1. Subscribe: --subs subscribers, subscriber i on channel bench(i % K),
 *      at most --inflight connects and handshakes pending, until every one
 *      is subscribed or failed; then --settle-ms more, for hubs that
 *      register subscriptions across threads or processes.
 *   2. Publish and receive: --msgs messages from --publishers connections
 *      (bench_fanout_pub.c) while every delivery is checked and timed
 *      (bench_fanout_sub.c).
 *   3. Stop when every expected delivery arrived, or --drain seconds after
 *      the last acknowledgement without a delivery, or at --timeout; print
 *      one report either way ("complete" says which).
 *
 * What it owns: the epoll set, the phases, the clock, the server's /proc
 * samples and the report. What it never does: block on one socket (the
 * publishers' connect and upgrade excepted, bounded, before publishing).
 * The non-obvious choices:
 *  - deliveries/s is over the delivery window (first to last delivery),
 *    so connect and drain time do not dilute it; latency goes into a
 *    log-linear histogram (bench_hist.h, under 0.8 % error).
 *  - "expected" counts, per message, the subscribers of its channel that
 *    were subscribed when publishing began: a subscriber that failed to
 *    subscribe is reported as failed, not as a million losses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "bench/bench_fanout.h"
#include "bench/bench_report.h"

/* The figures of the run besides the run state's counters. */
struct fanout_result {
	double connect_s, publish_s, client_cpu_s, server_cpu_s;
	long rss_before_kb, rss_connected_kb, rss_peak_kb, rss_after_kb;
	long expected;
	bool timed_out;   /* --timeout cut the run */
	bool aborted;     /* nothing could be published: no subscriber, or no publisher */
	const char *stop; /* why the run ended */
};

void bench_fanout_ctl(struct bench_fanout *r, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event e = {.events = events, .data.u64 = tag};
	epoll_ctl(r->ep, op, fd, &e);
}

static void fanout_free(struct bench_fanout *r)
{
	if (r->subs)
		for (int i = 0; i < r->o->subs; i++) {
			if (r->subs[i].fd >= 0)
				bench_net_close_rst(r->subs[i].fd);
			free(r->subs[i].head);
		}
	if (r->pubs)
		for (int i = 0; i < r->o->publishers; i++) {
			if (r->pubs[i].fd >= 0)
				bench_net_close_rst(r->pubs[i].fd);
			free(r->pubs[i].sent_ns);
			free(r->pubs[i].out);
		}
	if (r->ep >= 0)
		close(r->ep);
	free(r->subs);
	free(r->pubs);
	free(r->seen);
	free(r->last_g);
	free(r->chan_subs);
	free(r->body_tmpl);
	free(r);
}

/* Allocates the run: everything sized up front, nothing per message. */
static struct bench_fanout *fanout_new(const struct bench_opts *o)
{
	struct bench_fanout *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->o = o;
	r->ep = epoll_create1(EPOLL_CLOEXEC);
	r->per_chan = (o->msgs + o->channels - 1) / o->channels;
	size_t bits = (size_t)o->subs * (size_t)r->per_chan;
	r->seen = calloc(bits / 8 + 1, 1);
	r->last_g = malloc(((size_t)o->subs * (size_t)o->publishers + 1) * sizeof *r->last_g);
	r->subs = calloc((size_t)o->subs + 1, sizeof *r->subs); /* --subs 0 is allowed */
	r->pubs = calloc((size_t)o->publishers, sizeof *r->pubs);
	r->chan_subs = calloc((size_t)o->channels, sizeof *r->chan_subs);
	r->body_tmpl = malloc((size_t)o->size_bytes);
	bool ok = r->ep >= 0 && r->seen && r->last_g && r->subs && r->pubs && r->chan_subs &&
	          r->body_tmpl;
	for (int i = 0; i < o->subs && r->subs; i++)
		r->subs[i].fd = -1;
	for (int i = 0; i < o->publishers && r->pubs; i++) {
		r->pubs[i].fd = -1;
		r->pubs[i].sent_ns = calloc((size_t)o->window, sizeof(uint64_t));
		ok = ok && r->pubs[i].sent_ns;
	}
	if (!ok) {
		fprintf(stderr, "crier bench: out of memory (%zu MiB of delivery bitmap)\n",
		        bits / 8 >> 20);
		fanout_free(r);
		return NULL;
	}
	for (size_t i = 0; i < (size_t)o->subs * (size_t)o->publishers; i++)
		r->last_g[i] = -1;
	memset(r->body_tmpl, 'x', (size_t)o->size_bytes);
	bench_hist_init(&r->lat);
	bench_hist_init(&r->ack);
	bench_http_ws_keys(&r->keys);
	return r;
}

/* One epoll round: subscriber events, publisher answers and refills
 * (t0_pub 0: not publishing yet). */
static void fanout_poll(struct bench_fanout *r, int timeout_ms, uint64_t t0_pub)
{
	struct epoll_event ev[512];
	int n = epoll_wait(r->ep, ev, 512, timeout_ms);
	for (int i = 0; i < n; i++) {
		uint64_t tag = ev[i].data.u64;
		if (tag & BENCH_FANOUT_TAG_PUB) {
			int pi = (int)(tag & ~BENCH_FANOUT_TAG_PUB);
			if (!r->pubs[pi].connected)
				continue;
			if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				bench_fanout_pub_read(r, pi);
			if (r->pubs[pi].connected && t0_pub)
				bench_fanout_pub_fill(r, pi, t0_pub);
		} else if (r->subs[tag].state != FANOUT_SUB_CLOSED) {
			bench_fanout_sub_event(r, (int)tag, ev[i].events);
		}
	}
}

/* The sum of everything that went wrong; 0 for a clean run. */
static long fanout_errors(const struct bench_fanout *r, const struct fanout_result *res)
{
	long lost = res->expected - (long)r->received;
	return lost +
	       (long)(r->duplicated + r->out_of_order + r->misrouted + r->bad_payload +
	              r->protocol_errors + r->stale + r->gaps) +
	       r->pub_errors + r->failed + r->closed + (res->timed_out ? 1 : 0);
}

/* The JSON field names are those bench/fanout.c printed, which the bench
 * scripts read; new fields go at the end. */
static void fanout_report(const struct bench_fanout *r, const struct fanout_result *res,
                          bool complete)
{
	const struct bench_opts *o = r->o;
	struct bench_report rep;
	double win = r->last_ns > r->first_ns ? (double)(r->last_ns - r->first_ns) / 1e9 : 0;
	uint64_t rx = r->received;
	bench_report_init(&rep, "crier bench fanout");
	bench_report_str(&rep, "bench", "fanout");
	bench_report_str(&rep, "transport", bench_transport_name(o->transport));
	bench_report_str(&rep, "url", o->url_text);
	if (o->pub_url_text)
		bench_report_str(&rep, "pub_url", o->pub_url_text);
	bench_report_int(&rep, "subs", o->subs);
	bench_report_int(&rep, "channels", o->channels);
	bench_report_int(&rep, "msgs", o->msgs);
	bench_report_int(&rep, "size", o->size_bytes);
	if (o->rate > 0)
		bench_report_num(&rep, "rate", o->rate, o->rate < 100 ? 3 : 0);
	else
		bench_report_str(&rep, "rate", "max");
	bench_report_int(&rep, "publishers", o->publishers);
	bench_report_int(&rep, "window", o->window);
	bench_report_int(&rep, "subscribed", r->subscribed);
	bench_report_int(&rep, "failed", r->failed);
	bench_report_int(&rep, "disconnected", r->closed);
	bench_report_num(&rep, "connect_s", res->connect_s, 3);
	bench_report_int(&rep, "published", r->acked);
	bench_report_int(&rep, "pub_errors", r->pub_errors);
	bench_report_num(&rep, "publish_s", res->publish_s, 3);
	bench_report_num(&rep, "pub_per_s",
	                 res->publish_s > 0 ? (double)r->acked / res->publish_s : 0, 0);
	bench_report_int(&rep, "expected", res->expected);
	bench_report_int(&rep, "received", (int64_t)rx);
	bench_report_int(&rep, "lost", res->expected - (long)rx);
	bench_report_int(&rep, "duplicated", (int64_t)r->duplicated);
	bench_report_int(&rep, "out_of_order", (int64_t)r->out_of_order);
	bench_report_int(&rep, "misrouted", (int64_t)r->misrouted);
	bench_report_int(&rep, "bad_payload", (int64_t)r->bad_payload);
	bench_report_int(&rep, "protocol_errors", (int64_t)r->protocol_errors);
	bench_report_int(&rep, "stale", (int64_t)r->stale);
	bench_report_num(&rep, "delivery_window_s", win, 3);
	bench_report_num(&rep, "deliveries_per_s", win > 0 ? (double)rx / win : 0, 0);
	bench_report_num(&rep, "p50_us", (double)bench_hist_quantile(&r->lat, 0.5) / 1e3, 0);
	bench_report_num(&rep, "p90_us", (double)bench_hist_quantile(&r->lat, 0.9) / 1e3, 0);
	bench_report_num(&rep, "p99_us", (double)bench_hist_quantile(&r->lat, 0.99) / 1e3, 0);
	bench_report_num(&rep, "p999_us", (double)bench_hist_quantile(&r->lat, 0.999) / 1e3, 0);
	bench_report_num(&rep, "max_us", (double)r->lat.max / 1e3 * (rx > 0), 0);
	bench_report_num(&rep, "client_cpu_s", res->client_cpu_s, 3);
	bench_report_num(&rep, "server_cpu_s", res->server_cpu_s, 3);
	bench_report_num(&rep, "server_cpu_us_per_delivery",
	                 rx ? res->server_cpu_s * 1e6 / (double)rx : 0, 3);
	bench_report_int(&rep, "rss_before_kb", res->rss_before_kb);
	bench_report_int(&rep, "rss_connected_kb", res->rss_connected_kb);
	bench_report_num(&rep, "rss_per_conn_bytes",
	                 r->subscribed && res->rss_before_kb >= 0 && res->rss_connected_kb >= 0
	                         ? (double)(res->rss_connected_kb - res->rss_before_kb) * 1024.0 /
	                                   r->subscribed
	                         : 0,
	                 0);
	bench_report_int(&rep, "rss_peak_kb", res->rss_peak_kb);
	bench_report_int(&rep, "rss_after_kb", res->rss_after_kb);
	bench_report_bool(&rep, "timed_out", res->timed_out);
	bench_report_str(&rep, "stop", res->stop);
	bench_report_int(&rep, "errors", fanout_errors(r, res));
	bench_report_str(&rep, "pub_transport", o->pub_wsproto ? "wsproto" : "http");
	bench_report_int(&rep, "gaps", (int64_t)r->gaps);
	bench_report_num(&rep, "ack_p50_us", (double)bench_hist_quantile(&r->ack, 0.5) / 1e3, 0);
	bench_report_num(&rep, "ack_p99_us", (double)bench_hist_quantile(&r->ack, 0.99) / 1e3, 0);
	bench_report_num(&rep, "ack_p999_us", (double)bench_hist_quantile(&r->ack, 0.999) / 1e3, 0);
	bench_report_num(&rep, "ack_max_us", (double)r->ack.max / 1e3 * (r->ack.count > 0), 0);
	bench_report_num(&rep, "server_cpu_us_per_publish",
	                 res->server_cpu_s * 1e6 / (double)(r->acked ? r->acked : 1), 3);
	bench_report_int(&rep, "polls", (int64_t)r->polls);
	bench_report_int(&rep, "empty_polls", (int64_t)r->empty_polls);
	bench_report_num(&rep, "msgs_per_poll", r->polls ? (double)rx / (double)r->polls : 0, 1);
	bench_report_int(&rep, "max_msgs_per_poll", (int64_t)r->poll_max);
	bench_report_bool(&rep, "complete", complete);
	bench_report_int(&rep, "poll_history", (int64_t)r->poll_history);
	bench_report_num(&rep, "mean_us", bench_hist_mean(&r->lat) / 1e3, 0);
	bench_report_print(&rep, stdout, o->human);
}

/* Phase 1: connect and subscribe everyone (bounded by deadline). */
static void fanout_subscribe(struct bench_fanout *r, struct fanout_result *res,
                             struct bench_progress *pg, uint64_t deadline)
{
	const struct bench_opts *o = r->o;
	while (r->subscribed + r->failed + r->closed < o->subs) {
		while (r->next_connect < o->subs && r->pending < o->inflight)
			bench_fanout_sub_start(r, r->next_connect++);
		fanout_poll(r, 10, 0);
		uint64_t now = bench_net_now_ns();
		bench_net_progress_show(pg, now, r->subscribed, o->subs, "delivered", 0, 0);
		if (now > deadline) {
			res->timed_out = true;
			res->stop = "timeout while subscribing";
			/* Not subscribed by now: failed, for this run. */
			for (int i = 0; i < o->subs; i++)
				if (!r->subs[i].subscribed)
					bench_fanout_sub_close(r, i, true);
			return;
		}
	}
}

/* True once the publishing phase should end; sets res->stop. */
static bool fanout_done(struct bench_fanout *r, struct fanout_result *res, uint64_t now,
                        uint64_t t_pub_done, uint64_t deadline)
{
	if ((long)r->received >= res->expected && t_pub_done)
		return true;
	if (now > deadline) {
		res->timed_out = true;
		res->stop = "timeout";
		return true;
	}
	uint64_t last = r->last_ns > t_pub_done ? r->last_ns : t_pub_done;
	if (t_pub_done && now - last > (uint64_t)(r->o->drain_s * 1e9)) {
		res->stop = "drain: no delivery for --drain seconds";
		return true;
	}
	return false;
}

/* Phase 2: publish while receiving, until done; returns when publishing
 * ended (0 if it never did). */
static uint64_t fanout_publish(struct bench_fanout *r, struct fanout_result *res,
                               struct bench_proc *proc, struct bench_progress *pg, uint64_t t0,
                               uint64_t deadline)
{
	const struct bench_opts *o = r->o;
	uint64_t t_pub_done = 0, next_rss = t0;
	r->t0_ns = t0;
	for (int i = 0; i < o->publishers; i++)
		bench_fanout_pub_fill(r, i, t0);
	for (;;) {
		fanout_poll(r, o->rate > 0 && !t_pub_done ? 1 : 50, t0);
		uint64_t now = bench_net_now_ns();
		if (o->rate > 0)
			for (int i = 0; i < o->publishers; i++)
				if (bench_fanout_pub_can_send(r, &r->pubs[i], now, t0))
					bench_fanout_pub_fill(r, i, t0);
		if (proc && now >= next_rss) {
			long rss = bench_net_proc_rss_kb(proc, NULL);
			if (rss > res->rss_peak_kb)
				res->rss_peak_kb = rss;
			next_rss = now + 100000000u;
		}
		bench_net_progress_show(pg, now, r->subscribed, o->subs, "delivered", r->received,
		                        (uint64_t)res->expected);
		bool pubs_live = false;
		for (int i = 0; i < o->publishers; i++)
			pubs_live |= r->pubs[i].connected;
		if (!t_pub_done && (r->acked + r->pub_errors >= o->msgs || !pubs_live))
			t_pub_done = now;
		if (fanout_done(r, res, now, t_pub_done, deadline))
			return t_pub_done;
	}
}

/* What publishing expects: per message, its channel's subscribers. */
static void fanout_expect(struct bench_fanout *r, struct fanout_result *res)
{
	const struct bench_opts *o = r->o;
	for (int i = 0; i < o->subs; i++)
		if (r->subs[i].subscribed)
			r->chan_subs[i % o->channels]++;
	for (long g = 0; g < o->msgs; g++)
		res->expected += r->chan_subs[g % o->channels];
}

/* Subscribe, settle, publish; fills res. */
static void fanout_phases(struct bench_fanout *r, struct fanout_result *res,
                          struct bench_proc *proc, struct bench_progress *pg)
{
	const struct bench_opts *o = r->o;
	uint64_t start = bench_net_now_ns(), deadline = start + (uint64_t)(o->timeout_s * 1e9);
	fanout_subscribe(r, res, pg, deadline);
	res->connect_s = (double)(bench_net_now_ns() - start) / 1e9;
	if (proc) {
		bench_net_proc_scan(proc, o->server_pid); /* workers forked since? */
		res->rss_connected_kb = bench_net_proc_rss_kb(proc, NULL);
		res->rss_peak_kb = res->rss_connected_kb;
	}
	fanout_expect(r, res);
	if (o->subs > 0 && r->subscribed == 0 && !res->timed_out) {
		res->stop = "no subscriber could subscribe";
		res->aborted = true;
		return;
	}
	if (res->timed_out)
		return;
	uint64_t settle_end = bench_net_now_ns() + (uint64_t)o->settle_ms * 1000000u;
	while (bench_net_now_ns() < settle_end)
		fanout_poll(r, 5, 0);
	if (bench_fanout_pub_connect(r, deadline) < 0) {
		res->stop = "the publishers could not connect";
		res->aborted = true;
		r->pub_errors += o->msgs;
		return;
	}
	double cpu0 = bench_net_self_cpu_s(), scpu0 = proc ? bench_net_proc_cpu_s(proc) : 0;
	uint64_t t0 = bench_net_now_ns();
	uint64_t t_pub_done = fanout_publish(r, res, proc, pg, t0, deadline);
	res->publish_s = (double)((t_pub_done ? t_pub_done : bench_net_now_ns()) - t0) / 1e9;
	res->client_cpu_s = bench_net_self_cpu_s() - cpu0;
	if (proc)
		res->server_cpu_s = bench_net_proc_cpu_s(proc) - scpu0;
}

int bench_fanout_run(const struct bench_opts *o)
{
	if (bench_net_nofile((long)o->subs + o->publishers + 64, "the subscribers and publishers") <
	    0)
		return 2;
	struct bench_proc proc, *pp = NULL;
	struct fanout_result res = {.rss_before_kb = -1,
	                            .rss_connected_kb = -1,
	                            .rss_peak_kb = -1,
	                            .rss_after_kb = -1,
	                            .stop = "done"};
	if (o->server_pid > 0) {
		if (!bench_net_proc_scan(&proc, o->server_pid)) {
			fprintf(stderr, "crier bench: --server-pid %ld: no such process\n",
			        o->server_pid);
			return 2;
		}
		pp = &proc;
		res.rss_before_kb = bench_net_proc_rss_kb(pp, NULL);
	}
	struct bench_fanout *r = fanout_new(o);
	if (!r)
		return 2;
	struct bench_progress pg;
	bench_net_progress_init(&pg, "fanout", o->progress);
	fanout_phases(r, &res, pp, &pg);
	bench_net_progress_end(&pg);
	if (pp) {
		res.rss_after_kb = bench_net_proc_rss_kb(pp, NULL);
		if (res.rss_after_kb > res.rss_peak_kb)
			res.rss_peak_kb = res.rss_after_kb;
	}
	bool complete = !res.timed_out && !res.aborted;
	fanout_report(r, &res, complete);
	bool clean = complete && fanout_errors(r, &res) == 0;
	fprintf(stderr,
	        "fanout %s: %d/%d subscribed in %.2f s; %ld published in %.2f s; %" PRIu64
	        "/%ld delivered; stop: %s\n",
	        bench_transport_name(o->transport), r->subscribed, o->subs, res.connect_s, r->acked,
	        res.publish_s, r->received, res.expected, res.stop);
	fanout_free(r);
	return clean ? 0 : 1;
}
