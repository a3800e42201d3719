package org.nemotron4j.server;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads and checks the fields of an OpenAI request body; a wrong type or value is an {@link ApiError} (400) naming
 * the parameter.
 */
final class RequestParams {
    private final JsonNode body;

    RequestParams(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw ApiError.invalid("the request body must be a JSON object", null);
        }
        this.body = body;
    }

    JsonNode body() {
        return body;
    }

    JsonNode node(String name) {
        JsonNode n = body.get(name);
        return n == null || n.isNull() ? null : n;
    }

    String string(String name, boolean required) {
        JsonNode n = node(name);
        if (n == null) {
            if (required) {
                throw ApiError.invalid("'" + name + "' is a required property", name);
            }
            return null;
        }
        if (!n.isTextual()) {
            throw ApiError.invalid("'" + name + "' must be a string, got " + n.getNodeType(), name);
        }
        return n.textValue();
    }

    Integer integer(String name, long min, long max) {
        JsonNode n = node(name);
        if (n == null) {
            return null;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < min || n.longValue() > max) {
            throw ApiError.invalid("'" + name + "' must be an integer in [" + min + ", " + max + "], got " + n, name);
        }
        return (int) n.longValue();
    }

    Long longValue(String name) {
        JsonNode n = node(name);
        if (n == null) {
            return null;
        }
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw ApiError.invalid("'" + name + "' must be an integer, got " + n, name);
        }
        return n.longValue();
    }

    Double number(String name, double min, double max, boolean minInclusive) {
        JsonNode n = node(name);
        if (n == null) {
            return null;
        }
        if (!n.isNumber()) {
            throw ApiError.invalid("'" + name + "' must be a number, got " + n, name);
        }
        double v = n.doubleValue();
        if (!(minInclusive ? v >= min : v > min) || v > max) {
            throw ApiError.invalid("'" + name + "' must be in " + (minInclusive ? "[" : "(") + min + ", " + max
                    + "], got " + n, name);
        }
        return v;
    }

    boolean bool(String name, boolean dflt) {
        JsonNode n = node(name);
        if (n == null) {
            return dflt;
        }
        if (!n.isBoolean()) {
            throw ApiError.invalid("'" + name + "' must be a boolean, got " + n, name);
        }
        return n.booleanValue();
    }

    /** {@code stop}: a string or an array of non-empty strings. */
    List<String> stop() {
        JsonNode n = node("stop");
        List<String> out = new ArrayList<>();
        if (n == null) {
            return out;
        }
        if (n.isTextual()) {
            out.add(n.textValue());
        } else if (n.isArray()) {
            for (JsonNode s : n) {
                if (!s.isTextual()) {
                    throw ApiError.invalid("'stop' must be a string or an array of strings", "stop");
                }
                out.add(s.textValue());
            }
        } else {
            throw ApiError.invalid("'stop' must be a string or an array of strings", "stop");
        }
        for (String s : out) {
            if (s.isEmpty()) {
                throw ApiError.invalid("'stop' strings must not be empty", "stop");
            }
        }
        return out;
    }
}
