package org.nemotron4j.tokenizer;

import java.util.ArrayList;
import java.util.List;
import org.nemotron4j.NemotronException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code pre_tokenizer} of {@code tokenizer.json}: cuts a piece of (normalized) text into smaller pieces, the
 * words that BPE then encodes one at a time. Pieces are ranges {@code [start, end)} of a string and are handed,
 * in order, to a {@link Sink}; empty pieces are never handed on.
 */
abstract sealed class PreTokenizer {
    /** Receives pieces. */
    interface Sink {
        void piece(String s, int start, int end);
    }

    /** Cuts {@code s[start..end)}; {@code ctx} holds per-call scratch (matchers). */
    abstract void split(EncodeContext ctx, String s, int start, int end, Sink sink);

    /**
     * The {@code behavior} of a Split: what becomes of the pattern's matches ("delimiters") and of the text
     * between them.
     */
    enum Behavior {
        /** matches and gaps are separate pieces */
        ISOLATED,
        /** matches are dropped */
        REMOVED,
        /** a match joins the piece before it */
        MERGED_WITH_PREVIOUS,
        /** a match joins the piece after it */
        MERGED_WITH_NEXT,
        /** runs of consecutive matches (and of consecutive gaps) become one piece */
        CONTIGUOUS
    }

    /**
     * {"type": "Split", "pattern": {"Regex": ...} or {"String": ...}, "behavior": ..., "invert": ...}. The text is
     * cut into matches of the pattern and the gaps between them; {@code invert} swaps which is which; then the
     * behavior decides the pieces. (Hugging Face: {@code NormalizedString::split} with {@code Invert(pattern)}.)
     */
    static final class Split extends PreTokenizer {
        final Pattern pattern;
        final String source; // the pattern as tokenizer.json wrote it, for error messages
        final FastSplitPattern fast; // the same matches, hand-written; null for other regexes
        final Behavior behavior;
        final boolean invert;
        final int slot;

        Split(Pattern pattern, String source, FastSplitPattern fast, Behavior behavior, boolean invert, int slot) {
            this.pattern = pattern;
            this.source = source;
            this.fast = fast;
            this.behavior = behavior;
            this.invert = invert;
            this.slot = slot;
        }

        Split(Pattern pattern, FastSplitPattern fast, Behavior behavior, boolean invert, int slot) {
            this(pattern, pattern.pattern(), fast, behavior, invert, slot);
        }

        Split(Pattern pattern, Behavior behavior, boolean invert, int slot) {
            this(pattern, null, behavior, invert, slot);
        }

        @Override
        void split(EncodeContext ctx, String s, int start, int end, Sink sink) {
            Finder m = ctx.finder(slot, pattern, source, fast, s, start, end);
            if (behavior == Behavior.ISOLATED) {
                int pos = start;
                while (m.find()) {
                    int a = m.start();
                    int b = m.end();
                    if (a > pos) {
                        sink.piece(s, pos, a);
                    }
                    if (b > a) {
                        sink.piece(s, a, b);
                    }
                    pos = b;
                }
                if (pos < end) {
                    sink.piece(s, pos, end);
                }
                return;
            }
            if (behavior == Behavior.REMOVED) {
                int pos = start;
                while (m.find()) {
                    int a = m.start();
                    int b = m.end();
                    if (invert) {
                        if (b > a) {
                            sink.piece(s, a, b); // the matches are the kept parts
                        }
                    } else if (a > pos) {
                        sink.piece(s, pos, a);
                    }
                    pos = b;
                }
                if (!invert && pos < end) {
                    sink.piece(s, pos, end);
                }
                return;
            }
            // the general case: list the segments (offset pairs, and whether each is a delimiter), then merge
            IntList seg = ctx.segments;
            seg.size = 0;
            int pos = start;
            while (m.find()) {
                int a = m.start();
                int b = m.end();
                if (a > pos) {
                    addSegment(seg, pos, a, invert);
                }
                addSegment(seg, a, b, !invert);
                pos = b;
            }
            if (pos < end) {
                addSegment(seg, pos, end, invert);
            }
            emitMerged(seg, behavior, s, sink);
        }

