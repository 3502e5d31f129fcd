/* Prints a route: scores per expert (pipeline order), the active set and the primary. */
#ifndef MOT_CLI_ROUTE_PRINT_H
#define MOT_CLI_ROUTE_PRINT_H

#include <stdio.h>

#include "runtime/router.h"

void mot_route_print(FILE *f, const mot_model *m, const mot_route *r, const char *prefix);

#endif
