/* Unit tests for the bounds on what the host takes from the guest
 * (host-tool/bounds.c): the token bucket, the limit on log lines, the output
 * buffer and its memory bound; and the frame limits of protocol/frame.c
 * that keep small messages small. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "../../host-tool/bounds.h"
#include "husk-proto.h"

/* ---- the token bucket ---- */

static void test_bucket_burst_then_rate(void **state)
{
	struct husk_bucket b;
	husk_bucket_init(&b, 10, 5, 1000);
	for (int i = 0; i < 10; i++)
		assert_true(husk_bucket_take(&b, 1000));
	assert_false(husk_bucket_take(&b, 1000));
	/* 5 a second: one every 200 ms */
	assert_false(husk_bucket_take(&b, 1199));
	assert_true(husk_bucket_take(&b, 1200));
	assert_false(husk_bucket_take(&b, 1200));
	/* a long pause refills to the burst, not beyond */
	uint64_t t = 1000000;
	for (int i = 0; i < 10; i++)
		assert_true(husk_bucket_take(&b, t));
	assert_false(husk_bucket_take(&b, t));
}

static void test_bucket_sustained_rate(void **state)
{
	struct husk_bucket b;
	unsigned taken = 0;
	husk_bucket_init(&b, 100, 1000, 0);
	/* 10 s of trying every millisecond, 3 times each: the burst and 1000 a second */
	for (uint64_t t = 0; t < 10000; t++)
		for (int k = 0; k < 3; k++)
			taken += husk_bucket_take(&b, t);
	assert_in_range(taken, 10000, 10000 + 100);
}

static void test_bucket_extremes(void **state)
{
	struct husk_bucket b;
	husk_bucket_init(&b, UINT32_MAX, UINT32_MAX, 0);
	assert_true(husk_bucket_take(&b, UINT64_MAX)); /* no overflow in the refill */
	husk_bucket_init(&b, 1, 0, 0);		       /* no refill at all */
	assert_true(husk_bucket_take(&b, 0));
	assert_false(husk_bucket_take(&b, 1000000));
	husk_bucket_init(&b, 0, 1000, 0); /* nothing ever */
	assert_false(husk_bucket_take(&b, 5000));
	/* a clock that seems to go back takes nothing and gives nothing */
	husk_bucket_init(&b, 2, 1, 5000);
	assert_true(husk_bucket_take(&b, 4000));
	assert_true(husk_bucket_take(&b, 4000));
	assert_false(husk_bucket_take(&b, 4000));
}

/* ---- log lines ---- */

static void test_log_limit(void **state)
{
	struct husk_log_limit l;
	uint64_t skipped;
	bool last;
	unsigned logged = 0;
	husk_log_limit_init(&l, 3, 1, 5, 0);
	for (int i = 0; i < 3; i++) {
		assert_true(husk_log_limit_take(&l, 0, &skipped, &last));
		assert_int_equal(skipped, 0);
		assert_false(last);
	}
	for (int i = 0; i < 7; i++)
		assert_false(husk_log_limit_take(&l, 10, &skipped, &last));
	/* a second later: one line, telling of the 7 not logged */
	assert_true(husk_log_limit_take(&l, 1000, &skipped, &last));
	assert_int_equal(skipped, 7);
	assert_false(last);
	/* the fifth and last line in all */
	assert_true(husk_log_limit_take(&l, 2000, &skipped, &last));
	assert_int_equal(skipped, 0);
	assert_true(last);
	/* then nothing, ever */
	for (uint64_t t = 3000; t < 100000; t += 500)
		logged += husk_log_limit_take(&l, t, &skipped, &last);
	assert_int_equal(logged, 0);
}

