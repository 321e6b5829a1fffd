/*
 * msg.c - message allocation, release and lazily shared encodings.
 *
 * One allocation per message: header, payload and event name. Encodings
 * are separate rcbufs because connections queue references to them and
 * may still be writing them after the message has left history.
 */
#include "hub/msg.h"

#include "hub/hub.h"

#include <stdlib.h>
#include <string.h>

struct msg *msg_new(const void *data, size_t len, const char *event, size_t event_len, bool binary)
{
	if (len > UINT32_MAX || event_len > UINT8_MAX)
		return NULL;
	struct msg *m = malloc(sizeof(*m) + len + event_len + 1);
	if (!m)
		return NULL;
	atomic_init(&m->refs, 1u);
	m->id = (struct id){0};
	m->ch = NULL;
	m->time_ms = 0;
	m->data_len = (uint32_t)len;
	m->event_len = (uint8_t)event_len;
	m->binary = binary;
	for (int i = 0; i < MSG_ENC_COUNT; i++)
		atomic_init(&m->enc[i], NULL);
	m->hist_node.next = m->hist_node.prev = NULL;
	m->id_str[0] = '\0';
	m->id_len = 0;
	if (len)
		memcpy(m->data, data, len);
	m->event = (char *)m->data + len;
	if (event_len)
		memcpy(m->event, event, event_len);
	m->event[event_len] = '\0';
	return m;
}

void msg_set_id(struct msg *m, const struct id *id)
{
	m->id = *id;
	m->id_len = (uint8_t)id_format(id, m->id_str);
}

void msg_unref(struct msg *m)
{
	if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (int i = 0; i < MSG_ENC_COUNT; i++)
		rcbuf_unref(atomic_load_explicit(&m->enc[i], memory_order_relaxed));
	if (m->ch) /* the last use of the channel: the reaper may free it after */
		atomic_fetch_sub_explicit(&m->ch->live_msgs, 1, memory_order_release);
	free(m);
}

struct rcbuf *msg_encoded(struct msg *m, enum msg_enc slot, msg_encoder_fn enc, void *arg)
{
	struct rcbuf *b = atomic_load_explicit(&m->enc[slot], memory_order_acquire);
	if (b)
		return b;
	struct rcbuf *mine = enc(m, arg);
	if (!mine)
		return NULL;
	struct rcbuf *expected = NULL;
	if (atomic_compare_exchange_strong_explicit(&m->enc[slot], &expected, mine,
	                                            memory_order_acq_rel, memory_order_acquire))
		return mine;
	rcbuf_unref(mine); /* another thread built it first */
	return expected;
}
