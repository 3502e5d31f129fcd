/* libFuzzer target: llama-perplexity's KL-divergence base file (runtime/kl_divergence.c), as
 * `mot perplexity --kl-divergence --kl-divergence-base FILE` reads it: the header and tokens
 * checked against the file's size, then every chunk's rows and their scale and floor. The
 * model's vocabulary is the header's own when it is small (so that the fuzzer gets past that
 * check), else 16, the seeds' (tests/fuzz/make_seeds.py).
 * Build and run: scripts/fuzz.sh kld SECONDS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/kl_divergence.h"
#include "tests/fuzz/fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_dir("kld");
    if (fuzz_write("base.kld", data, size) != 0) {
        return 0;
    }
    int32_t vocab = 16;
    if (size >= 16) {
        memcpy(&vocab, data + 12, sizeof vocab);
        vocab = vocab >= 1 && vocab <= 4096 ? vocab : 16;
    }
    mot_kld_base b;
    if (mot_kld_base_open(&b, fuzz_path("base.kld"), vocab) == MOT_OK) {
        uint16_t *rows = malloc((size_t)b.scored * mot_kld_row_values(b.n_vocab) * sizeof *rows);
        for (int c = 0; rows && c < b.n_chunk && mot_kld_base_read_chunk(&b, c, rows) == MOT_OK; c++) {
            mot_kld_row r; /* the arithmetic over each row, as a comparison runs it */
            float logits[4096];
            for (int i = 0; i < b.n_vocab; i++) logits[i] = (float)(i % 7) - 3.0f;
            const mot_row_softmax sm = mot_row_softmax_of(logits, b.n_vocab);
            for (int i = 0; i < b.scored; i++) {
                mot_kld_compare_row(logits, b.n_vocab, &sm, rows + (size_t)i * mot_kld_row_values(b.n_vocab),
                                    b.tokens[(size_t)c * b.n_ctx + b.n_ctx / 2 + 1 + i], &r);
            }
        }
        free(rows);
    }
    mot_kld_base_close(&b);
    return 0;
}
