/*
 * export.h: symbol visibility of libnemotron4j.
 *
 * The library is compiled with -fvisibility=hidden; only the C ABI entry points of nemotron4j.h are marked with
 * N4J_EXPORT (and the linker version script exports.map keeps everything else, including the statically linked
 * C++ runtime, local). The public header stays plain C without attributes.
 */
#ifndef N4J_EXPORT_H
#define N4J_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define N4J_EXPORT __attribute__((visibility("default")))
#else
#define N4J_EXPORT
#endif

#endif /* N4J_EXPORT_H */
