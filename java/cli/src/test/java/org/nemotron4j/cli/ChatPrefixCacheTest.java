package org.nemotron4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code chat} resumes each turn from the cached state of the conversation so far, with the output of a cold run. */
class ChatPrefixCacheTest {
    private static final Pattern PROMPT = Pattern.compile("\\[prompt (\\d+) tokens, (\\d+) of them from the prefix cache]");

    record Turn(int promptTokens, int cachedTokens) { }

    static CliTest.Result chat(String input, String... args) {
        var stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)));
            return CliTest.run(args);
        } finally {
            System.setIn(stdin);
        }
    }

    static List<Turn> turns(String err) {
        List<Turn> turns = new ArrayList<>();
        Matcher m = PROMPT.matcher(err);
        while (m.find()) {
            turns.add(new Turn(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))));
        }
        return turns;
    }

    @Test
    void laterTurnsReadOnlyWhatIsNewAndAnswerAsAColdRun(@TempDir Path tmp) {
        Path demo = DemoModel.ensure(tmp.resolve("demo"), new PrintStream(new ByteArrayOutputStream()));
        // a system message longer than two prefill chunks (256 tokens); the prefix cache's blocks are the demo
        // model's SSD chunk (64 tokens)
        String system = "You are a terse assistant. ".repeat(30);
        String input = "What is a hybrid model?\nAnd what is Mamba?\nSay it again, shorter.\n/exit\n";
        String[] common = {"chat", "--model", demo.toString(), "--system", system, "--no-think", "--temperature", "0",
                "--max-tokens", "12"};

        CliTest.Result cached = chat(input, common);
        assertEquals(0, cached.code(), cached.err());
        List<Turn> warm = turns(cached.err());
        assertEquals(3, warm.size(), cached.err());
        assertEquals(0, warm.get(0).cachedTokens(), "nothing cached before the first turn: " + warm);
        for (int t = 1; t < 3; t++) {
            Turn turn = warm.get(t);
            assertTrue(turn.promptTokens() > warm.get(t - 1).promptTokens(), "the conversation grows: " + warm);
            assertTrue(turn.cachedTokens() >= 256 && turn.cachedTokens() % 64 == 0,
                    "turn " + (t + 1) + " resumes from a cached block of the conversation: " + warm);
            // it re-reads what the last prompt did not hold, less than one block before it (a block boundary less than
            // 16 tokens from the end of a prompt is not cached: the pieces a prefill chunk is split into are at least
            // that long), and the few tokens at the end of the last prompt that the template renders differently once
            // the answer is in the history
            int newTokens = turn.promptTokens() - warm.get(t - 1).promptTokens();
            assertTrue(turn.promptTokens() - turn.cachedTokens() < newTokens + 64 + 16 + 16,
                    "turn " + (t + 1) + " re-read more than the new part of the conversation: " + warm);
        }

        String[] coldArgs = java.util.stream.Stream.concat(java.util.Arrays.stream(common),
                java.util.stream.Stream.of("--no-prefix-cache")).toArray(String[]::new);
        CliTest.Result cold = chat(input, coldArgs);
        assertEquals(0, cold.code(), cold.err());
        List<Turn> coldTurns = turns(cold.err());
        assertEquals(3, coldTurns.size(), cold.err());
        for (int t = 0; t < 3; t++) {
            assertEquals(0, coldTurns.get(t).cachedTokens(), "a cold run reads everything: " + coldTurns);
            assertEquals(warm.get(t).promptTokens(), coldTurns.get(t).promptTokens(), "same prompts");
        }
        assertFalse(cached.out().isBlank(), "some answer text");
        assertEquals(cold.out(), cached.out(), "greedy answers with the prefix cache are those of a cold run");
    }

    @Test
    void refusesANegativeBudget(@TempDir Path tmp) {
        CliTest.Result r = chat("/exit\n", "chat", "--model", tmp.resolve("none").toString(), "--prefix-cache-mb", "-1");
        assertEquals(Main.USAGE, r.code(), r.err());
        assertTrue(r.err().contains("--prefix-cache-mb must be >= 0"), r.err());
    }
}
