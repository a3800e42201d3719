package org.nemotron4j.tokenizer;

import java.util.regex.Pattern;

/** The mutable state of one encode call: output ids, BPE scratch, reusable regex match finders. */
final class EncodeContext {
    final IntList out;
    final BpeModel.Scratch bpe = new BpeModel.Scratch();
    final IntList segments = new IntList(64);
    private final PreTokenizer.Finder[] finders;

    EncodeContext(int matcherSlots, int expectedIds) {
        finders = new PreTokenizer.Finder[matcherSlots];
        out = new IntList(expectedIds);
    }

    /** The match finder of regex slot {@code slot}, reset to {@code s[start..end)}. */
    PreTokenizer.Finder finder(int slot, Pattern pattern, String source, FastSplitPattern fast, String s, int start,
            int end) {
        PreTokenizer.Finder f = finders[slot];
        if (f == null) {
            f = new PreTokenizer.Finder(pattern, source, fast);
            finders[slot] = f;
        }
        return f.reset(s, start, end);
    }
}
