/* Small helpers over jansson that turn a missing or mistyped key into a one-line error
 * naming the file and the key. */
#ifndef MOT_COMMON_JSON_H
#define MOT_COMMON_JSON_H

#include <jansson.h>

#include "mot.h"

/* Parses a whole file; error "<path>:<line>:<col>: invalid JSON: <reason>". */
mot_status mot_json_load(const char *path, json_t **out);

/* Required keys: error "<file>: key '<key>': missing" or "...: expected an integer". */
mot_status mot_json_int(const json_t *obj, const char *key, const char *file, long long *out);
mot_status mot_json_num(const json_t *obj, const char *key, const char *file, double *out);
/* Optional keys: leave *out untouched when absent or null; still an error when mistyped. */
mot_status mot_json_opt_int(const json_t *obj, const char *key, const char *file, long long *out);
mot_status mot_json_opt_num(const json_t *obj, const char *key, const char *file, double *out);
mot_status mot_json_opt_bool(const json_t *obj, const char *key, const char *file, int *out);

#endif
