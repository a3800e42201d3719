/*
 * error.h: the thread-local last-error message behind n4j_last_error().
 *
 * Every failing entry point stores "function: what is wrong" here and returns a status code. The message lives
 * until the next failure on the same thread (successful calls leave it alone, so "" means "no failure yet").
 */
#ifndef N4J_ERROR_H
#define N4J_ERROR_H

#include <stdint.h>

namespace n4j {

/* Formats the message (printf-style) into the calling thread's buffer and returns `code`. */
int32_t set_error(int32_t code, const char* format, ...) __attribute__((format(printf, 2, 3)));

/* Stores a ready-made message (used by plug-in backends through n4j_backend_host). */
void set_error_message(const char* message);

const char* last_error();

}  // namespace n4j

#endif /* N4J_ERROR_H */
