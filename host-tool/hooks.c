/* OCI hooks, run on the host as the runtime-spec says: path, args, env,
 * timeout, with the container's state JSON on stdin. */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "hooks.h"
#include "husk-log.h"

static char **strv(struct json_object *a, const char *first)
{
	size_t n = a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
	char **v = calloc(n + 2, sizeof *v);
	size_t k = 0;
	if (!v)
		return NULL;
	if (n == 0 && first)
		v[k++] = (char *)first;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(a, i));
		if (s)
			v[k++] = (char *)s;
	}
	return v;
}

static int run_one(struct json_object *hook, const char *phase, size_t i, const char *state,
		   int netns, struct husk_err *err)
{
	struct json_object *path, *args = NULL, *env = NULL, *to;
	int timeout = 0, in[2];
	if (!json_object_object_get_ex(hook, "path", &path) ||
	    !json_object_is_type(path, json_type_string))
		return husk_err_set(err, EINVAL, "hooks.%s[%zu] has no path", phase, i);
	json_object_object_get_ex(hook, "args", &args);
	json_object_object_get_ex(hook, "env", &env);
	if (json_object_object_get_ex(hook, "timeout", &to) &&
	    json_object_is_type(to, json_type_int))
		timeout = json_object_get_int(to);
	_cleanup_free_ char **argv = strv(args, json_object_get_string(path));
	_cleanup_free_ char **envp = strv(env, NULL);
	if (!argv || !envp || pipe2(in, O_CLOEXEC) < 0)
		return husk_err_sys(err, errno ? errno : ENOMEM, "hooks.%s[%zu]", phase, i);
	pid_t pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return husk_err_sys(err, errno, "hooks.%s[%zu]: fork", phase, i);
	}
	if (pid == 0) {
		dup2(in[0], 0);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1); /* a hook's output must not reach the container's stdio */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (netns >= 0 && setns(netns, CLONE_NEWNET) < 0)
			_exit(126);
		execve(json_object_get_string(path), argv, envp);
		_exit(127);
	}
	close(in[0]);
	/* a hook that exits without reading its stdin must not take husk
	 * with it: EPIPE, not SIGPIPE */
	struct sigaction ign = {.sa_handler = SIG_IGN}, old;
	sigaction(SIGPIPE, &ign, &old);
	ssize_t w = write(in[1], state, strlen(state));
	(void)w;
	sigaction(SIGPIPE, &old, NULL);
	close(in[1]);
	int status = 0;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		pid_t r = waitpid(pid, &status, timeout > 0 ? WNOHANG : 0);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return husk_err_sys(err, errno, "hooks.%s[%zu]: wait", phase, i);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout > 0 && now.tv_sec - start.tv_sec >= timeout) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return husk_err_set(err, ETIMEDOUT,
					    "hooks.%s[%zu] (%s) timed out after %d s", phase, i,
					    json_object_get_string(path), timeout);
		}
		if (r == 0)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return husk_err_set(err, EIO, "hooks.%s[%zu] (%s) failed with status %d", phase, i,
				    json_object_get_string(path),
				    WIFEXITED(status) ? WEXITSTATUS(status)
						      : 128 + WTERMSIG(status));
	return 0;
}

int husk_hooks_run(struct json_object *hooks, const char *phase, struct json_object *state,
		   int netns, struct husk_err *err)
{
	struct json_object *list;
	if (!hooks || !json_object_object_get_ex(hooks, phase, &list) ||
	    !json_object_is_type(list, json_type_array))
		return 0;
	const char *s = json_object_to_json_string_ext(state, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		log_debug("running hooks.%s[%zu]", phase, i);
		if (run_one(json_object_array_get_idx(list, i), phase, i, s, netns, err) < 0)
			return -1;
	}
	return 0;
}
