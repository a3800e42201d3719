package org.nemotron4j.generate;

import java.util.OptionalInt;

/**
 * What generation needs from a tokenizer. {@code org.nemotron4j.tokenizer.Tokenizer} implements it.
 */
public interface TextCodec {
    /** Token ids of {@code text}; {@code addSpecialTokens} adds what the tokenizer's post-processor adds (BOS...). */
    int[] encode(String text, boolean addSpecialTokens);

    /**
     * The exact bytes token {@code id} contributes to decoded text (the content of a special token); possibly a
     * partial UTF-8 sequence that later tokens complete.
     */
    byte[] tokenBytes(int id);

    /** The id of a token given by its string form ({@code "</think>"}), if the vocabulary has it. */
    OptionalInt tokenId(String token);

    /** Whether {@code id} is a special (control) token, whose text is left out of decoded output. */
    boolean isSpecial(int id);

    int vocabSize();
}
