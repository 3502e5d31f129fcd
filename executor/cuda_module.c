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

/* Where the library may be, relative to the directory of /proc/self/exe: beside mot (the
 * build tree), then ../lib/mot (an installed tree: CMake's install rules put it there). */
static const char *const module_places[] = {"/" MODULE_FILE, "/../lib/mot/" MODULE_FILE};
enum { N_PLACES = sizeof module_places / sizeof module_places[0] };

/* The first of module_places that exists, or "" (the executable's path cannot be read, or
 * none is there). */
static void find_beside_executable(char *path, size_t size) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    path[0] = '\0';
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) {
        return;
    }
    *slash = '\0';
    for (int i = 0; i < N_PLACES; i++) {
        snprintf(path, size, "%s%s", exe, module_places[i]);
        if (access(path, F_OK) == 0) {
            return;
        }
    }
    path[0] = '\0';
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
        find_beside_executable(path, sizeof path);
        if (!path[0]) {
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
