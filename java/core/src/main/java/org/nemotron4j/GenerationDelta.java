package org.nemotron4j;

import java.util.Arrays;
import java.util.Objects;

/**
 * One step of a streamed generation: new text (never a split UTF-8 character, possibly empty while a character or
 * a possible stop string is incomplete), the token ids it came from, and its channel. The last delta of a stream
 * carries the finish reason and the usage; on all others both are null.
 *
 * <p>Concatenating the texts of all deltas gives the whole output; the text of the {@code </think>} tag and of stop
 * strings and stop tokens is not part of it.
 *
 * @param text         new text, never null
 * @param tokenIds     the tokens consumed for this delta (a copy is returned)
 * @param channel      reasoning or answer
 * @param finishReason non-null only on the last delta
 * @param usage        non-null only on the last delta
 */
public record GenerationDelta(String text, int[] tokenIds, Channel channel, FinishReason finishReason, Usage usage) {

    public GenerationDelta {
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(channel, "channel");
        tokenIds = tokenIds == null ? new int[0] : tokenIds.clone();
        if ((finishReason == null) != (usage == null)) {
            throw new IllegalArgumentException("finish reason and usage come together, on the last delta only");
        }
    }

    @Override
    public int[] tokenIds() {
        return tokenIds.clone();
    }

    /** Whether this is the stream's last delta. */
    public boolean isLast() {
        return finishReason != null;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GenerationDelta d && text.equals(d.text) && Arrays.equals(tokenIds, d.tokenIds)
                && channel == d.channel && finishReason == d.finishReason && Objects.equals(usage, d.usage);
    }

    @Override
    public int hashCode() {
        return Objects.hash(text, Arrays.hashCode(tokenIds), channel, finishReason, usage);
    }

    @Override
    public String toString() {
        return "GenerationDelta[text=" + text + ", tokenIds=" + Arrays.toString(tokenIds) + ", channel=" + channel
                + (finishReason != null ? ", finishReason=" + finishReason + ", usage=" + usage : "") + "]";
    }
}
