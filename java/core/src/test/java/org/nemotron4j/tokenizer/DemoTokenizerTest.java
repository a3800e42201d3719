package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo model's tokenizer: its size, its chat markers, its config, its determinism. */
class DemoTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static String chatTemplate() throws IOException {
        return Files.readString(Fixtures.root().resolve("chat/nemotron-nano-v2/chat_template.jinja"));
    }

    @Test
    void sizeAndSpecialIds() {
        DemoTokenizer.write(dir);
        Tokenizer t = Tokenizer.fromDirectory(dir);
        assertEquals(DemoTokenizer.VOCAB_SIZE, t.vocabSize());
        assertEquals(DemoTokenizer.SPECIAL_COUNT, DemoTokenizer.specialTokens().size());
        assertEquals("<unk>", t.token(DemoTokenizer.UNK_ID));
        assertEquals("<s>", t.token(DemoTokenizer.BOS_ID));
        assertEquals("</s>", t.token(DemoTokenizer.EOS_ID));
        assertEquals("<SPECIAL_12>", t.token(DemoTokenizer.END_OF_TURN_ID));
        assertEquals(DemoTokenizer.BOS_ID, t.bosTokenId().getAsInt());
        assertEquals(DemoTokenizer.EOS_ID, t.eosTokenId().getAsInt());
        assertArrayEquals(new int[] {DemoTokenizer.EOS_ID, DemoTokenizer.END_OF_TURN_ID}, t.eosTokenIds());
        for (int id = 0; id < DemoTokenizer.SPECIAL_COUNT; id++) {
            assertTrue(t.isSpecial(id));
        }
        for (int id = DemoTokenizer.SPECIAL_COUNT; id < DemoTokenizer.VOCAB_SIZE; id++) {
            assertFalse(t.isSpecial(id));
            assertTrue(t.token(id) != null && !t.token(id).isEmpty(), "id " + id);
        }
        for (int b = 0; b < 256; b++) {
            assertArrayEquals(new byte[] {(byte) b}, t.tokenBytes(DemoTokenizer.FIRST_BYTE_ID + b));
        }
        // the merges learned something: common English words are one or two tokens
        assertTrue(t.encode(" the", false).length == 1);
        assertTrue(t.encode("The sky is blue because the air scatters light.", false).length < 20);
    }

    @Test
    void everyChatMarkerIsOneSpecialToken() throws IOException {
        DemoTokenizer.write(dir, chatTemplate());
        Tokenizer t = Tokenizer.fromDirectory(dir);
        Set<String> markers = new LinkedHashSet<>();
        Matcher m = Pattern.compile("<[A-Za-z_/0-9]+>").matcher(chatTemplate());
        while (m.find()) {
            markers.add(m.group());
        }
        assertTrue(markers.containsAll(Set.of("<SPECIAL_10>", "<SPECIAL_11>", "<SPECIAL_12>", "<think>", "</think>",
                "<TOOLCALL>", "</TOOLCALL>", "<TOOL_RESPONSE>", "</TOOL_RESPONSE>", "<AVAILABLE_TOOLS>",
                "</AVAILABLE_TOOLS>")), markers.toString());
        for (String marker : markers) {
            int[] ids = t.encode(marker, false);
            assertEquals(1, ids.length, marker);
            assertTrue(t.isSpecial(ids[0]), marker);
            assertEquals(marker, t.token(ids[0]));
        }
    }

    @Test
    void renderedChatsRoundTrip() throws IOException {
        DemoTokenizer.write(dir, chatTemplate());
        Tokenizer t = Tokenizer.fromDirectory(dir);
        int count = 0;
        for (String line : Files.readAllLines(Fixtures.root().resolve("chat/nemotron-nano-v2/cases.jsonl"))) {
            if (line.isBlank()) {
                continue;
            }
            String rendered = JSON.readTree(line).get("rendered").asText();
            int[] ids = t.encode(rendered, false);
            assertEquals(rendered, t.decode(ids));
            int[] withBos = t.encode(rendered, true);
            assertEquals(DemoTokenizer.BOS_ID, withBos[0]);
            assertEquals(ids.length + 1, withBos.length);
            for (int id : ids) {
                assertTrue(id >= 0 && id < DemoTokenizer.VOCAB_SIZE);
            }
            count++;
        }
        assertTrue(count > 0);
    }

    @Test
    void configCarriesTheTemplateOnlyWhenGiven() throws IOException {
        DemoTokenizer.write(dir.resolve("a"));
        assertFalse(JSON.readTree(dir.resolve("a/tokenizer_config.json").toFile()).has("chat_template"));
        assertTrue(Tokenizer.fromDirectory(dir.resolve("a")).chatTemplate().isEmpty());
        String template = chatTemplate();
        DemoTokenizer.write(dir.resolve("b"), template);
        JsonNode cfg = JSON.readTree(dir.resolve("b/tokenizer_config.json").toFile());
        assertEquals(template, cfg.get("chat_template").asText());
        assertEquals("<s>", cfg.get("bos_token").asText());
        assertEquals("</s>", cfg.get("eos_token").asText());
        assertTrue(cfg.get("add_bos_token").asBoolean());
        assertEquals(template, Tokenizer.fromDirectory(dir.resolve("b")).chatTemplate().orElseThrow());
    }

    @Test
    void outputIsDeterministic() throws IOException {
        DemoTokenizer.write(dir.resolve("a"));
        DemoTokenizer.write(dir.resolve("b"));
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json"}) {
            assertArrayEquals(Files.readAllBytes(dir.resolve("a").resolve(f)),
                    Files.readAllBytes(dir.resolve("b").resolve(f)), f);
        }
    }
}
