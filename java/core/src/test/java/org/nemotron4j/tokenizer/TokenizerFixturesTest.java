package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Every case of {@code fixtures/tokenizers/{llama3,qwen3,gpt4o}/cases.jsonl}: {@code ids} = encode(text, false),
 * {@code ids_with_special_tokens} = encode(text, true), {@code decoded} = decode(ids_with_special_tokens), exactly.
 */
class TokenizerFixturesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicNode> fixtureCases() throws IOException {
        List<DynamicNode> containers = new ArrayList<>();
        for (String name : List.of("llama3", "qwen3", "gpt4o")) {
            List<DynamicNode> tests = new ArrayList<>();
            int line = 0;
            for (String json : Files.readAllLines(Fixtures.tokenizerDir(name).resolve("cases.jsonl"))) {
                line++;
                if (json.isBlank()) {
                    continue;
                }
                JsonNode c = JSON.readTree(json);
                String text = c.get("text").asText();
                int[] ids = JSON.convertValue(c.get("ids"), int[].class);
                int[] withSpecial = JSON.convertValue(c.get("ids_with_special_tokens"), int[].class);
                String decoded = c.get("decoded").asText();
                String label = name + " case " + line + ": " + abbreviate(text);
                tests.add(DynamicTest.dynamicTest(label, () -> {
                    Tokenizer tok = Fixtures.tokenizer(name);
                    assertArrayEquals(ids, tok.encode(text, false), "ids");
                    assertArrayEquals(withSpecial, tok.encode(text, true), "ids_with_special_tokens");
                    assertEquals(decoded, tok.decode(withSpecial), "decoded");
                }));
            }
            containers.add(DynamicContainer.dynamicContainer(name, tests));
        }
        return containers.stream();
    }

    private static String abbreviate(String text) {
        String s = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t");
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
