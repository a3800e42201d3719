package org.nemotron4j.server;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error answered in OpenAI's shape: {@code {"error": {"message", "type", "param", "code"}}} with its HTTP status
 * (400 invalid request, 401 bad API key, 404 unknown model or path, 405, 413, 429 queue full, 503 overloaded, 500).
 */
final class ApiError extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;
    final int retryAfterSeconds;

    ApiError(int status, String type, String message, String param, String code, int retryAfterSeconds) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    static ApiError invalid(String message, String param) {
        return new ApiError(400, "invalid_request_error", message, param, null, 0);
    }

    static ApiError invalid(String message, String param, String code) {
        return new ApiError(400, "invalid_request_error", message, param, code, 0);
    }

    static ApiError modelNotFound(String model) {
        return new ApiError(404, "invalid_request_error", "The model `" + model + "` does not exist.", "model",
                "model_not_found", 0);
    }

    static ApiError notFound(String path) {
        return new ApiError(404, "invalid_request_error", "Unknown path " + path, null, "not_found", 0);
    }

    static ApiError methodNotAllowed(String method, String path) {
        return new ApiError(405, "invalid_request_error", method + " is not allowed on " + path, null,
                "method_not_allowed", 0);
    }

    static ApiError unauthorized() {
        return new ApiError(401, "invalid_request_error", "Incorrect API key provided.", null, "invalid_api_key", 0);
    }

    static ApiError queueFull(String message, int retryAfter) {
        return new ApiError(429, "rate_limit_error", message, null, "rate_limit_exceeded", retryAfter);
    }

    static ApiError overloaded(String message, int retryAfter) {
        return new ApiError(503, "server_error", message, null, "overloaded", retryAfter);
    }

    static ApiError internal(String message) {
        return new ApiError(500, "server_error", message, null, null, 0);
    }

    ObjectNode toJson() {
        ObjectNode root = JsonNodeFactory.instance.objectNode();
        ObjectNode e = root.putObject("error");
        e.put("message", getMessage());
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return root;
    }
}
