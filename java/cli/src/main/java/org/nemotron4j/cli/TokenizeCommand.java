package org.nemotron4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.nemotron4j.NemotronException;
import org.nemotron4j.tokenizer.Tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** {@code tokenize}: JSON lines {@code {"text": ...}} in, one JSON array of token ids per line out. */
final class TokenizeCommand implements Command {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public String name() {
        return "tokenize";
    }

    @Override
    public String summary() {
        return "encode JSON lines {\"text\": ...} with a tokenizer.json; prints one id array per line";
    }

    @Override
    public List<Opt> options() {
        return List.of(
                Opt.value("--tokenizer", "FILE", "a Hugging Face tokenizer.json (or a checkpoint directory)"),
                Opt.value("--jsonl", "IN", "input file, one JSON object with a \"text\" field per line (- for stdin)"),
                Opt.flag("--add-special-tokens", "add the tokenizer's special tokens (e.g. BOS)"));
    }

    @Override
    public int run(Args a, PrintStream out, PrintStream err) {
        Path tok = a.path("tokenizer");
        Tokenizer tokenizer = Files.isDirectory(tok) ? Tokenizer.fromDirectory(tok) : Tokenizer.load(tok);
        String in = a.required("jsonl");
        boolean special = a.flag("add-special-tokens");
        try (BufferedReader r = in.equals("-")
                ? new BufferedReader(new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8))
                : Files.newBufferedReader(Path.of(in), StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new NemotronException(in + " line " + n + ": not JSON: " + e.getOriginalMessage());
                }
                JsonNode text = node.get("text");
                if (text == null || !text.isTextual()) {
                    throw new NemotronException(in + " line " + n + ": no string field \"text\"");
                }
                out.println(JSON.writeValueAsString(tokenizer.encode(text.asText(), special)));
            }
        } catch (IOException e) {
            throw new NemotronException("cannot read " + in + ": " + e.getMessage(), e);
        }
        return 0;
    }
}
