package org.nemotron4j.tokenizer;

import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;

import org.nemotron4j.NemotronException;

/**
 * An entry of {@code added_tokens} (tokenizer.json) or {@code added_tokens_decoder} (tokenizer_config.json): a
 * token matched in the text as a whole before pre-tokenization.
 *
 * @param id         its id
 * @param content    the text it stands for
 * @param special    a special (control) token: skipped by {@code decode(ids, true)}
 * @param lstrip     a match also takes the whitespace before it
 * @param rstrip     a match also takes the whitespace after it
 * @param normalized matched in the normalized text (else in the raw text, before normalization)
 * @param singleWord matched only where it is not part of a larger word
 */
public record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip,
                         boolean normalized, boolean singleWord) {

    /**
     * Reads {"content", "special", "lstrip", "rstrip", "normalized", "single_word"} (normalized defaults to
     * !special, as in the library).
     */
    static AddedToken fromJson(JsonNode t, int id, Path file) {
        if (!t.isObject() || id < 0 || id >= MergeTable.MAX_ID || !t.path("content").isTextual()) {
            throw new NemotronException(file + ": added token without a valid id and content: " + t);
        }
        boolean special = t.path("special").asBoolean(false);
        return new AddedToken(id, t.get("content").asText(), special, t.path("lstrip").asBoolean(false),
                t.path("rstrip").asBoolean(false), t.path("normalized").asBoolean(!special),
                t.path("single_word").asBoolean(false));
    }

    AddedToken asSpecial() {
        return special ? this : new AddedToken(id, content, true, lstrip, rstrip, normalized, singleWord);
    }
}
