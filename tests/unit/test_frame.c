/* Unit tests for the frame header codec (protocol/frame.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "husk-proto.h"

#define assert_contains(hay, needle)                                                       \
	do {                                                                               \
		if (!strstr((hay), (needle)))                                              \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));       \
	} while (0)

/* A valid frame of each type, with the smallest payload its rules allow
 * (plus a few bytes of JSON or data where the type carries any). */
struct sample {
	uint16_t type;
	uint32_t stream;
	const char *payload;
	uint32_t len;
};

static const struct sample samples[] = {
	{ HUSK_FRAME_HELLO, 0, "{\"agent_version\":\"0.1.0\"}", 25 },
	{ HUSK_FRAME_REQUEST, 0, "{\"id\":1,\"op\":\"ping\"}", 20 },
	{ HUSK_FRAME_REPLY, 0, "{\"id\":1}", 8 },
	{ HUSK_FRAME_EVENT, 0, "{}", 2 },
	{ HUSK_FRAME_DATA, 3, "hello\0world", 11 },
	{ HUSK_FRAME_WINDOW, 5, "\x00\x01\x00\x00", 4 },
	{ HUSK_FRAME_CLOSE, 0xffffffffu, "", 0 },
	{ HUSK_FRAME_ERROR, 0, "{\"error\":{}}", 12 },
};

#define NSAMPLES (sizeof samples / sizeof samples[0])

/* Builds header + payload in a malloc'd buffer; returns its size. */
static size_t build(const struct sample *s, uint8_t **out)
{
	size_t n = HUSK_FRAME_HDR + s->len;
	uint8_t *buf = malloc(n);

	assert_non_null(buf);
	husk_frame_encode_hdr(buf, s->type, s->stream, s->len);
	memcpy(buf + HUSK_FRAME_HDR, s->payload, s->len);
	*out = buf;
	return n;
}

/* Parses a bare header (no payload bytes) and expects rejection. */
static void expect_bad_hdr(uint16_t type, uint32_t stream, uint32_t length, int code,
			   const char *words)
{
	uint8_t buf[HUSK_FRAME_HDR];
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };

	husk_frame_encode_hdr(buf, type, stream, length);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_BAD);
	assert_int_equal(err.code, code);
	if (words)
		assert_contains(err.msg, words);
}

static void test_header_layout(void **state)
{
	static const uint8_t want[HUSK_FRAME_HDR] = {
		0x48, 0x4b,             /* "HK" */
		0xab, 0xcd,             /* type */
		0x01, 0x02, 0x03, 0x04, /* stream */
		0xfe, 0xdc, 0xba, 0x98, /* length */
	};
	uint8_t buf[HUSK_FRAME_HDR + 1];

	memset(buf, 0x5a, sizeof buf);
	husk_frame_encode_hdr(buf, 0xabcd, 0x01020304u, 0xfedcba98u);
	for (size_t i = 0; i < HUSK_FRAME_HDR; i++) {
		if (buf[i] != want[i])
			fail_msg("header byte %zu is 0x%02x, want 0x%02x", i, buf[i], want[i]);
	}
	assert_int_equal(buf[HUSK_FRAME_HDR], 0x5a); /* no write past the header */
	assert_memory_equal(buf, "HK", 2);
	assert_int_equal(HUSK_FRAME_HDR, 12);

	/* A real REQUEST header, spelled out. */
	static const uint8_t req[HUSK_FRAME_HDR] = { 'H', 'K', 0, 2, 0, 0, 0, 0, 0, 0, 0x01, 0x02 };
	husk_frame_encode_hdr(buf, HUSK_FRAME_REQUEST, 0, 258);
	assert_memory_equal(buf, req, HUSK_FRAME_HDR);
}

static void test_be32(void **state)
{
	uint8_t b[5] = { 0, 0, 0, 0, 0x77 };

	husk_put_be32(b, 0x11223344u);
	assert_int_equal(b[0], 0x11);
	assert_int_equal(b[1], 0x22);
	assert_int_equal(b[2], 0x33);
	assert_int_equal(b[3], 0x44);
	assert_int_equal(b[4], 0x77);
	assert_int_equal(husk_get_be32(b), 0x11223344u);
	husk_put_be32(b, 0xffffffffu);
	assert_int_equal(husk_get_be32(b), 0xffffffffu);
	husk_put_be32(b, 0x80000001u);
	assert_int_equal(b[0], 0x80);
	assert_int_equal(b[3], 0x01);
	assert_int_equal(husk_get_be32(b), 0x80000001u);
}