        private static void addSegment(IntList seg, int a, int b, boolean delimiter) {
            seg.add(a);
            seg.add(b);
            seg.add(delimiter ? 1 : 0);
        }
    }

    /**
     * The successive matches of a Split's pattern in {@code s[start..end)}, leftmost first, as
     * {@link Matcher#find()} reports them (with the region's bounds opaque and anchoring): from java.util.regex, or
     * from the hand-written {@link FastSplitPattern} that gives the same.
     *
     * <p>java.util.regex backtracks, and tokenizer.json is input: a pattern such as {@code (a+)+b} or an unbounded
     * look-behind could take hours on one line, and one that recurses per character ({@code (a|b)*c}) overflows
     * the stack on a long one. So matching has a bounded cost: the text is read through a {@link BudgetedText}
     * that allows {@link #STEPS_PER_CHAR} character reads per character of the piece (plus {@link #MIN_STEPS}),
     * orders of magnitude above what real pre-tokenizer patterns need (a few per character) and far below a
     * runaway; past it, or on a stack overflow, the match fails with a {@link NemotronException} naming the
     * pattern and the piece's length.
     */
    static final class Finder {
        static final long STEPS_PER_CHAR = 1000;
        static final long MIN_STEPS = 1_000_000;

        private Matcher matcher;
        private final Pattern pattern;
        private final String source;
        private final FastSplitPattern fast;
        private final BudgetedText text = new BudgetedText();
        private String s;
        private int next;
        private int end;
        private int matchStart;
        private int matchEnd;

        Finder(Pattern pattern, FastSplitPattern fast) {
            this(pattern, pattern.pattern(), fast);
        }

        Finder(Pattern pattern, String source, FastSplitPattern fast) {
            this.pattern = pattern;
            this.source = source;
            this.fast = fast;
        }

        Finder reset(String s, int start, int end) {
            this.s = s;
            this.next = start;
            this.end = end;
            if (fast == null) {
                text.reset(s, MIN_STEPS + STEPS_PER_CHAR * (end - start));
                if (matcher == null) {
                    matcher = pattern.matcher(text);
                } else {
                    matcher.reset(text);
                }
                matcher.region(start, end);
            }
            return this;
        }

        boolean find() {
            if (fast == null) {
                try {
                    if (!matcher.find()) {
                        return false;
                    }
                } catch (BudgetedText.Exhausted e) {
                    throw new NemotronException("pre-tokenizer Split pattern '" + source + "': matching a piece of "
                            + (end - next) + " characters took more than " + e.budget + " steps (catastrophic"
                            + " backtracking or an unbounded look-behind): refused");
                } catch (StackOverflowError e) {
                    throw new NemotronException("pre-tokenizer Split pattern '" + source + "': matching a piece of "
                            + (end - next) + " characters overflowed the stack (the pattern recurses once per"
                            + " character, e.g. an alternation under * or +): refused");
                }
                matchStart = matcher.start();
                matchEnd = matcher.end();
                return true;
            }
            while (next < end) {
                int e = fast.match(s, next, end);
                if (e >= 0) {
                    matchStart = next;
                    matchEnd = e;
                    next = e;
                    return true;
                }
                next++; // as find(): on to the next char
            }
            return false;
        }

        int start() {
            return matchStart;
        }

        int end() {
            return matchEnd;
        }
    }

