package org.nemotron4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.NemotronException;

/** Missing, malformed and unsupported files fail at load with a NemotronException naming the file and the problem. */
class TokenizerLoadErrorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** The demo tokenizer with {@code edit} applied to its tokenizer.json. */
    private Path withTokenizerJson(Consumer<ObjectNode> edit) throws IOException {
        DemoTokenizer.write(dir);
        Path file = dir.resolve("tokenizer.json");
        ObjectNode root = (ObjectNode) JSON.readTree(file.toFile());
        edit.accept(root);
        JSON.writeValue(file.toFile(), root);
        return dir;
    }

    private Path withConfigJson(Consumer<ObjectNode> edit) throws IOException {
        DemoTokenizer.write(dir);
        Path file = dir.resolve("tokenizer_config.json");
        ObjectNode root = (ObjectNode) JSON.readTree(file.toFile());
        edit.accept(root);
        JSON.writeValue(file.toFile(), root);
        return dir;
    }

    private static NemotronException fails(Path checkpoint, String... fragments) {
        NemotronException e = assertThrows(NemotronException.class, () -> Tokenizer.fromDirectory(checkpoint));
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), () -> "message '" + e.getMessage() + "' lacks '" + f + "'");
        }
        return e;
    }

    @Test
    void missingTokenizerJson() {
        fails(dir, "tokenizer.json", "not found");
        NemotronException e = assertThrows(NemotronException.class,
                () -> Tokenizer.load(dir.resolve("nothing/tokenizer.json")));
        assertTrue(e.getMessage().contains("nothing"));
    }

    @Test
    void malformedTokenizerJson() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
        fails(dir, "tokenizer.json", "malformed JSON");
        Files.writeString(dir.resolve("tokenizer.json"), "[1, 2, 3]");
        fails(dir, "tokenizer.json", "not a JSON object");
        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        fails(dir, "tokenizer.json", "model");
    }

    @Test
    void malformedTokenizerConfig() throws IOException {
        DemoTokenizer.write(dir);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": ");
        fails(dir, "tokenizer_config.json", "malformed JSON");
    }

    @Test
    void configNamesUnknownTokens() throws IOException {
        fails(withConfigJson(c -> c.put("bos_token", "<nope>")), "tokenizer_config.json", "bos_token", "<nope>");
        fails(withConfigJson(c -> c.put("add_bos_token", "yes")), "tokenizer_config.json", "add_bos_token");
        fails(withConfigJson(c -> c.putArray("bos_token").add(1)), "tokenizer_config.json", "bos_token");
    }

    @Test
    void tokenizerWithoutConfigLoads() throws IOException {
        DemoTokenizer.write(dir);
        Files.delete(dir.resolve("tokenizer_config.json"));
        Tokenizer t = Tokenizer.fromDirectory(dir);
        // without a config, BOS is what the post-processor adds
        assertTrue(t.bosTokenId().isPresent() && t.bosTokenId().getAsInt() == DemoTokenizer.BOS_ID);
        assertTrue(t.eosTokenId().isEmpty());
    }

    @Test
    void unsupportedModelType() throws IOException {
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).put("type", "WordPiece")),
                "tokenizer.json", "unsupported model type 'WordPiece'");
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).put("type", "Unigram")),
                "tokenizer.json", "Unigram");
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).put("dropout", 0.1)), "tokenizer.json", "dropout");
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).put("continuing_subword_prefix", "##")),
                "tokenizer.json", "continuing_subword_prefix");
    }

    @Test
    void unsupportedComponents() throws IOException {
        fails(withTokenizerJson(r -> r.putObject("normalizer").put("type", "Lowercase")),
                "tokenizer.json", "normalizer type 'Lowercase'");
        fails(withTokenizerJson(r -> r.putObject("pre_tokenizer").put("type", "Metaspace")),
                "tokenizer.json", "pre_tokenizer type 'Metaspace'");
        fails(withTokenizerJson(r -> r.putObject("decoder").put("type", "WordPiece")),
                "tokenizer.json", "decoder type 'WordPiece'");
        fails(withTokenizerJson(r -> r.putObject("post_processor").put("type", "Magic")),
                "tokenizer.json", "post_processor type 'Magic'");
        fails(withTokenizerJson(r -> r.putObject("pre_tokenizer").put("type", "Digits")),
                "tokenizer.json", "ByteLevel");
        fails(withTokenizerJson(r -> r.putNull("pre_tokenizer")), "tokenizer.json", "pre_tokenizer");
        fails(withTokenizerJson(r -> r.putObject("normalizer")), "tokenizer.json", "normalizer without a \"type\"");
    }

    @Test
    void untranslatableRegex() throws IOException {
        fails(withTokenizerJson(r -> ((ObjectNode) r.at("/pre_tokenizer/pretokenizers/0/pattern"))
                .put("Regex", "a\\Kb")), "tokenizer.json", "\\K");
        fails(withTokenizerJson(r -> ((ObjectNode) r.at("/pre_tokenizer/pretokenizers/0/pattern"))
                .put("Regex", "(unclosed")), "tokenizer.json", "does not compile");
        fails(withTokenizerJson(r -> ((ObjectNode) r.at("/pre_tokenizer/pretokenizers/0"))
                .put("behavior", "Sideways")), "tokenizer.json", "Sideways");
    }

    @Test
    void badVocabOrMerges() throws IOException {
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).putArray("merges").add("a b c")),
                "tokenizer.json", "merge 0");
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).putArray("merges").add("Q @@@")),
                "tokenizer.json", "@@@", "not in the vocab");
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).remove("vocab")), "tokenizer.json", "vocab");
        fails(withTokenizerJson(r -> ((ObjectNode) r.get("model")).put("unk_token", "<missing>")),
                "tokenizer.json", "unk_token");
        fails(withTokenizerJson(r -> r.putArray("added_tokens").addObject().put("content", "x")),
                "tokenizer.json", "added token");
    }
}
