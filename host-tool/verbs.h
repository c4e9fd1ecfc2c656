/* The verbs main.c dispatches to: one file per verb or group of verbs,
 * each a thin front over the modules it calls. argv[0] is the verb. */
#ifndef HUSK_VERBS_H
#define HUSK_VERBS_H

int husk_cmd_create(int argc, char **argv); /* create.c */
int husk_cmd_run(int argc, char **argv);    /* run.c */
int husk_cmd_exec(int argc, char **argv);   /* exec.c */
int husk_cmd_start(int argc, char **argv);  /* lifecycle.c */
int husk_cmd_state(int argc, char **argv);
int husk_cmd_kill(int argc, char **argv);
int husk_cmd_delete(int argc, char **argv);
int husk_cmd_pause(int argc, char **argv); /* control.c */
int husk_cmd_resume(int argc, char **argv);
int husk_cmd_update(int argc, char **argv);
int husk_cmd_list(int argc, char **argv);     /* info.c */
int husk_cmd_snapshot(int argc, char **argv); /* snapcmd.c */
int husk_cmd_ps(int argc, char **argv);
int husk_cmd_spec(int argc, char **argv);
int husk_cmd_features(int argc, char **argv);
int husk_cmd_ping(int argc, char **argv);
int husk_cmd_events(int argc, char **argv); /* events.c */

#endif
