#include "cli/kld_report.h"

#include <math.h>
#include <stdlib.h>

/* Mean and its standard error (0 for 10 values or fewer, as llama.cpp reports). */
typedef struct {
    double mean, err;
} estimate;

static estimate mean_err(double sum, double sum2, long long n) {
    if (n < 1) return (estimate){0, 0};
    const double m = sum / (double)n, var = sum2 / (double)n - m * m;
    return (estimate){m, var > 0 && n > 10 ? sqrt(var / (double)(n - 1)) : 0.0};
}

/* Covariance of the two means (0 below 10 values). */
static double cov_of_means(double a, double b, double ab, long long n) {
    return n < 10 ? 0.0 : (ab / (double)n - (a / (double)n) * (b / (double)n)) / (double)(n - 1);
}

typedef struct {
    estimate log_ppl, log_ppl_base, kld, p_diff, p_diff_mse;
    double cov, ratio_err, rms, rms_err, same_top, same_top_err;
} figures;

static figures figures_of(const mot_kld_stats *s) {
    figures f;
    f.log_ppl = mean_err(s->nll, s->nll2, s->count);
    f.log_ppl_base = mean_err(s->nll_base, s->nll_base2, s->count);
    f.cov = cov_of_means(s->nll, s->nll_base, s->nll_nll_base, s->count);
    const double r2 = f.log_ppl.err * f.log_ppl.err + f.log_ppl_base.err * f.log_ppl_base.err - 2.0 * f.cov;
    f.ratio_err = r2 > 0 ? sqrt(r2) : 0.0;
    f.kld = mean_err(s->kld, s->kld2, s->count);
    f.p_diff = mean_err(s->p_diff, s->p_diff2, s->count);
    f.p_diff_mse = mean_err(s->p_diff2, s->p_diff4, s->count);
    f.rms = sqrt(f.p_diff_mse.mean);
    f.rms_err = f.rms > 0 ? 0.5 / f.rms * f.p_diff_mse.err : 0.0;
    f.same_top = s->count ? (double)s->same_top / (double)s->count : 0.0;
    f.same_top_err = s->count > 1 ? sqrt(f.same_top * (1.0 - f.same_top) / (double)(s->count - 1)) : 0.0;
    return f;
}

void mot_kld_print_header(FILE *f) {
    fprintf(f, "chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              "
               "\xce\x94p RMS            Same top p\n");
}