static void test_log_limit_flush(void **state)
{
	struct husk_log_limit l;
	uint64_t skipped;
	bool last;
	husk_log_limit_init(&l, 1, 1, 3, 0);
	assert_false(husk_log_limit_flush(&l, 0, &skipped)); /* nothing dropped */
	assert_true(husk_log_limit_take(&l, 0, &skipped, &last));
	assert_false(husk_log_limit_take(&l, 0, &skipped, &last));
	assert_false(husk_log_limit_take(&l, 0, &skipped, &last));
	assert_false(husk_log_limit_flush(&l, 500, &skipped)); /* no token yet */
	assert_int_equal(l.suppressed, 2);		       /* a flush is not a line dropped */
	assert_true(husk_log_limit_flush(&l, 1000, &skipped));
	assert_int_equal(skipped, 2);
	assert_false(husk_log_limit_flush(&l, 5000, &skipped)); /* said once */
	assert_int_equal(l.left, 1);
}

/* ---- the output buffer ---- */

static void test_outbuf_order(void **state)
{
	struct husk_outbuf q = {0};
	char big[100000], out[200000];
	size_t got = 0, n;
	const char *p;
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7 + i / 251);
	assert_int_equal(husk_outbuf_peek(&q, &p), 0);
	assert_int_equal(husk_outbuf_append(&q, "abc", 3), 0);
	assert_int_equal(husk_outbuf_append(&q, big, sizeof big), 0);
	assert_int_equal(husk_outbuf_append(&q, "", 0), 0);
	assert_int_equal(husk_outbuf_append(&q, "xyz", 3), 0);
	assert_int_equal(q.bytes, sizeof big + 6);
	/* read back in uneven steps */
	while ((n = husk_outbuf_peek(&q, &p))) {
		size_t step = n > 777 ? 777 : n;
		memcpy(out + got, p, step);
		got += step;
		husk_outbuf_consume(&q, step);
	}
	assert_int_equal(got, sizeof big + 6);
	assert_memory_equal(out, "abc", 3);
	assert_memory_equal(out + 3, big, sizeof big);
	assert_memory_equal(out + 3 + sizeof big, "xyz", 3);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.alloc, 0);
	assert_int_equal(q.chunks, 0);
}

static void test_outbuf_small_appends_share_chunks(void **state)
{
	struct husk_outbuf q = {0};
	/* a million one-byte DATA frames cost what a megabyte costs */
	for (int i = 0; i < 1 << 20; i++)
		assert_int_equal(husk_outbuf_append(&q, "x", 1), 0);
	assert_int_equal(q.bytes, 1 << 20);
	assert_int_equal(q.chunks, (1 << 20) / HUSK_OUTBUF_CHUNK);
	assert_true(q.alloc < (1 << 20) + (1 << 20) / 100);
	assert_int_equal(husk_outbuf_clear(&q), 1 << 20);
	assert_int_equal(q.alloc, 0);
}

static void test_outbuf_in_flight_bytes_stay(void **state)
{
	struct husk_outbuf q = {0};
	const char *p, *again;
	assert_int_equal(husk_outbuf_append(&q, "hello", 5), 0);
	size_t n = husk_outbuf_peek(&q, &p);
	assert_int_equal(n, 5);
	/* appends while a write of p is in flight: p stays where it is */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(husk_outbuf_append(&q, "0123456789", 10), 0);
	assert_memory_equal(p, "hello", 5);
	husk_outbuf_consume(&q, 2);
	assert_true(husk_outbuf_peek(&q, &again) > 0);
	assert_ptr_equal(again, p + 2);
	assert_memory_equal(again, "llo0123", 7);
	husk_outbuf_clear(&q);
}

/* Appends within a credit window, writes of any size: memory stays within
 * husk_outbuf_alloc_bound, whatever the sizes. */
