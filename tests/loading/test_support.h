/* Shared by the loading tests: checks that count failures and print where, and helpers that
 * write crafted files into a temporary folder. */
#ifndef MOT_TESTS_LOADING_TEST_SUPPORT_H
#define MOT_TESTS_LOADING_TEST_SUPPORT_H

#include <stddef.h>

#include "mot.h"

extern int test_failures;

void test_check(int ok, const char *what, const char *file, int line);
/* st must be MOT_OK. */
void test_check_ok(mot_status st, const char *what, const char *file, int line);
/* st must be `want` and the last error must contain `substr`. */
void test_check_fail(mot_status st, mot_status want, const char *substr, const char *what,
                     const char *file, int line);

#define CHECK(cond) test_check((cond) != 0, #cond, __FILE__, __LINE__)
#define CHECK_OK(expr) test_check_ok((expr), #expr, __FILE__, __LINE__)
#define CHECK_FAIL(expr, want, substr) test_check_fail((expr), (want), (substr), #expr, __FILE__, __LINE__)

/* Prints a summary; the exit status for main. */
int test_finish(const char *name);

/* A fresh folder under /tmp (removed by test_remove_tree). */
const char *test_mkdtemp(void);
void test_remove_tree(const char *dir);
/* dir/name into buf (of at least 1024 bytes); returns buf. */
char *test_path(char *buf, const char *dir, const char *name);
/* Folder dir/name created; its path into buf. */
char *test_subdir(char *buf, const char *dir, const char *name);

void test_write_bytes(const char *path, const void *data, size_t n);
void test_write_text(const char *path, const char *text);
/* A safetensors file by hand: the length prefix (of the header as given), the header, then
 * `data_len` bytes counting 0, 1, 2, ... */
void test_write_st_raw(const char *path, const char *header, size_t data_len);

#endif
