package org.nemotron4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nemotron4j.Fixtures;
import org.nemotron4j.fuzz.MutationCampaign.Verdict;
import org.nemotron4j.fuzz.Mutation.Applied;
import org.nemotron4j.fuzz.Mutation.Expect;

/**
 * The campaign tool itself (the campaign runs from ci/mutation-campaign.sh, not here): its mutations are as many as
 * promised and reproducible from the seed, and its verdicts call a shifted file that loads, outputs that change
 * where they must not, and a token taken from NaN logits what they are. Runs no child JVM.
 */
class MutationCampaignTest {
    @TempDir
    Path dir;

    MutationCampaign campaign(long seed) {
        return new MutationCampaign(seed, dir.resolve("work"), Fixtures.root().toAbsolutePath(), 60, false,
                new PrintStream(OutputStream.nullOutputStream()));
    }

    @Test
    void atLeast300CheckpointAnd100TokenizerMutationsOfEveryKind() {
        List<Mutation> all = campaign(18).mutations();
        Map<Mutation.Target, Long> byTarget = all.stream()
                .collect(Collectors.groupingBy(Mutation::target, Collectors.counting()));
        assertTrue(byTarget.get(Mutation.Target.CHECKPOINT) >= 300, byTarget.toString());
        assertTrue(byTarget.get(Mutation.Target.TOKENIZER) >= 100, byTarget.toString());
        assertEquals(all.size(), all.stream().map(Mutation::id).distinct().count(), "ids are unique");
        for (String kind : List.of("header-length", "header-byte", "offsets", "dtype", "shape", "truncate", "append",
                "nan-inf", "config-field", "quantization-config", "shard-index", "regex-hostile", "merges", "vocab",
                "added-tokens", "normalizer", "pre-tokenizer", "json-bytes")) {
            assertTrue(all.stream().anyMatch(m -> m.kind().equals(kind)), kind);
        }
    }

    @Test
    void mutationsAreReproducibleFromTheSeed() throws Exception {
        MutationCampaign a = campaign(18);
        MutationCampaign b = campaign(18);
        a.prepareBases();
        b.prepareBases();
        List<Mutation> first = a.mutations();
        List<Mutation> second = b.mutations();
        assertEquals(first.size(), second.size());
        int differsFromOtherSeed = 0;
        List<Mutation> otherSeed = campaign(19).mutations();
        for (int i : new int[] {0, 20, 60, 120, 200, 260, 330, 380, 420}) {
            Mutation m = first.get(i);
            Applied x = m.apply(a.basePath(m.base()), Files.createDirectories(dir.resolve("x" + i)));
            Applied y = second.get(i).apply(b.basePath(m.base()), Files.createDirectories(dir.resolve("y" + i)));
            assertEquals(x.detail(), y.detail(), "mutation " + m.id());
            for (String f : List.of("config.json", "model.safetensors")) {
                Path fx = x.path().resolve(f);
                if (Files.isRegularFile(fx)) {
                    assertArrayEquals(Files.readAllBytes(fx), Files.readAllBytes(y.path().resolve(f)), m.id() + " " + f);
                }
            }
            Applied z = otherSeed.get(i).apply(a.basePath(m.base()), Files.createDirectories(dir.resolve("z" + i)));
            differsFromOtherSeed += z.detail().equals(x.detail()) ? 0 : 1;
        }
        assertTrue(differsFromOtherSeed >= 5, "another seed draws other mutations: " + differsFromOtherSeed);
    }

    @Test
    void verdicts() throws Exception {
        MutationCampaign c = campaign(18);
        Mutation m = c.mutations().get(0); // a header length off by a few bytes: must be refused
        String base = "ACCEPTED\taaa\tbbb\tfinite=true\tgreedy=[1,2,3,4]";
        c.baselines.put(m.base() + "|" + m.flags(), base);
        Path p = dir;
        assertEquals(Verdict.CLEAN_REFUSAL, c.classify(m, new Applied(p, "", Expect.REFUSE), "REFUSED\tload\tbad").verdict());
        assertEquals(Verdict.SILENT, c.classify(m, new Applied(p, "", Expect.REFUSE), base).verdict(),
                "a shifted file that loads, even with the same outputs");
        assertEquals(Verdict.ACCEPTED, c.classify(m, new Applied(p, "", Expect.SAME), base).verdict());
        assertEquals(Verdict.SILENT, c.classify(m, new Applied(p, "", Expect.SAME),
                "ACCEPTED\taaa\tccc\tfinite=true\tgreedy=[1,2,3,4]").verdict(), "the decode step changed");
        assertEquals(Verdict.SILENT, c.classify(m, new Applied(p, "", Expect.CHANGE), base).verdict(),
                "a used weight changed, the outputs did not");
        assertEquals(Verdict.ACCEPTED, c.classify(m, new Applied(p, "", Expect.CHANGE),
                "ACCEPTED\tddd\teee\tfinite=true\tgreedy=[1,2,3,4]").verdict());
        assertEquals(Verdict.SILENT, c.classify(m, new Applied(p, "", Expect.ANY),
                "ACCEPTED\tddd\teee\tfinite=false\tgreedy=[0,0,0,0]").verdict(), "a token from NaN logits");
        assertEquals(Verdict.ACCEPTED, c.classify(m, new Applied(p, "", Expect.ANY),
                "ACCEPTED\tddd\teee\tfinite=false\tgreedy=REFUSED: NaN logits").verdict());
        assertEquals(Verdict.UNCLEAN, c.classify(m, new Applied(p, "", Expect.ANY),
                "UNCLEAN\tload: java.lang.StackOverflowError").verdict());
        assertEquals(Verdict.CRASH, c.classify(m, new Applied(p, "", Expect.ANY), "CRASH\texit 134").verdict());
        assertEquals(Verdict.HANG, c.classify(m, new Applied(p, "", Expect.ANY), "HANG\tno answer").verdict());
        assertFalse(Verdict.ACCEPTED.bad());
        assertTrue(Verdict.SILENT.bad());
        assertNotEquals(Verdict.CLEAN_REFUSAL, Verdict.UNCLEAN);
    }
}
