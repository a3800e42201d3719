package org.nemotron4j.tokenizer;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;

import org.nemotron4j.NemotronException;

/**
 * What {@code tokenizer_config.json} (the {@code transformers} side of a checkpoint) says about the tokenizer.
 *
 * <pre>
 * "added_tokens_decoder": {"128000": {"content", "special", "lstrip", "rstrip", "normalized", "single_word"}}
 * "bos_token", "eos_token", "unk_token", "pad_token": "&lt;s&gt;" or {"content": "&lt;s&gt;", ...} or null
 * "additional_special_tokens": [...]
 * "add_bos_token", "add_eos_token": true / false (absent: as the post-processor does)
 * "chat_template": "..." or [{"name": "default", "template": "..."}, ...]
 * "additional_eos_tokens": [...]   (nemotron4j: more tokens that end generation)
 * </pre>
 *
 * @param addedTokensDecoder   added tokens by id (these replace tokenizer.json's entries of the same id)
 * @param bosToken             the BOS token's content, or null
 * @param eosToken             the EOS token's content, or null
 * @param specialTokens        contents of every token the config names (bos, eos, unk, pad, additional specials)
 * @param addBosToken          add_bos_token, or null when absent
 * @param addEosToken          add_eos_token, or null when absent
 * @param chatTemplate         the (default) chat template, or null
 * @param additionalEosTokens  contents of further tokens that end generation
 */
record TokenizerConfig(Map<Integer, AddedToken> addedTokensDecoder, String bosToken, String eosToken,
                       List<String> specialTokens, Boolean addBosToken, Boolean addEosToken, String chatTemplate,
                       List<String> additionalEosTokens) {

    static TokenizerConfig read(Path file) {
        JsonNode cfg = TokenizerLoader.readJson(file);
        Map<Integer, AddedToken> decoder = new LinkedHashMap<>();
        JsonNode dec = cfg.get("added_tokens_decoder");
        if (dec != null && !dec.isNull()) {
            if (!dec.isObject()) {
                throw fail(file, "\"added_tokens_decoder\" is not an object");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = dec.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                int id;
                try {
                    id = Integer.parseInt(e.getKey());
                } catch (NumberFormatException ex) {
                    throw fail(file, "added_tokens_decoder key '" + e.getKey() + "' is not an id");
                }
                decoder.put(id, AddedToken.fromJson(e.getValue(), id, file));
            }
        }
        List<String> specials = new ArrayList<>();
        for (String key : List.of("bos_token", "eos_token", "unk_token", "pad_token")) {
            String name = tokenName(file, cfg.get(key), key);
            if (name != null) {
                specials.add(name);
            }
        }
        specials.addAll(tokenNames(file, cfg, "additional_special_tokens"));
        String template = null;
        JsonNode tpl = cfg.get("chat_template");
        if (tpl != null && tpl.isTextual()) {
            template = tpl.asText();
        } else if (tpl != null && tpl.isArray()) {
            for (JsonNode t : tpl) {
                if ("default".equals(t.path("name").asText()) || template == null) {
                    template = t.path("template").asText(null);
                }
            }
        } else if (tpl != null && !tpl.isNull()) {
            throw fail(file, "\"chat_template\" is neither a string nor a list of named templates");
        }
        return new TokenizerConfig(decoder, tokenName(file, cfg.get("bos_token"), "bos_token"),
                tokenName(file, cfg.get("eos_token"), "eos_token"), specials, bool(file, cfg, "add_bos_token"),
                bool(file, cfg, "add_eos_token"), template, tokenNames(file, cfg, "additional_eos_tokens"));
    }

    private static NemotronException fail(Path file, String message) {
        return new NemotronException(file + ": " + message);
    }

    private static Boolean bool(Path file, JsonNode cfg, String key) {
        JsonNode v = cfg.get(key);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isBoolean()) {
            throw fail(file, "\"" + key + "\" is not a boolean: " + v);
        }
        return v.asBoolean();
    }

    /** A token as the config names it: a string, or an AddedToken object with "content"; null for null. */
    private static String tokenName(Path file, JsonNode v, String key) {
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isObject() && v.path("content").isTextual()) {
            return v.get("content").asText();
        }
        throw fail(file, "\"" + key + "\" is neither a string nor an object with \"content\": " + v);
    }

    private static List<String> tokenNames(Path file, JsonNode cfg, String key) {
        JsonNode list = cfg.get(key);
        List<String> names = new ArrayList<>();
        if (list == null || list.isNull()) {
            return names;
        }
        if (!list.isArray()) {
            throw fail(file, "\"" + key + "\" is not an array");
        }
        for (JsonNode e : list) {
            String name = tokenName(file, e, key);
            if (name != null) {
                names.add(name);
            }
        }
        return names;
    }
}