void mot_kld_print_chunk(FILE *f, int chunk, const mot_kld_stats *s) {
    const figures x = figures_of(s);
    const double ppl = exp(x.log_ppl.mean);
    fprintf(f, "%4d    %9.4f \xc2\xb1 %9.4f    %10.5f \xc2\xb1 %10.5f    %10.5f \xc2\xb1 %10.5f    %6.3f \xc2\xb1 %6.3f %%"
               "    %6.3f \xc2\xb1 %6.3f %%\n",
            chunk, ppl, ppl * x.log_ppl.err, x.log_ppl.mean - x.log_ppl_base.mean, x.ratio_err, x.kld.mean, x.kld.err,
            100.0 * x.rms, 100.0 * x.rms_err, 100.0 * x.same_top, 100.0 * x.same_top_err);
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Linear interpolation between the closest ranks of sorted v[n]. */
static double percentile(const float *v, long long n, double fraction) {
    if (fraction <= 0) return v[0];
    if (fraction >= 1) return v[n - 1];
    const double p = fraction * (double)(n - 1);
    const long long i = (long long)p;
    const double t = p - (double)i;
    return (1 - t) * v[i] + t * v[i + 1 < n ? i + 1 : n - 1];
}

static double median(const float *v, long long n) {
    return n % 2 == 0 ? 0.5 * ((double)v[n / 2] + (double)v[n / 2 - 1]) : (double)v[n / 2];
}

void mot_kld_print_summary(FILE *f, mot_kld_stats *s) {
    if (s->count < 100) {
        fprintf(f, "(%lld tokens scored: too few for the statistics, which need 100)\n", s->count);
        return;
    }
    const long long n = s->count;
    qsort(s->kld_values, (size_t)n, sizeof *s->kld_values, cmp_float);
    qsort(s->p_diff_values, (size_t)n, sizeof *s->p_diff_values, cmp_float);
    const figures x = figures_of(s);
    const double ppl = exp(x.log_ppl.mean), ppl_base = exp(x.log_ppl_base.mean);
    const double ppl_err = ppl * x.log_ppl.err, ppl_base_err = ppl_base * x.log_ppl_base.err;
    const double ratio = exp(x.log_ppl.mean - x.log_ppl_base.mean);
    const double d2 = ppl_err * ppl_err + ppl_base_err * ppl_base_err - 2.0 * ppl * ppl_base * x.cov;
    fprintf(f, "====== Perplexity statistics ======\n");
    fprintf(f, "Mean PPL(Q)                   : %10.6f \xc2\xb1 %10.6f\n", ppl, ppl_err);
    fprintf(f, "Mean PPL(base)                : %10.6f \xc2\xb1 %10.6f\n", ppl_base, ppl_base_err);
    const double cor = x.log_ppl.err * x.log_ppl_base.err > 0 ? x.cov / (x.log_ppl.err * x.log_ppl_base.err) : 0.0;
    fprintf(f, "Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * cor);
    fprintf(f, "Mean ln(PPL(Q)/PPL(base))     : %10.6f \xc2\xb1 %10.6f\n", x.log_ppl.mean - x.log_ppl_base.mean,
            x.ratio_err);
    fprintf(f, "Mean PPL(Q)/PPL(base)         : %10.6f \xc2\xb1 %10.6f\n", ratio, ratio * x.ratio_err);
    fprintf(f, "Mean PPL(Q)-PPL(base)         : %10.6f \xc2\xb1 %10.6f\n\n", ppl - ppl_base, d2 > 0 ? sqrt(d2) : 0.0);

    const float *k = s->kld_values, *p = s->p_diff_values;
    fprintf(f, "====== KL divergence statistics ======\n");
    fprintf(f, "Mean    KLD: %10.6f \xc2\xb1 %10.6f\n", x.kld.mean, x.kld.err);
    fprintf(f, "Maximum KLD: %10.6f\n", (double)k[n - 1]);
    static const double kld_at[] = {0.999, 0.99, 0.95, 0.90};
    static const char *const kld_name[] = {"99.9%", "99.0%", "95.0%", "90.0%"};
    for (int i = 0; i < 4; i++) fprintf(f, "%-7s KLD: %10.6f\n", kld_name[i], percentile(k, n, kld_at[i]));
    fprintf(f, "Median  KLD: %10.6f\n", median(k, n));
    static const double low_at[] = {0.10, 0.05, 0.01, 0.001};
    static const char *const low_name[] = {"10.0%", " 5.0%", " 1.0%", " 0.1%"};
    for (int i = 0; i < 4; i++) fprintf(f, "%-7s KLD: %10.6f\n", low_name[i], percentile(k, n, low_at[i]));
    fprintf(f, "Minimum KLD: %10.6f\n\n", (double)k[0]);

    fprintf(f, "====== Token probability statistics ======\n");
    fprintf(f, "Mean    \xce\x94p: %6.3f \xc2\xb1 %5.3f %%\n", 100.0 * x.p_diff.mean, 100.0 * x.p_diff.err);
    fprintf(f, "Maximum \xce\x94p: %6.3f%%\n", 100.0 * p[n - 1]);
    static const double p_at[] = {0.999, 0.99, 0.95, 0.90, 0.75};
    static const char *const p_name[] = {"99.9%", "99.0%", "95.0%", "90.0%", "75.0%"};
    for (int i = 0; i < 5; i++) fprintf(f, "%-7s \xce\x94p: %6.3f%%\n", p_name[i], 100.0 * percentile(p, n, p_at[i]));
    fprintf(f, "Median  \xce\x94p: %6.3f%%\n", 100.0 * median(p, n));
    static const double q_at[] = {0.25, 0.10, 0.05, 0.01, 0.001};
    static const char *const q_name[] = {"25.0%", "10.0%", " 5.0%", " 1.0%", " 0.1%"};
    for (int i = 0; i < 5; i++) fprintf(f, "%-7s \xce\x94p: %6.3f%%\n", q_name[i], 100.0 * percentile(p, n, q_at[i]));
    fprintf(f, "Minimum \xce\x94p: %6.3f%%\n", 100.0 * p[0]);
    fprintf(f, "RMS \xce\x94p    : %6.3f \xc2\xb1 %5.3f %%\n", 100.0 * x.rms, 100.0 * x.rms_err);
    fprintf(f, "Same top p: %6.3f \xc2\xb1 %5.3f %%\n", 100.0 * x.same_top, 100.0 * x.same_top_err);
}
