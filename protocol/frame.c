/* Frame header codec, and JSON messages put in frames: see
 * docs/protocol.md for the layout. */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "husk-proto.h"

uint32_t husk_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void husk_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

void husk_frame_encode_hdr(uint8_t out[HUSK_FRAME_HDR], uint16_t type, uint32_t stream,
			   uint32_t length)
{
	out[0] = HUSK_FRAME_MAGIC >> 8;
	out[1] = HUSK_FRAME_MAGIC & 0xff;
	out[2] = type >> 8;
	out[3] = type & 0xff;
	husk_put_be32(out + 4, stream);
	husk_put_be32(out + 8, length);
}

const char *husk_frame_type_name(uint16_t type)
{
	switch (type) {
	case HUSK_FRAME_HELLO: return "HELLO";
	case HUSK_FRAME_REQUEST: return "REQUEST";
	case HUSK_FRAME_REPLY: return "REPLY";
	case HUSK_FRAME_EVENT: return "EVENT";
	case HUSK_FRAME_DATA: return "DATA";
	case HUSK_FRAME_WINDOW: return "WINDOW";
	case HUSK_FRAME_CLOSE: return "CLOSE";
	case HUSK_FRAME_ERROR: return "ERROR";
	default: return NULL;
	}
}

static bool type_is_control(uint16_t type)
{
	return type == HUSK_FRAME_HELLO || type == HUSK_FRAME_REQUEST || type == HUSK_FRAME_REPLY ||
	       type == HUSK_FRAME_EVENT || type == HUSK_FRAME_ERROR;
}

int husk_frame_parse(const uint8_t *buf, size_t len, struct husk_frame_hdr *hdr,
		     struct husk_err *err)
{
	if (len < 2)
		return HUSK_PARSE_NEED_MORE;
	if ((((uint16_t)buf[0] << 8) | buf[1]) != HUSK_FRAME_MAGIC)
		return husk_err_set(err, EPROTO, "bad frame magic 0x%02x%02x", buf[0], buf[1]);
	if (len < HUSK_FRAME_HDR)
		return HUSK_PARSE_NEED_MORE;
	hdr->type = (uint16_t)buf[2] << 8 | buf[3];
	hdr->stream = husk_get_be32(buf + 4);
	hdr->length = husk_get_be32(buf + 8);
	if (!husk_frame_type_name(hdr->type))
		return husk_err_set(err, EPROTO, "unknown frame type %u", hdr->type);
	if (hdr->length > HUSK_FRAME_MAX_PAYLOAD)
		return husk_err_set(err, EMSGSIZE, "%s frame of %u bytes exceeds the %u byte limit",
				    husk_frame_type_name(hdr->type), hdr->length,
				    HUSK_FRAME_MAX_PAYLOAD);
	if (type_is_control(hdr->type) != (hdr->stream == HUSK_STREAM_CONTROL))
		return husk_err_set(err, EPROTO, "%s frame on stream %u",
				    husk_frame_type_name(hdr->type), hdr->stream);
	if (hdr->type == HUSK_FRAME_DATA && hdr->length > HUSK_DATA_MAX)
		return husk_err_set(err, EMSGSIZE, "DATA frame of %u bytes exceeds %u", hdr->length,
				    HUSK_DATA_MAX);
	/* messages that never need more: a receiver holds no more of them */
	if ((hdr->type == HUSK_FRAME_HELLO || hdr->type == HUSK_FRAME_EVENT ||
	     hdr->type == HUSK_FRAME_ERROR) &&
	    hdr->length > HUSK_SMALL_JSON_MAX)
		return husk_err_set(err, EMSGSIZE, "%s frame of %u bytes exceeds %u",
				    husk_frame_type_name(hdr->type), hdr->length,
				    HUSK_SMALL_JSON_MAX);
	if (hdr->type == HUSK_FRAME_WINDOW && hdr->length != 4)
		return husk_err_set(err, EPROTO, "WINDOW frame with %u byte payload", hdr->length);
	if (hdr->type == HUSK_FRAME_CLOSE && hdr->length != 0)
		return husk_err_set(err, EPROTO, "CLOSE frame with %u byte payload", hdr->length);
	if (len - HUSK_FRAME_HDR < hdr->length)
		return HUSK_PARSE_NEED_MORE;
	if (hdr->type == HUSK_FRAME_WINDOW && husk_get_be32(buf + HUSK_FRAME_HDR) == 0)
		return husk_err_set(err, EPROTO, "WINDOW frame granting 0 bytes");
	return HUSK_PARSE_FRAME;
}

size_t husk_frame_resync(const uint8_t *buf, size_t len)
{
	/* Skip at least one byte, then up to the next magic (or its first byte at
	 * the very end of the buffer). */
	for (size_t i = 1; i < len; i++) {
		if (buf[i] != (HUSK_FRAME_MAGIC >> 8))
			continue;
		if (i + 1 == len || buf[i + 1] == (HUSK_FRAME_MAGIC & 0xff))
			return i;
	}
	return len;
}

int64_t husk_frame_json(uint16_t type, struct json_object *o, uint8_t **out, struct husk_err *err)
{
	size_t len;
	const char *s;
	*out = NULL;
	if (!o)
		return husk_err_set(err, ENOMEM, "out of memory");
	s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	if (!s)
		return husk_err_set(err, ENOMEM, "out of memory");
	if (len > HUSK_FRAME_MAX_PAYLOAD)
		return husk_err_set(err, EMSGSIZE, "%s message of %zu bytes exceeds %u",
				    husk_frame_type_name(type), len, HUSK_FRAME_MAX_PAYLOAD);
	uint8_t *buf = malloc(HUSK_FRAME_HDR + len);
	if (!buf)
		return husk_err_set(err, ENOMEM, "out of memory");
	husk_frame_encode_hdr(buf, type, HUSK_STREAM_CONTROL, (uint32_t)len);
	memcpy(buf + HUSK_FRAME_HDR, s, len);
	*out = buf;
	return (int64_t)(HUSK_FRAME_HDR + len);
}