    /**
     * Applies MergedWithPrevious / MergedWithNext / Contiguous to segments {@code (start, end, isDelimiter)}
     * triples, as Hugging Face's {@code NormalizedString::split} does, and hands on the non-empty pieces.
     */
    static void emitMerged(IntList seg, Behavior behavior, String s, Sink sink) {
        int[] d = seg.data;
        int count = seg.size / 3;
        switch (behavior) {
            case MERGED_WITH_PREVIOUS -> {
                // a delimiter that follows a non-delimiter extends the piece before it
                int curA = -1;
                int curB = -1;
                boolean previousDelimiter = false;
                for (int k = 0; k < count; k++) {
                    int a = d[3 * k];
                    int b = d[3 * k + 1];
                    boolean delim = d[3 * k + 2] == 1;
                    if (delim && !previousDelimiter && curA >= 0) {
                        curB = b;
                    } else {
                        if (curA >= 0 && curB > curA) {
                            sink.piece(s, curA, curB);
                        }
                        curA = a;
                        curB = b;
                    }
                    previousDelimiter = delim;
                }
                if (curA >= 0 && curB > curA) {
                    sink.piece(s, curA, curB);
                }
            }
            case MERGED_WITH_NEXT -> {
                // walking backwards: a delimiter that precedes a non-delimiter starts the piece after it
                int[] starts = new int[count];
                int[] ends = new int[count];
                int n = 0;
                boolean nextDelimiter = false;
                for (int k = count - 1; k >= 0; k--) {
                    int a = d[3 * k];
                    int b = d[3 * k + 1];
                    boolean delim = d[3 * k + 2] == 1;
                    if (delim && !nextDelimiter && n > 0) {
                        starts[n - 1] = a;
                    } else {
                        starts[n] = a;
                        ends[n] = b;
                        n++;
                    }
                    nextDelimiter = delim;
                }
                for (int k = n - 1; k >= 0; k--) {
                    if (ends[k] > starts[k]) {
                        sink.piece(s, starts[k], ends[k]);
                    }
                }
            }
            case CONTIGUOUS -> {
                int curA = -1;
                int curB = -1;
                int curKind = -1;
                for (int k = 0; k < count; k++) {
                    int kind = d[3 * k + 2];
                    if (kind == curKind) {
                        curB = d[3 * k + 1];
                    } else {
                        if (curA >= 0 && curB > curA) {
                            sink.piece(s, curA, curB);
                        }
                        curA = d[3 * k];
                        curB = d[3 * k + 1];
                        curKind = kind;
                    }
                }
                if (curA >= 0 && curB > curA) {
                    sink.piece(s, curA, curB);
                }
            }
            default -> throw new IllegalStateException(behavior.toString());
        }
    }

    /**
     * {"type": "Digits", "individual_digits": ...}: numeric characters (Rust {@code char::is_numeric}) are cut
     * out, each one alone or in runs.
     */
    static final class Digits extends PreTokenizer {
        final boolean individual;

        Digits(boolean individual) {
            this.individual = individual;
        }

        @Override
        void split(EncodeContext ctx, String s, int start, int end, Sink sink) {
            int pos = start;
            int i = start;
            while (i < end) {
                int cp = s.codePointAt(i);
                int next = i + Character.charCount(cp);
                if (Chars.isNumeric(cp)) {
                    int runEnd = next;
                    if (!individual) {
                        while (runEnd < end && Chars.isNumeric(s.codePointAt(runEnd))) {
                            runEnd += Character.charCount(s.codePointAt(runEnd));
                        }
                    }
                    if (i > pos) {
                        sink.piece(s, pos, i);
                    }
                    sink.piece(s, i, runEnd);
                    pos = runEnd;
                    i = runEnd;
                } else {
                    i = next;
                }
            }
            if (pos < end) {
                sink.piece(s, pos, end);
            }
        }
    }

    /**
     * {"type": "ByteLevel", "add_prefix_space": ..., "use_regex": ...}: prepends a space to a piece that does not
     * start with one (when add_prefix_space), then cuts it with the GPT-2 regex (when use_regex). The mapping of
     * bytes to the byte-level alphabet it also stands for is done by {@link BpeModel}, which works on bytes.
     */
    static final class ByteLevelSplit extends PreTokenizer {
        /** The GPT-2 pattern the Hugging Face ByteLevel pre-tokenizer uses. */
        static final String GPT2_PATTERN =
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

