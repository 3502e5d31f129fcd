/* A reply's text as it streams, cut at the first stop string (OpenAI's `stop`): text that
 * could be the start of a stop string is held back until the next piece says whether it is
 * one, so a streamed reply never gives out part of a stop string. Checking costs at most the
 * stop strings' lengths squared per piece (MOT_OAI_MAX_STOP_BYTES bounds them), not the
 * reply's length. */
#ifndef MOT_SERVER_STOP_STRINGS_H
#define MOT_SERVER_STOP_STRINGS_H

#include <stddef.h>

#include "mot.h"

typedef struct {
    char *const *stop; /* [n_stop], non-empty, the caller's */
    int n_stop;
    char *text;        /* the reply so far (cut before the stop string once one is found) */
    size_t len, cap;
    size_t given;      /* bytes of text given out */
    int stopped;       /* a stop string was found */
} mot_stop_strings;

void mot_stop_strings_init(mot_stop_strings *s, char *const *stop, int n_stop);
/* Adds a piece of the reply; *out / *out_len: the text that can now be given out (valid until
 * the next call). After a stop string nothing more is added. */
mot_status mot_stop_strings_push(mot_stop_strings *s, const char *piece, size_t n, const char **out, size_t *out_len);
/* The reply ended: what was held back. */
void mot_stop_strings_finish(mot_stop_strings *s, const char **out, size_t *out_len);
void mot_stop_strings_free(mot_stop_strings *s);

#endif
