/* husk-agent: /init in the guest. PID-1 duties, then the agent loop: the
 * channel's frames go to the request handlers and the process streams. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "../init/init.h"
#include "channel.h"
#include "handlers.h"
#include "husk-log.h"
#include "net.h"
#include "process.h"

uv_loop_t *agent_loop;

static const struct agent_channel_ops channel_ops = {
    .request = agent_handle_request,
    .data = agent_stream_data,
    .window = agent_stream_window,
    .close = agent_stream_close,
};

static void on_sigchld(uv_signal_t *h, int sig)
{
	agent_reap();
}

int main(int argc, char **argv)
{
	static uv_signal_t sigchld;
	struct husk_err err = {0};
	init_early();
	/* lo is up in every VM, with or without a network (runc's containers
	 * have it too) */
	if (agent_net_lo_up(&err) < 0 || agent_net_park(&err) < 0)
		log_warn("%s", err.msg);
	agent_loop = uv_default_loop();
	uv_signal_init(agent_loop, &sigchld);
	uv_signal_start(&sigchld, on_sigchld, SIGCHLD);
	if (agent_channel_open(agent_loop, &channel_ops, &err) < 0)
		init_fatal("%s", err.msg);
	agent_reap(); /* children that exited before the handler was in place */
	uv_run(agent_loop, UV_RUN_DEFAULT);
	init_fatal("event loop ended");
}