static void test_type_values_and_names(void **state)
{
	/* Wire values are part of the contract and never change. */
	assert_int_equal(HUSK_FRAME_HELLO, 1);
	assert_int_equal(HUSK_FRAME_REQUEST, 2);
	assert_int_equal(HUSK_FRAME_REPLY, 3);
	assert_int_equal(HUSK_FRAME_EVENT, 4);
	assert_int_equal(HUSK_FRAME_DATA, 5);
	assert_int_equal(HUSK_FRAME_WINDOW, 6);
	assert_int_equal(HUSK_FRAME_CLOSE, 7);
	assert_int_equal(HUSK_FRAME_ERROR, 8);
	assert_int_equal(HUSK_FRAME_MAGIC, 0x484b);

	static const char *const names[] = { NULL,     "HELLO",  "REQUEST", "REPLY", "EVENT",
					     "DATA",   "WINDOW", "CLOSE",   "ERROR", NULL };
	for (uint16_t t = 0; t < 10; t++) {
		if (names[t])
			assert_string_equal(husk_frame_type_name(t), names[t]);
		else
			assert_null(husk_frame_type_name(t));
	}
	assert_null(husk_frame_type_name(0xffff));
	assert_null(husk_frame_type_name(0x0100)); /* 1 in the wrong byte order */
}

static void test_roundtrip_every_type(void **state)
{
	for (size_t i = 0; i < NSAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct husk_frame_hdr hdr = { 0xeeee, 0xeeeeeeee, 0xeeeeeeee };
		struct husk_err err = { 0 };
		uint8_t *buf;
		size_t n = build(s, &buf);

		assert_int_equal(husk_frame_parse(buf, n, &hdr, &err), HUSK_PARSE_FRAME);
		assert_int_equal(hdr.type, s->type);
		assert_int_equal(hdr.stream, s->stream);
		assert_int_equal(hdr.length, s->len);
		assert_int_equal(err.code, 0);

		/* Bytes of the next frame after this one do not matter. */
		uint8_t *more = malloc(n + 7);
		assert_non_null(more);
		memcpy(more, buf, n);
		memcpy(more + n, "HK\0\0\0\0\0", 7);
		memset(&hdr, 0, sizeof hdr);
		assert_int_equal(husk_frame_parse(more, n + 7, &hdr, &err), HUSK_PARSE_FRAME);
		assert_int_equal(hdr.type, s->type);
		assert_int_equal(hdr.stream, s->stream);
		assert_int_equal(hdr.length, s->len);
		free(more);
		free(buf);
	}
}

static void test_two_frames_back_to_back(void **state)
{
	uint8_t *a, *b;
	size_t na = build(&samples[1], &a), nb = build(&samples[4], &b);
	uint8_t *buf = malloc(na + nb);
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };

	assert_non_null(buf);
	memcpy(buf, a, na);
	memcpy(buf + na, b, nb);
	assert_int_equal(husk_frame_parse(buf, na + nb, &hdr, &err), HUSK_PARSE_FRAME);
	assert_int_equal(hdr.type, HUSK_FRAME_REQUEST);
	assert_int_equal(HUSK_FRAME_HDR + hdr.length, na);
	assert_memory_equal(buf + HUSK_FRAME_HDR, samples[1].payload, hdr.length);
	assert_int_equal(husk_frame_parse(buf + na, nb, &hdr, &err), HUSK_PARSE_FRAME);
	assert_int_equal(hdr.type, HUSK_FRAME_DATA);
	assert_int_equal(hdr.stream, 3);
	assert_int_equal(hdr.length, 11);
	free(buf);
	free(a);
	free(b);
}

static void test_payload_limits_accepted(void **state)
{
	size_t n = HUSK_FRAME_HDR + HUSK_FRAME_MAX_PAYLOAD;
	uint8_t *buf = calloc(1, n);
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };

	assert_non_null(buf);
	/* Exactly at the limits is fine; header alone means "need more". */
	husk_frame_encode_hdr(buf, HUSK_FRAME_REPLY, 0, HUSK_FRAME_MAX_PAYLOAD);
	assert_int_equal(husk_frame_parse(buf, HUSK_FRAME_HDR, &hdr, &err), HUSK_PARSE_NEED_MORE);
	assert_int_equal(husk_frame_parse(buf, n - 1, &hdr, &err), HUSK_PARSE_NEED_MORE);
	assert_int_equal(husk_frame_parse(buf, n, &hdr, &err), HUSK_PARSE_FRAME);
	assert_int_equal(hdr.length, HUSK_FRAME_MAX_PAYLOAD);

	husk_frame_encode_hdr(buf, HUSK_FRAME_DATA, 9, HUSK_DATA_MAX);
	assert_int_equal(husk_frame_parse(buf, HUSK_FRAME_HDR, &hdr, &err), HUSK_PARSE_NEED_MORE);
	assert_int_equal(husk_frame_parse(buf, HUSK_FRAME_HDR + HUSK_DATA_MAX, &hdr, &err),
			 HUSK_PARSE_FRAME);
	assert_int_equal(hdr.length, HUSK_DATA_MAX);
	assert_int_equal(err.code, 0);
	free(buf);
}

