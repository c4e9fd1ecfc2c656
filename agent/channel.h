/* The one channel to the host: a virtio-serial port carrying frames. The
 * channel knows frames, not what they mean: it hands each one to the ops it
 * was opened with and sends ERROR frames for those they refuse. */
#ifndef HUSK_AGENT_CHANNEL_H
#define HUSK_AGENT_CHANNEL_H

#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "husk-proto.h"

/* What to do with the frames the host sends. A callback that returns -1
 * fills err, and the host gets an ERROR frame saying so. */
struct agent_channel_ops {
	/* a REQUEST's JSON payload */
	int (*request)(const char *payload, size_t len, struct husk_err *err);
	/* DATA, WINDOW (the credit granted) and CLOSE for a stream */
	int (*data)(uint32_t stream, const uint8_t *data, uint32_t len, struct husk_err *err);
	int (*window)(uint32_t stream, uint32_t n, struct husk_err *err);
	int (*close)(uint32_t stream, struct husk_err *err);
	/* the host closed its side: half a frame was dropped, the channel
	 * listens for the host to come back (optional) */
	void (*host_gone)(void);
};

/* Find the port, greet the host with HELLO and start reading. */
int agent_channel_open(uv_loop_t *loop, const struct agent_channel_ops *ops, struct husk_err *err);

void agent_send_frame(uint16_t type, uint32_t stream, const void *payload, uint32_t len);
/* A JSON message (the reference to o is dropped); then(), if given, runs
 * once the frame is written, or failed to be. */
void agent_send_json(uint16_t type, struct json_object *o, void (*then)(void));
void agent_send_window(uint32_t stream, uint32_t n);
void agent_reply_error(uint32_t id, const struct husk_err *err);
void agent_reply_ok(uint32_t id, int64_t pid);

/* Output read into a buffer goes out in frames of at most this much (a
 * spliced frame may carry up to HUSK_DATA_MAX). */
#define AGENT_COPY_MAX (64u * 1024u)
/* Buffers of HUSK_FRAME_HDR + AGENT_COPY_MAX bytes for DATA frames, reused. */
uint8_t *agent_data_buf(void);
void agent_data_buf_put(uint8_t *buf);
/* Send a DATA frame whose payload follows the header's room in buf, a
 * buffer from agent_data_buf that the channel now owns. */
void agent_send_data(uint32_t stream, uint8_t *buf, uint32_t len);
/* A DATA frame of up to max bytes spliced from the pipe fd straight into
 * the channel: the bytes sent, 0 when nothing was (the channel is busy,
 * splicing is off, or the pipe is empty), -1 once a frame broke off. */
ssize_t agent_send_spliced(uint32_t stream, int fd, uint32_t max);

/* HELLO: at open, and again to the host of a VM restored from a snapshot
 * once it is made unique (vm.restore). */
void agent_channel_greet(void);

#endif