static void test_outbuf_alloc_bound(void **state)
{
	static char data[HUSK_DATA_MAX];
	const size_t window = HUSK_OUTPUT_WINDOW;
	const size_t bound = husk_outbuf_alloc_bound(window, HUSK_DATA_MAX);
	size_t worst = 0;
	unsigned seed = 12345;
	for (int round = 0; round < 20; round++) {
		struct husk_outbuf q = {0};
		for (int step = 0; step < 20000; step++) {
			seed = seed * 1103515245 + 12345;
			unsigned r = seed >> 8;
			if (r % 3) {
				/* sizes that waste most: just over what is left, tiny, the most */
				size_t len = r % 7 == 0	  ? HUSK_DATA_MAX
					     : r % 7 == 1 ? 1
					     : r % 7 == 2 ? HUSK_OUTBUF_CHUNK / 2 + 1
							  : (r >> 4) % HUSK_DATA_MAX + 1;
				if (q.bytes + len > window)
					len = window - q.bytes;
				if (len)
					assert_int_equal(husk_outbuf_append(&q, data, len), 0);
			} else {
				const char *p;
				size_t n = husk_outbuf_peek(&q, &p);
				if (n)
					husk_outbuf_consume(&q, (r >> 4) % n + 1);
			}
			assert_true(q.bytes <= window);
			if (q.alloc > worst)
				worst = q.alloc;
			assert_true(q.alloc <= bound);
		}
		husk_outbuf_clear(&q);
	}
	print_message("worst %zu of the bound %zu\n", worst, bound);
	assert_true(bound < 3 * window + 3 * HUSK_DATA_MAX);
}

/* ---- the frame limits on small messages ---- */

static void test_small_json_limits(void **state)
{
	static const uint16_t small[] = {HUSK_FRAME_HELLO, HUSK_FRAME_EVENT, HUSK_FRAME_ERROR};
	uint8_t buf[HUSK_FRAME_HDR];
	struct husk_frame_hdr h;
	struct husk_err err = {0};
	for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
		husk_frame_encode_hdr(buf, small[i], 0, HUSK_SMALL_JSON_MAX);
		assert_int_equal(husk_frame_parse(buf, sizeof buf, &h, &err), HUSK_PARSE_NEED_MORE);
		/* one more byte is refused from the header alone */
		husk_frame_encode_hdr(buf, small[i], 0, HUSK_SMALL_JSON_MAX + 1);
		assert_int_equal(husk_frame_parse(buf, sizeof buf, &h, &err), HUSK_PARSE_BAD);
		assert_int_equal(err.code, EMSGSIZE);
		assert_non_null(strstr(err.msg, "exceeds 4096"));
	}
	/* REPLY and REQUEST keep the frame's limit */
	husk_frame_encode_hdr(buf, HUSK_FRAME_REPLY, 0, HUSK_FRAME_MAX_PAYLOAD);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &h, &err), HUSK_PARSE_NEED_MORE);
	husk_frame_encode_hdr(buf, HUSK_FRAME_REQUEST, 0, HUSK_FRAME_MAX_PAYLOAD);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &h, &err), HUSK_PARSE_NEED_MORE);
}

/* An ERROR frame the agent makes from the longest message it can have,
 * every byte escaped, still fits. */
static void test_error_frame_fits(void **state)
{
	char msg[sizeof((struct husk_err *)0)->msg];
	uint8_t *frame = NULL;
	struct husk_err err = {0};
	memset(msg, '\x01', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	struct json_object *o = husk_error_frame_encode(4095, msg);
	int64_t n = husk_frame_json(HUSK_FRAME_ERROR, o, &frame, &err);
	json_object_put(o);
	assert_true(n > 0);
	assert_true(n - HUSK_FRAME_HDR <= HUSK_SMALL_JSON_MAX);
	free(frame);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bucket_burst_then_rate),
	    cmocka_unit_test(test_bucket_sustained_rate),
	    cmocka_unit_test(test_bucket_extremes),
	    cmocka_unit_test(test_log_limit),
	    cmocka_unit_test(test_log_limit_flush),
	    cmocka_unit_test(test_outbuf_order),
	    cmocka_unit_test(test_outbuf_small_appends_share_chunks),
	    cmocka_unit_test(test_outbuf_in_flight_bytes_stay),
	    cmocka_unit_test(test_outbuf_alloc_bound),
	    cmocka_unit_test(test_small_json_limits),
	    cmocka_unit_test(test_error_frame_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
