#include "train/adamw.h"

#include <math.h>

void mot_adamw_defaults(mot_adamw_opts *o) {
    *o = (mot_adamw_opts){.lr = 5e-5f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
                          .clip = 1.0f, .warmup = 0, .total_steps = 1};
}

double mot_adamw_lr(const mot_adamw_opts *o, long step) {
    if (step < o->warmup) {
        return (double)o->lr * (double)step / (double)(o->warmup > 1 ? o->warmup : 1);
    }
    const long span = o->total_steps - o->warmup > 1 ? o->total_steps - o->warmup : 1;
    const double progress = (double)(step - o->warmup) / (double)span;
    const double c = 0.5 * (1.0 + cos(M_PI * progress));
    return (double)o->lr * (c > 0 ? c : 0);
}

double mot_clip_grad_norm(float *grad, size_t n, double clip) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)grad[i] * grad[i];
    const double norm = sqrt(sum);
    if (clip > 0) {
        const double coef = clip / (norm + 1e-6);
        if (coef < 1) {
            for (size_t i = 0; i < n; i++) grad[i] = (float)(grad[i] * coef);
        }
    }
    return norm;
}

void mot_adamw_step(const mot_adamw_opts *o, const mot_train_layout *lay, long step, float *values,
                    const float *grad, float *m, float *v) {
    const double lr = mot_adamw_lr(o, step), t = (double)(step + 1);
    const double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    for (int i = 0; i < lay->n; i++) {
        const mot_train_tensor *tt = &lay->t[i];
        const double decay = tt->ndim == 2 ? 1.0 - lr * o->weight_decay : 1.0;
        float *p = values + tt->offset, *mm = m + tt->offset, *vv = v + tt->offset;
        const float *g = grad + tt->offset;
        for (size_t j = 0; j < tt->count; j++) {
            /* torch.optim.AdamW: decay first, then the Adam update with bias corrections */
            mm[j] = o->beta1 * mm[j] + (1.0f - o->beta1) * g[j];
            vv[j] = o->beta2 * vv[j] + (1.0f - o->beta2) * g[j] * g[j];
            const double denom = sqrt(vv[j] / bc2) + o->eps;
            p[j] = (float)(p[j] * decay - lr * (mm[j] / bc1) / denom);
        }
    }
}