static void test_every_truncation_needs_more(void **state)
{
	for (size_t i = 0; i < NSAMPLES; i++) {
		uint8_t *buf;
		size_t n = build(&samples[i], &buf);

		for (size_t len = 0; len < n; len++) {
			struct husk_frame_hdr hdr;
			struct husk_err err = { 0 };
			/* Copy the prefix so ASan catches any read past len. */
			uint8_t *p = malloc(len ? len : 1);

			assert_non_null(p);
			memcpy(p, buf, len);
			int rc = husk_frame_parse(p, len, &hdr, &err);
			if (rc != HUSK_PARSE_NEED_MORE)
				fail_msg("%s frame cut to %zu of %zu bytes: got %d (%s)",
					 husk_frame_type_name(samples[i].type), len, n, rc, err.msg);
			assert_int_equal(err.code, 0);
			free(p);
		}
		free(buf);
	}
}

static void test_bad_magic(void **state)
{
	static const uint8_t magics[][2] = {
		{ 0x4b, 0x48 }, /* byte-swapped */
		{ 0x48, 0x00 }, { 0x00, 0x4b }, { 0x00, 0x00 }, { 0xff, 0xff }, { 'h', 'k' },
	};
	uint8_t buf[HUSK_FRAME_HDR + 2];

	for (size_t m = 0; m < sizeof magics / sizeof magics[0]; m++) {
		husk_frame_encode_hdr(buf, HUSK_FRAME_DATA, 1, 2);
		buf[0] = magics[m][0];
		buf[1] = magics[m][1];
		for (size_t len = 0; len <= sizeof buf; len++) {
			struct husk_frame_hdr hdr;
			struct husk_err err = { 0 };
			int rc = husk_frame_parse(buf, len, &hdr, &err);

			if (len < 2) {
				assert_int_equal(rc, HUSK_PARSE_NEED_MORE);
				assert_int_equal(err.code, 0);
				continue;
			}
			if (rc != HUSK_PARSE_BAD)
				fail_msg("magic %02x%02x with %zu bytes: got %d", magics[m][0],
					 magics[m][1], len, rc);
			assert_int_equal(err.code, EPROTO);
			assert_contains(err.msg, "magic");
		}
	}
}

static void test_oversize_rejected_before_payload(void **state)
{
	/* Any frame type: over HUSK_FRAME_MAX_PAYLOAD. */
	for (uint16_t t = HUSK_FRAME_HELLO; t <= HUSK_FRAME_ERROR; t++) {
		uint32_t stream = (t == HUSK_FRAME_DATA || t == HUSK_FRAME_WINDOW ||
				   t == HUSK_FRAME_CLOSE) ? 1 : 0;
		expect_bad_hdr(t, stream, HUSK_FRAME_MAX_PAYLOAD + 1, EMSGSIZE, "exceeds");
		expect_bad_hdr(t, stream, 0xffffffffu, EMSGSIZE, "exceeds");
		expect_bad_hdr(t, stream, 0x80000000u, EMSGSIZE, "exceeds");
	}
	/* DATA: over HUSK_DATA_MAX, even though under the frame limit. */
	expect_bad_hdr(HUSK_FRAME_DATA, 1, HUSK_DATA_MAX + 1, EMSGSIZE, "DATA");
	expect_bad_hdr(HUSK_FRAME_DATA, 0xffffffffu, HUSK_FRAME_MAX_PAYLOAD, EMSGSIZE, "DATA");

	/* With part of the payload present the answer is the same. */
	uint8_t buf[HUSK_FRAME_HDR + 100] = { 0 };
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };
	husk_frame_encode_hdr(buf, HUSK_FRAME_REQUEST, 0, HUSK_FRAME_MAX_PAYLOAD + 1);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_BAD);
	assert_int_equal(err.code, EMSGSIZE);
}

