/*
 * glibc_compat.cpp: keeps libnemotron4j.so loadable on glibc 2.34 (RHEL 9, Ubuntu 22.04 ship 2.34 / 2.35).
 *
 * The C++ runtime is linked statically (-static-libstdc++), and its std::random_device object references
 * arc4random, which glibc only has since 2.36. The library never uses std::random_device; this hidden definition
 * (the linker version script keeps it local) satisfies the reference with getrandom(2) (glibc 2.25), so the
 * library needs nothing newer than the GLIBC_2.34 symbols of pthread and dlopen.
 */
#include <stdint.h>
#include <sys/random.h>
#include <time.h>

extern "C" __attribute__((visibility("hidden"))) uint32_t arc4random(void) noexcept {
    uint32_t value = 0;
    if (getrandom(&value, sizeof(value), 0) == static_cast<ssize_t>(sizeof(value))) return value;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint32_t>(ts.tv_nsec) ^ static_cast<uint32_t>(ts.tv_sec * 2654435761u);
}