        final boolean addPrefixSpace;
        final Split regex; // null unless use_regex

        ByteLevelSplit(boolean addPrefixSpace, boolean useRegex, int slot) {
            this.addPrefixSpace = addPrefixSpace;
            this.regex = useRegex ? new Split(OnigurumaRegex.compile(GPT2_PATTERN), GPT2_PATTERN,
                    FastSplitPattern.recognize(GPT2_PATTERN), Behavior.ISOLATED, false, slot) : null;
        }

        @Override
        void split(EncodeContext ctx, String s, int start, int end, Sink sink) {
            if (addPrefixSpace && s.charAt(start) != ' ') {
                s = " " + s.substring(start, end);
                end = s.length();
                start = 0;
            }
            if (regex != null) {
                regex.split(ctx, s, start, end, sink);
            } else {
                sink.piece(s, start, end);
            }
        }
    }

    /**
     * {"type": "Sequence", "pretokenizers": [...]}: each cuts the pieces of the one before. Step by step, each
     * step's pieces collected before the next step runs (not one nested call per step: a sequence of thousands of
     * steps must not overflow the stack); the last step hands its pieces straight to the sink.
     */
    static final class Sequence extends PreTokenizer {
        final List<PreTokenizer> steps;

        Sequence(List<PreTokenizer> steps) {
            this.steps = List.copyOf(steps);
        }

        @Override
        void split(EncodeContext ctx, String s, int start, int end, Sink sink) {
            if (steps.isEmpty()) {
                sink.piece(s, start, end);
                return;
            }
            // pieces as (text index, start, end) triples; texts holds the input and any string a step made
            List<String> texts = new ArrayList<>(2);
            texts.add(s);
            IntList pieces = new IntList(16);
            pieces.add(0);
            pieces.add(start);
            pieces.add(end);
            for (int k = 0; k < steps.size() - 1; k++) {
                IntList next = new IntList(pieces.size * 2 + 3);
                Sink collect = (s2, a, b) -> {
                    if (texts.get(texts.size() - 1) != s2) {
                        texts.add(s2);
                    }
                    next.add(texts.size() - 1);
                    next.add(a);
                    next.add(b);
                };
                PreTokenizer step = steps.get(k);
                for (int i = 0; i < pieces.size; i += 3) {
                    step.split(ctx, texts.get(pieces.data[i]), pieces.data[i + 1], pieces.data[i + 2], collect);
                }
                pieces = next;
            }
            PreTokenizer last = steps.get(steps.size() - 1);
            for (int i = 0; i < pieces.size; i += 3) {
                last.split(ctx, texts.get(pieces.data[i]), pieces.data[i + 1], pieces.data[i + 2], sink);
            }
        }
    }

    /**
     * The text a regex reads, through a counter: every {@link #charAt} spends one step of a budget, and an
     * exhausted budget stops the match with {@link Exhausted}. (java.util.regex reads the input only through
     * {@link CharSequence} methods, so this bounds its work.)
     */
    static final class BudgetedText implements CharSequence {
        /** Thrown from inside the matcher when the budget is spent. */
        static final class Exhausted extends RuntimeException {
            final long budget;

            Exhausted(long budget) {
                super(null, null, false, false);
                this.budget = budget;
            }
        }

        private String s;
        private long budget;
        private long left;

        void reset(String text, long steps) {
            this.s = text;
            this.budget = steps;
            this.left = steps;
        }

        @Override
        public char charAt(int index) {
            if (--left < 0) {
                throw new Exhausted(budget);
            }
            return s.charAt(index);
        }

        @Override
        public int length() {
            return s.length();
        }

        @Override
        public CharSequence subSequence(int start, int end) {
            return s.substring(start, end);
        }

        @Override
        public String toString() {
            return s;
        }
    }
}