static void test_unknown_type(void **state)
{
	static const uint16_t types[] = { 0, 9, 0xffff, 0x0100, 0x0200, 100 };

	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		expect_bad_hdr(types[i], 0, 0, EPROTO, "unknown frame type");
		expect_bad_hdr(types[i], 1, 0, EPROTO, "unknown frame type");
		expect_bad_hdr(types[i], 7, 4, EPROTO, "unknown frame type");
	}
	expect_bad_hdr(9, 0, 0, EPROTO, "unknown frame type 9");
	expect_bad_hdr(0xffff, 0, 0, EPROTO, "65535");
}

static void test_stream_type_agreement(void **state)
{
	static const uint16_t control[] = { HUSK_FRAME_HELLO, HUSK_FRAME_REQUEST, HUSK_FRAME_REPLY,
					    HUSK_FRAME_EVENT, HUSK_FRAME_ERROR };
	static const uint16_t streamed[] = { HUSK_FRAME_DATA, HUSK_FRAME_WINDOW,
					     HUSK_FRAME_CLOSE };

	for (size_t i = 0; i < sizeof control / sizeof control[0]; i++) {
		expect_bad_hdr(control[i], 1, 2, EPROTO, "on stream 1");
		expect_bad_hdr(control[i], 0x80000000u, 2, EPROTO, "stream");
		expect_bad_hdr(control[i], 0xffffffffu, 0, EPROTO, "stream");
	}
	expect_bad_hdr(HUSK_FRAME_DATA, 0, 1, EPROTO, "DATA frame on stream 0");
	expect_bad_hdr(HUSK_FRAME_WINDOW, 0, 4, EPROTO, "WINDOW frame on stream 0");
	expect_bad_hdr(HUSK_FRAME_CLOSE, 0, 0, EPROTO, "CLOSE frame on stream 0");
	for (size_t i = 0; i < sizeof streamed / sizeof streamed[0]; i++)
		expect_bad_hdr(streamed[i], 0, 0, EPROTO, "stream 0");
}

static void test_window_rules(void **state)
{
	static const uint32_t bad_len[] = { 0, 1, 3, 5, 8, 4096 };
	uint8_t buf[HUSK_FRAME_HDR + 4];
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };

	for (size_t i = 0; i < sizeof bad_len / sizeof bad_len[0]; i++)
		expect_bad_hdr(HUSK_FRAME_WINDOW, 2, bad_len[i], EPROTO, "WINDOW");

	/* A zero grant is only visible once the payload is there. */
	husk_frame_encode_hdr(buf, HUSK_FRAME_WINDOW, 2, 4);
	husk_put_be32(buf + HUSK_FRAME_HDR, 0);
	for (size_t len = 0; len < sizeof buf; len++)
		assert_int_equal(husk_frame_parse(buf, len, &hdr, &err), HUSK_PARSE_NEED_MORE);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_BAD);
	assert_int_equal(err.code, EPROTO);
	assert_contains(err.msg, "0 bytes");

	static const uint32_t good[] = { 1, 0x100, 0x01000000u, HUSK_INITIAL_WINDOW, 0xffffffffu };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		memset(&err, 0, sizeof err);
		husk_put_be32(buf + HUSK_FRAME_HDR, good[i]);
		assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_FRAME);
		assert_int_equal(hdr.type, HUSK_FRAME_WINDOW);
		assert_int_equal(hdr.length, 4);
		assert_int_equal(husk_get_be32(buf + HUSK_FRAME_HDR), good[i]);
		assert_int_equal(err.code, 0);
	}
}

static void test_close_must_be_empty(void **state)
{
	expect_bad_hdr(HUSK_FRAME_CLOSE, 1, 1, EPROTO, "CLOSE frame with 1 byte");
	expect_bad_hdr(HUSK_FRAME_CLOSE, 1, 4, EPROTO, "CLOSE");
	expect_bad_hdr(HUSK_FRAME_CLOSE, 1, HUSK_DATA_MAX, EPROTO, "CLOSE");

	uint8_t buf[HUSK_FRAME_HDR];
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };
	husk_frame_encode_hdr(buf, HUSK_FRAME_CLOSE, 42, 0);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_FRAME);
	assert_int_equal(hdr.stream, 42);
	assert_int_equal(hdr.length, 0);
}

