/* What `mot perplexity --kl-divergence` prints, in llama-perplexity's layout: a line per chunk
 * (PPL, ln(PPL(Q)/PPL(base)), KL divergence, RMS of the change in p(target), how often the
 * arg-max agrees, each with its uncertainty), then the statistics over every scored token. */
#ifndef MOT_CLI_KLD_REPORT_H
#define MOT_CLI_KLD_REPORT_H

#include <stdio.h>

#include "runtime/kl_divergence.h"

void mot_kld_print_header(FILE *f);
void mot_kld_print_chunk(FILE *f, int chunk, const mot_kld_stats *s);
/* The final statistics (percentiles sort s's values in place); fewer than 100 tokens: a line
 * saying so instead. */
void mot_kld_print_summary(FILE *f, mot_kld_stats *s);

#endif
