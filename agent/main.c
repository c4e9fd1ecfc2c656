/* husk-agent: /init in the guest. PID-1 duties, then the agent loop. */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "../init/init.h"
#include "agent.h"
#include "husk-log.h"

struct agent agent;

static void on_sigchld(uv_signal_t *h, int sig)
{
	(void)h;
	(void)sig;
	agent_reap();
}

int main(int argc, char **argv)
{
	struct husk_err err = {0};
	(void)argc;
	(void)argv;
	init_early();
	agent.loop = uv_default_loop();
	uv_signal_init(agent.loop, &agent.sigchld);
	uv_signal_start(&agent.sigchld, on_sigchld, SIGCHLD);
	if (agent_channel_open(&err) < 0)
		init_fatal("%s", err.msg);
	agent_reap(); /* children that exited before the handler was in place */
	uv_run(agent.loop, UV_RUN_DEFAULT);
	init_fatal("event loop ended");
}
