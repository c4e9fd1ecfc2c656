/* One logging macro family for host and agent. Each program sets its sink;
 * never log environment variables or stream payloads. */
#ifndef HUSK_LOG_H
#define HUSK_LOG_H

enum husk_log_level {
	HUSK_LOG_ERROR = 0,
	HUSK_LOG_WARN = 1,
	HUSK_LOG_INFO = 2,
	HUSK_LOG_DEBUG = 3
};

typedef void (*husk_log_sink)(enum husk_log_level level, const char *msg);
extern enum husk_log_level husk_log_max;
void husk_log_set_sink(husk_log_sink sink);
void husk_log_emit(enum husk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *husk_log_level_name(enum husk_log_level level);

#define husk_log(level, ...)                                                                       \
	do {                                                                                       \
		if ((level) <= husk_log_max)                                                       \
			husk_log_emit((level), __VA_ARGS__);                                       \
	} while (0)
#define log_error(...) husk_log(HUSK_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  husk_log(HUSK_LOG_WARN, __VA_ARGS__)
#define log_info(...)  husk_log(HUSK_LOG_INFO, __VA_ARGS__)
#define log_debug(...) husk_log(HUSK_LOG_DEBUG, __VA_ARGS__)

#endif
