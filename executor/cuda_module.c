#include "executor/cuda_module.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

#define MODULE_FILE "libmot-cuda.so"
#define CREATE_SYMBOL "mot_gpu_api_cuda_create"

typedef mot_status (*create_fn)(int device, mot_gpu_api *out);

/* dirname(/proc/self/exe) + "/" MODULE_FILE, or "" when the executable cannot be read. */
static void beside_executable(char *path, size_t size) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    path[0] = '\0';
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        snprintf(path, size, "%s/%s", exe, MODULE_FILE);
    }
}

/* Loads the library once per process (RTLD_NOW: a missing symbol is an error here, not a
 * crash at the first launch) and returns its constructor. */
static mot_status load(create_fn *out) {
    static create_fn create;
    if (create) {
        *out = create;
        return MOT_OK;
    }
    char path[PATH_MAX + 32];
    const char *env = getenv("MOT_CUDA_MODULE");
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        beside_executable(path, sizeof path);
        if (!path[0] || access(path, F_OK) != 0) {
            snprintf(path, sizeof path, "%s", MODULE_FILE); /* the linker's search path */
        }
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        return mot_fail(MOT_ERR_UNSUPPORTED, "--backend cuda: cannot load the CUDA backend library %s: %s%s", path,
                        why ? why : "unknown error", env ? "" : " (set MOT_CUDA_MODULE to its path)");
    }
    create = (create_fn)dlsym(lib, CREATE_SYMBOL);
    if (!create) {
        dlclose(lib);
        return mot_fail(MOT_ERR_UNSUPPORTED, "--backend cuda: %s has no %s (not a mot CUDA backend library)", path,
                        CREATE_SYMBOL);
    }
    *out = create;
    return MOT_OK;
}

mot_status mot_cuda_module_create(int device, mot_gpu_api *out) {
    create_fn create;
    MOT_TRY(load(&create));
    return create(device, out);
}

int mot_cuda_driver_present(void) {
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        return 0;
    }
    dlclose(driver);
    return 1;
}
