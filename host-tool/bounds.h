/* Bounds on what the host takes from the guest, as pure logic (no I/O, no
 * clock of its own): a token bucket for frames that cost the agent no
 * credit, a limiter for log lines the guest causes, and the output buffer
 * of one stream. session.c and relay.c use them; tests/unit/test_bounds.c
 * tests them. docs/security.md, "The host bounds the guest", says why. */
#ifndef HUSK_BOUNDS_H
#define HUSK_BOUNDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Up to burst events at once, then per_s a second on average. */
struct husk_bucket {
	uint32_t burst, per_s;
	uint64_t milli; /* tokens x 1000 */
	uint64_t last_ms;
};

void husk_bucket_init(struct husk_bucket *b, uint32_t burst, uint32_t per_s, uint64_t now_ms);
/* One event at now_ms (a clock that does not go back): false if the bucket
 * is empty (the event is over the rate). */
bool husk_bucket_take(struct husk_bucket *b, uint64_t now_ms);

/* Log lines caused by the guest: a bucket, and a total after which nothing
 * more is logged. */
struct husk_log_limit {
	struct husk_bucket b;
	uint32_t left;	     /* lines that may still be logged */
	uint64_t suppressed; /* lines dropped since the last one logged */
};

void husk_log_limit_init(struct husk_log_limit *l, uint32_t burst, uint32_t per_s, uint32_t total,
			 uint64_t now_ms);
/* true: log this line. *skipped: lines dropped before it (reset now);
 * *last: it is the last line that will ever be logged. */
bool husk_log_limit_take(struct husk_log_limit *l, uint64_t now_ms, uint64_t *skipped, bool *last);
/* Lines were dropped and one may be logged now to say how many: true with
 * *skipped (reset now); it counts as a line. */
bool husk_log_limit_flush(struct husk_log_limit *l, uint64_t now_ms, uint64_t *skipped);

/* Bytes waiting to be written out, in chunks of at least HUSK_OUTBUF_CHUNK
 * that later appends fill: many small DATA frames cost about what their
 * bytes cost, not a chunk each. A chunk never moves, so the bytes
 * husk_outbuf_peek gave stay valid (for a write in flight) while more are
 * appended, until husk_outbuf_consume passes them. */
#define HUSK_OUTBUF_CHUNK (16u * 1024u)

struct husk_outbuf_chunk;
struct husk_outbuf {
	struct husk_outbuf_chunk *head, *tail;
	size_t bytes;  /* appended, not consumed */
	size_t alloc;  /* allocated for them, chunk headers included */
	size_t chunks; /* how many chunks */
};

/* -1 if out of memory (nothing appended). */
int husk_outbuf_append(struct husk_outbuf *q, const void *p, size_t len);
/* The next contiguous bytes to write: their length, 0 if none. */
size_t husk_outbuf_peek(const struct husk_outbuf *q, const char **p);
/* n bytes (at most what peek gave) were written. */
void husk_outbuf_consume(struct husk_outbuf *q, size_t n);
/* Drop everything; returns how many bytes were dropped. */
size_t husk_outbuf_clear(struct husk_outbuf *q);
/* The most husk_outbuf can hold allocated while at most window bytes are
 * unconsumed and no append is over max_append bytes: every chunk but the
 * last is more than half full by the time the next one starts, and the
 * first may still hold what was written of it. */
size_t husk_outbuf_alloc_bound(size_t window, size_t max_append);

#endif
