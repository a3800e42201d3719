package org.nemotron4j.fuzz;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Random;

/**
 * One seeded mutation: {@code apply} writes the mutated checkpoint directory (or tokenizer.json) under a scratch
 * directory, drawing every choice from the {@link Random} it is given (seeded from the campaign's seed and the
 * mutation's number, so a mutation is reproduced alone with {@code --only}).
 */
record Mutation(int id, Target target, String base, String kind, String flags, long seed, Applier applier) {
    enum Target { CHECKPOINT, TOKENIZER }

    /**
     * What the mutated input must do when it is accepted: REFUSE (a truncated, shifted or inconsistent file: any
     * acceptance is silent), SAME (outputs identical to the unmutated input), CHANGE (outputs must differ: the
     * mutation changes weights the forward uses), ANY (acceptance is allowed, with whatever outputs).
     */
    enum Expect { REFUSE, SAME, CHANGE, ANY }

    record Applied(Path path, String detail, Expect expect) {
    }

    @FunctionalInterface
    interface Applier {
        /** Writes the mutated input into {@code work} (an empty directory) from {@code base}. */
        Applied apply(Path base, Path work, Random random) throws IOException;
    }

    Applied apply(Path basePath, Path work) throws IOException {
        return applier.apply(basePath, work, new Random(seed));
    }
}
