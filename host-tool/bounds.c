/* Bounds on what the host takes from the guest: see bounds.h. */
#include <stdlib.h>
#include <string.h>

#include "bounds.h"

/* ---- token bucket ---- */

void husk_bucket_init(struct husk_bucket *b, uint32_t burst, uint32_t per_s, uint64_t now_ms)
{
	b->burst = burst;
	b->per_s = per_s;
	b->milli = (uint64_t)burst * 1000;
	b->last_ms = now_ms;
}

bool husk_bucket_take(struct husk_bucket *b, uint64_t now_ms)
{
	uint64_t full = (uint64_t)b->burst * 1000;
	if (now_ms > b->last_ms) {
		uint64_t dt = now_ms - b->last_ms;
		/* per_s tokens a second is per_s milli-tokens a millisecond */
		uint64_t add = b->per_s && dt > full / b->per_s ? full : dt * b->per_s;
		b->milli = full - b->milli < add ? full : b->milli + add;
		b->last_ms = now_ms;
	}
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}

/* ---- log lines ---- */

void husk_log_limit_init(struct husk_log_limit *l, uint32_t burst, uint32_t per_s, uint32_t total,
			 uint64_t now_ms)
{
	husk_bucket_init(&l->b, burst, per_s, now_ms);
	l->left = total;
	l->suppressed = 0;
}

bool husk_log_limit_take(struct husk_log_limit *l, uint64_t now_ms, uint64_t *skipped, bool *last)
{
	*skipped = 0;
	*last = false;
	if (!l->left || !husk_bucket_take(&l->b, now_ms)) {
		l->suppressed++;
		return false;
	}
	*skipped = l->suppressed;
	l->suppressed = 0;
	*last = --l->left == 0;
	return true;
}

bool husk_log_limit_flush(struct husk_log_limit *l, uint64_t now_ms, uint64_t *skipped)
{
	*skipped = 0;
	if (!l->suppressed || !l->left || !husk_bucket_take(&l->b, now_ms))
		return false;
	*skipped = l->suppressed;
	l->suppressed = 0;
	l->left--;
	return true;
}

/* ---- output buffer ---- */

struct husk_outbuf_chunk {
	struct husk_outbuf_chunk *next;
	size_t cap, len, off;
	char data[];
};

int husk_outbuf_append(struct husk_outbuf *q, const void *p, size_t len)
{
	struct husk_outbuf_chunk *c = q->tail;
	if (!len)
		return 0;
	if (!c || c->cap - c->len < len) {
		size_t cap = len > HUSK_OUTBUF_CHUNK ? len : HUSK_OUTBUF_CHUNK;
		if (!(c = malloc(sizeof *c + cap)))
			return -1;
		*c = (struct husk_outbuf_chunk){.cap = cap};
		if (q->tail)
			q->tail->next = c;
		else
			q->head = c;
		q->tail = c;
		q->alloc += sizeof *c + cap;
		q->chunks++;
	}
	memcpy(c->data + c->len, p, len);
	c->len += len;
	q->bytes += len;
	return 0;
}

size_t husk_outbuf_peek(const struct husk_outbuf *q, const char **p)
{
	const struct husk_outbuf_chunk *c = q->head;
	if (!c) {
		*p = NULL;
		return 0;
	}
	*p = c->data + c->off;
	return c->len - c->off;
}

static void drop_head(struct husk_outbuf *q)
{
	struct husk_outbuf_chunk *c = q->head;
	q->head = c->next;
	if (!q->head)
		q->tail = NULL;
	q->alloc -= sizeof *c + c->cap;
	q->chunks--;
	free(c);
}

void husk_outbuf_consume(struct husk_outbuf *q, size_t n)
{
	struct husk_outbuf_chunk *c = q->head;
	if (!c)
		return;
	if (n > c->len - c->off)
		n = c->len - c->off;
	c->off += n;
	q->bytes -= n;
	if (c->off == c->len)
		drop_head(q);
}

size_t husk_outbuf_clear(struct husk_outbuf *q)
{
	size_t n = q->bytes;
	while (q->head)
		drop_head(q);
	q->bytes = 0;
	return n;
}

size_t husk_outbuf_alloc_bound(size_t window, size_t max_append)
{
	size_t m = max_append > HUSK_OUTBUF_CHUNK ? max_append : HUSK_OUTBUF_CHUNK;
	/* every chunk but the last: cap < its len + the next one's; the last:
	 * cap <= its len + a chunk; what is held is at most the window plus
	 * what was written of the first chunk (no more than one append or a
	 * chunk) */
	size_t data = 2 * (window + m) + HUSK_OUTBUF_CHUNK;
	size_t chunks = data / HUSK_OUTBUF_CHUNK + 1;
	return data + chunks * sizeof(struct husk_outbuf_chunk);
}