static void test_empty_control_payload_is_a_frame(void **state)
{
	/* The header layer does not judge JSON: an empty REQUEST is a frame
	 * (the message decoder rejects it). */
	uint8_t buf[HUSK_FRAME_HDR];
	struct husk_frame_hdr hdr;
	struct husk_err err = { 0 };

	husk_frame_encode_hdr(buf, HUSK_FRAME_REQUEST, 0, 0);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_FRAME);
	assert_int_equal(hdr.length, 0);
	husk_frame_encode_hdr(buf, HUSK_FRAME_DATA, 1, 0);
	assert_int_equal(husk_frame_parse(buf, sizeof buf, &hdr, &err), HUSK_PARSE_FRAME);
}

static size_t resync(const char *s, size_t len)
{
	/* Exact-size heap copy so ASan catches reads past len. */
	uint8_t *p = malloc(len ? len : 1);
	size_t r;

	assert_non_null(p);
	memcpy(p, s, len);
	r = husk_frame_resync(p, len);
	free(p);
	return r;
}

#define RESYNC(lit) resync(lit, sizeof(lit) - 1)

static void test_resync(void **state)
{
	assert_int_equal(RESYNC("xyzHK\0\2"), 3);
	/* At a magic already: still skips to the next one. */
	assert_int_equal(RESYNC("HK\0\x09\0\0\0\0\0\0\0\0HK"), 12);
	assert_int_equal(RESYNC("HKHK"), 2);
	/* No magic at all: drop everything. */
	assert_int_equal(RESYNC("abcdefgh"), 8);
	assert_int_equal(RESYNC("HK"), 2);
	assert_int_equal(RESYNC("H"), 1);
	assert_int_equal(RESYNC("K"), 1);
	/* 'H' not followed by 'K' is not a magic. */
	assert_int_equal(RESYNC("aHxHyy"), 6);
	assert_int_equal(RESYNC("KH"), 1);
	/* A lone 'H' at the very end is kept: its 'K' may be on the way. */
	assert_int_equal(RESYNC("abcH"), 3);
	assert_int_equal(RESYNC("HH"), 1);
	assert_int_equal(RESYNC("xHHK"), 2);
	assert_int_equal(RESYNC("\x48\x4b\x48\x4b\x48"), 2);
	assert_int_equal(resync("", 0), 0);

	/* Always at least one byte, never more than len. */
	uint8_t buf[64];
	for (size_t len = 1; len <= sizeof buf; len++) {
		memset(buf, 'H', len);
		buf[len - 1] = 'K';
		size_t r = husk_frame_resync(buf, len);
		assert_true(r >= 1 && r <= len);
		memset(buf, 0, len);
		assert_int_equal(husk_frame_resync(buf, len), len);
	}
}

static void test_garbage_then_frame(void **state)
{
	/* A receiver loop: parse, resync on BAD, until the frame shows up. */
	uint8_t *frame;
	size_t n = build(&samples[1], &frame);
	static const char junk[] = "HK\0\x63garbageH\x4bH\xff\0HKK";
	size_t jn = sizeof junk - 1, total = jn + n, off = 0;
	uint8_t *buf = malloc(total);
	int bad = 0;

	assert_non_null(buf);
	memcpy(buf, junk, jn);
	memcpy(buf + jn, frame, n);
	for (;;) {
		struct husk_frame_hdr hdr;
		struct husk_err err = { 0 };
		int rc = husk_frame_parse(buf + off, total - off, &hdr, &err);

		assert_int_not_equal(rc, HUSK_PARSE_NEED_MORE);
		if (rc == HUSK_PARSE_FRAME) {
			assert_int_equal(hdr.type, HUSK_FRAME_REQUEST);
			assert_int_equal(hdr.length, samples[1].len);
			break;
		}
		bad++;
		size_t skip = husk_frame_resync(buf + off, total - off);
		assert_true(skip >= 1);
		off += skip;
		assert_true(off < total);
	}
	assert_int_equal(off, jn);
	assert_true(bad >= 3);
	free(buf);
	free(frame);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_be32),
		cmocka_unit_test(test_type_values_and_names),
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_two_frames_back_to_back),
		cmocka_unit_test(test_payload_limits_accepted),
		cmocka_unit_test(test_every_truncation_needs_more),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_oversize_rejected_before_payload),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_stream_type_agreement),
		cmocka_unit_test(test_window_rules),
		cmocka_unit_test(test_close_must_be_empty),
		cmocka_unit_test(test_empty_control_payload_is_a_frame),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_garbage_then_frame),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
