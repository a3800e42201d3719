/*
 * error.cpp: thread-local last-error message. A fixed-size buffer per thread: formatting an error never
 * allocates, so out-of-memory paths can still report.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

namespace n4j {

namespace {
constexpr size_t kMessageCapacity = 1024;
thread_local char t_message[kMessageCapacity];
}  // namespace

int32_t set_error(int32_t code, const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(t_message, kMessageCapacity, format, args);
    va_end(args);
    return code;
}

void set_error_message(const char* message) {
    if (message == nullptr) message = "(no message)";
    snprintf(t_message, kMessageCapacity, "%s", message);
}

const char* last_error() { return t_message; }

}  // namespace n4j
